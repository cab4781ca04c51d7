import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  grpcTarget,
  parseWorkloadEndpoint,
  resolveWorkloadEndpoint,
  WorkloadEndpointError,
  type WorkloadEndpoint,
} from '../../src/spiffe/workload/index.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

// Rows from SPIFFE Workload Endpoint §4 and go-spiffe's address tests (reference spiffe.md §e.4).
const valid: [string, DistributiveOmit<WorkloadEndpoint, 'uri'>, string][] = [
  ['unix:///tmp/agent.sock', { network: 'unix', path: '/tmp/agent.sock' }, 'unix:///tmp/agent.sock'],
  ['unix:/tmp/agent.sock', { network: 'unix', path: '/tmp/agent.sock' }, 'unix:///tmp/agent.sock'],
  [
    'UNIX:///run/spire/sockets/agent.sock',
    { network: 'unix', path: '/run/spire/sockets/agent.sock' },
    'unix:///run/spire/sockets/agent.sock',
  ],
  [
    'unix:///tmp/with%20space.sock',
    { network: 'unix', path: '/tmp/with space.sock' },
    'unix:///tmp/with space.sock',
  ],
  ['tcp://127.0.0.1:8000', { network: 'tcp', host: '127.0.0.1', port: 8000 }, 'ipv4:127.0.0.1:8000'],
  ['tcp://[::1]:8000', { network: 'tcp', host: '::1', port: 8000 }, 'ipv6:[::1]:8000'],
  ['tcp://10.0.0.1:65535', { network: 'tcp', host: '10.0.0.1', port: 65535 }, 'ipv4:10.0.0.1:65535'],
];

const invalid: [string, string][] = [
  ['', 'not-a-uri'],
  ['/tmp/agent.sock', 'not-a-uri'],
  ['tmp/agent.sock', 'not-a-uri'],
  ['http://127.0.0.1:80', 'unsupported-scheme'],
  ['npipe:spire-agent', 'unsupported-scheme'],
  ['unix://tmp/agent.sock', 'unix-authority'],
  ['unix://localhost/tmp/agent.sock', 'unix-authority'],
  ['unix:relative.sock', 'unix-path-not-absolute'],
  ['unix:', 'unix-path-not-absolute'],
  ['unix://', 'unix-path-not-absolute'],
  ['unix:///tmp/a%zz.sock', 'unix-path-invalid'],
  ['unix:///tmp/a%00.sock', 'unix-path-invalid'],
  ['unix:///tmp/agent.sock?x=1', 'query'],
  ['unix:///tmp/agent.sock?', 'query'],
  ['unix:///tmp/agent.sock#frag', 'fragment'],
  ['unix://user@/tmp/agent.sock', 'userinfo'],
  ['tcp://user:pw@127.0.0.1:8000', 'userinfo'],
  ['tcp://127.0.0.1:8000?x', 'query'],
  ['tcp://127.0.0.1:8000#x', 'fragment'],
  ['tcp://127.0.0.1:8000/foo', 'tcp-path'],
  ['tcp://127.0.0.1:8000/', 'tcp-path'],
  ['tcp://localhost:8000', 'tcp-host-not-ip'],
  ['tcp://spire-agent.example.org:8000', 'tcp-host-not-ip'],
  ['tcp:127.0.0.1:8000', 'tcp-host-not-ip'],
  ['tcp://:8000', 'tcp-host-not-ip'],
  ['tcp://[::1', 'tcp-host-not-ip'],
  ['tcp://[example]:80', 'tcp-host-not-ip'],
  ['tcp://127.0.0.1', 'tcp-port-missing'],
  ['tcp://127.0.0.1:', 'tcp-port-missing'],
  ['tcp://[::1]', 'tcp-port-missing'],
  ['tcp://127.0.0.1:0', 'tcp-port-invalid'],
  ['tcp://127.0.0.1:65536', 'tcp-port-invalid'],
  ['tcp://127.0.0.1:http', 'tcp-port-invalid'],
];

describe('Workload API endpoint parsing (SPIFFE Workload Endpoint §4)', () => {
  for (const [input, expected, target] of valid) {
    it(`accepts ${JSON.stringify(input)}`, () => {
      const endpoint = parseWorkloadEndpoint(input);
      assert.deepEqual(endpoint, { ...expected, uri: input });
      assert.equal(grpcTarget(endpoint), target);
    });
  }
  for (const [input, rule] of invalid) {
    it(`rejects ${JSON.stringify(input)} (${rule})`, () => {
      assert.throws(
        () => parseWorkloadEndpoint(input),
        (err: unknown) =>
          err instanceof WorkloadEndpointError &&
          err.rule === rule &&
          err.code === `TM_ERR_WORKLOADENDPOINT_${rule.toUpperCase().replace(/-/g, '_')}` &&
          err.message.includes(JSON.stringify(input)),
      );
    });
  }
  it('falls back to SPIFFE_ENDPOINT_SOCKET and prefers an explicit address', () => {
    const env = { SPIFFE_ENDPOINT_SOCKET: 'unix:///run/agent.sock' };
    assert.deepEqual(resolveWorkloadEndpoint(undefined, env), {
      network: 'unix',
      path: '/run/agent.sock',
      uri: 'unix:///run/agent.sock',
    });
    assert.equal(resolveWorkloadEndpoint('tcp://127.0.0.1:9', env).network, 'tcp');
    assert.throws(
      () => resolveWorkloadEndpoint(undefined, {}),
      (err: unknown) => err instanceof WorkloadEndpointError && err.rule === 'not-configured',
    );
    assert.throws(
      () => resolveWorkloadEndpoint(undefined, { SPIFFE_ENDPOINT_SOCKET: 'unix://tmp/agent.sock' }),
      (err: unknown) => err instanceof WorkloadEndpointError && err.rule === 'unix-authority',
    );
  });
});
