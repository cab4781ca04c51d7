/**
 * Bad `--config` shapes are rejected with a ConfigError naming the field, not a TypeError and not
 * silently ignored.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseBootstrap, resolveSettings, type ProxyRunFlags } from '../../src/proxy/index.js';

const noFiles = (f: string): string => {
  throw new Error(`unexpected read of ${f}`);
};

function rejects(raw: unknown, field: RegExp): void {
  assert.throws(
    () => parseBootstrap(raw, noFiles),
    (err: Error) => {
      assert.ok(err instanceof ConfigError, `${err.name}: ${err.message}`);
      assert.match(err.message, field);
      return true;
    },
  );
}

test('a bootstrap that is not an object is rejected naming the top level', () => {
  for (const raw of [null, [], 'text', 5]) rejects(raw, /\(top level\): must be a Bootstrap object/);
});

test('static_resources lists that are not lists, or hold non-objects, are rejected naming the field', () => {
  rejects({ static_resources: { listeners: { a: 1 } } }, /static_resources\.listeners: must be a list/);
  rejects({ static_resources: { clusters: 'c' } }, /static_resources\.clusters: must be a list/);
  rejects({ static_resources: { listeners: [null] } }, /static_resources\.listeners\[0\]: must be an object/);
  rejects({ static_resources: { secrets: [7] } }, /static_resources\.secrets\[0\]: must be an object/);
});

test('absent static_resources lists are still fine', () => {
  assert.deepEqual(parseBootstrap({ node: { id: 'n' } }, noFiles).listeners, []);
});

test('a bad admin address or port names the field it came from', () => {
  rejects(
    { admin: { address: { socket_address: { address: 'x', port_value: 9901 } } } },
    /admin\.address\.socket_address\.address: must be an IP address, found "x"/,
  );
  rejects(
    { admin: { address: { socket_address: { address: '127.0.0.1', port_value: 70000 } } } },
    /admin\.address\.socket_address\.port_value: must be a port 0–65535, found 70000/,
  );
  const settings =
    (flags: ProxyRunFlags, env: NodeJS.ProcessEnv = {}) =>
    () =>
      resolveSettings({ nodeId: 'n', xds: 'unix:///tmp/none.sock', ...flags }, env);
  const named = (re: RegExp) => (err: Error) => err instanceof ConfigError && re.test(err.message);
  assert.throws(
    settings({ adminAddress: 'x' }),
    named(/--admin-address: admin address must be an IP address, found "x"/),
  );
  assert.throws(
    settings({}, { ENVOY_ADMIN_ACCESS_ADDRESS: 'localhost' }),
    named(/ENVOY_ADMIN_ACCESS_ADDRESS: admin address must be an IP address, found "localhost"/),
  );
  assert.throws(
    settings({ adminPort: 'abc' }),
    named(/--admin-port: admin port must be 0–65535, found "abc"/),
  );
  assert.throws(
    settings({}, { ENVOY_ADMIN_ACCESS_PORT: '-1' }),
    named(/ENVOY_ADMIN_ACCESS_PORT: admin port must be 0–65535, found "-1"/),
  );
  assert.equal(resolveSettings({ nodeId: 'n', xds: 'x:1', adminAddress: '::1' }, {}).adminAddress, '::1');
});

/** A bootstrap with one listener whose http_connection_manager has `hcm` merged into its config. */
function hcmBootstrap(hcm: Record<string, unknown>): Record<string, unknown> {
  const typedConfig = {
    '@type':
      'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
    stat_prefix: 'l',
    route_config: { name: 'rc', virtual_hosts: [] },
    http_filters: [{ name: 'envoy.filters.http.router' }],
    ...hcm,
  };
  const listener = {
    name: 'l',
    address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
    filter_chains: [
      { filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: typedConfig }] },
    ],
  };
  return { static_resources: { listeners: [listener] } };
}

test('a static inline route naming an unknown cluster is rejected unless validate_clusters is false', () => {
  const bootstrap = (validate?: boolean) =>
    hcmBootstrap({
      route_config: {
        name: 'rc',
        ...(validate === undefined ? {} : { validate_clusters: validate }),
        virtual_hosts: [
          { name: 'vh', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'nope' } }] },
        ],
      },
    });
  rejects(
    bootstrap(),
    /static_resources\.listeners\[0\] "l": route configuration "rc".*unknown cluster "nope"/,
  );
  rejects(bootstrap(true), /unknown cluster "nope"/);
  assert.equal(parseBootstrap(bootstrap(false), noFiles).listeners.length, 1);
});

test('forward_client_cert_details other than SANITIZE is refused naming the field', () => {
  rejects(
    hcmBootstrap({ forward_client_cert_details: 'APPEND_FORWARD' }),
    /forward_client_cert_details: only SANITIZE \(Envoy's default\) is supported, found "APPEND_FORWARD"/,
  );
  const ok = hcmBootstrap({ forward_client_cert_details: 'SANITIZE' });
  assert.equal(parseBootstrap(ok, noFiles).listeners.length, 1);
});

test('an HTTP connection manager max_headers_count below 1 is rejected naming the field', () => {
  const listener = (maxHeadersCount: unknown) => ({
    static_resources: {
      listeners: [
        {
          name: 'l',
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type':
                      'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'l',
                    route_config: { name: 'r', virtual_hosts: [] },
                    common_http_protocol_options: { max_headers_count: maxHeadersCount },
                  },
                },
              ],
            },
          ],
        },
      ],
    },
  });
  for (const bad of [0, -1, 1.5, 'many'])
    rejects(listener(bad), /common_http_protocol_options\.max_headers_count: expected an integer ≥ 1/);
  assert.equal(parseBootstrap(listener({ value: 7 }), noFiles).listeners.length, 1);
});
