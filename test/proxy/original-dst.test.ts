/**
 * Transparent outbound capture as App Mesh sets it up: inside a network namespace, iptables
 * REDIRECTs traffic for a service VIP to the egress listener on 15001 (`use_original_dst`); the
 * proxy reads SO_ORIGINAL_DST, picks the filter chain by the original destination port and routes
 * by Host. Needs root (CAP_NET_ADMIN); skipped otherwise.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { repoRoot, trustmeshArgv } from '../support/cli.js';
import { cluster, hcm, vhost } from './support/envoy.js';

const isRoot = process.getuid?.() === 0;
const skip = isRoot ? false : 'needs root for ip netns and iptables';
const NS = `tmpx${process.pid}`;
let dir: string;
const children: ChildProcess[] = [];

function inNs(cmd: string, args: string[]): string {
  return execFileSync('ip', ['netns', 'exec', NS, cmd, ...args], { encoding: 'utf8', timeout: 10_000 });
}

/** nat OUTPUT: TCP to `dst:port` inside the netns goes to local port `toPort` instead. */
function redirect(dst: string, port: number, toPort: number): void {
  const match = ['-p', 'tcp', '-d', dst, '--dport', String(port)];
  inNs('iptables', ['-t', 'nat', '-A', 'OUTPUT', ...match, '-j', 'REDIRECT', '--to-ports', String(toPort)]);
}

function spawnInNs(args: string[]): ChildProcess {
  const c = spawn('ip', ['netns', 'exec', NS, ...args], { cwd: repoRoot, stdio: 'pipe' });
  children.push(c);
  return c;
}

function waitLine(c: ChildProcess, needle: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    c.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.includes(needle));
      if (line) resolve(line);
    });
    c.once('exit', (code) => reject(new Error(`exited ${code}: ${err}`)));
    setTimeout(() => reject(new Error(`no "${needle}" after 20 s: ${err}`)), 20_000).unref();
  });
}

before(async () => {
  if (skip) return;
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-proxy-odst-'));
  execFileSync('ip', ['netns', 'add', NS]);
  execFileSync('ip', ['-n', NS, 'link', 'set', 'lo', 'up']);
  // The VIP needs a route; nat OUTPUT redirects the connection before it reaches anything there.
  execFileSync('ip', ['-n', NS, 'route', 'add', 'local', '198.18.0.0/15', 'dev', 'lo']);
  for (const port of [80, 8080]) redirect('198.18.0.10', port, 15001);
  // Inbound, as App Mesh redirects an app port to the ingress listener.
  redirect('198.18.0.20', 9090, 15000);
  const appSrc = `require('http').createServer((q, r) => r.end(process.argv[1] + ' ' + q.headers.host + ' ' + q.url)).listen(Number(process.argv[2]), '127.0.0.1', () => console.log('listening'))`;
  const app1 = spawnInNs([process.execPath, '-e', appSrc, 'color', '9080']);
  const app2 = spawnInNs([process.execPath, '-e', appSrc, 'admin', '9081']);
  await Promise.all([waitLine(app1, 'listening'), waitLine(app2, 'listening')]);
  const chain = (port: number, prefix: string, clusterName: string): Record<string, unknown> => ({
    filter_chain_match: { destination_port: port },
    filters: [
      hcm(prefix, [
        vhost(
          'color',
          ['color.local', `color.local:${port}`],
          [{ match: { prefix: '/' }, route: { cluster: clusterName } }],
        ),
      ]),
    ],
  });
  const bootstrap = {
    node: { id: 'odst' },
    static_resources: {
      listeners: [
        {
          name: 'lds_ingress_0.0.0.0_15000',
          address: { socket_address: { address: '0.0.0.0', port_value: 15000 } },
          listener_filters: [
            {
              name: 'envoy.filters.listener.original_dst',
              typed_config: {
                '@type': 'type.googleapis.com/envoy.extensions.filters.listener.original_dst.v3.OriginalDst',
              },
            },
          ],
          filter_chains: [chain(9090, 'ingress_http_9090', 'cds_ingress_app_9090')],
        },
        {
          name: 'lds_egress_0.0.0.0_15001',
          address: { socket_address: { address: '0.0.0.0', port_value: 15001 } },
          use_original_dst: true,
          filter_chains: [
            chain(80, 'egress_http_80', 'cds_egress_color_80'),
            chain(8080, 'egress_http_8080', 'cds_egress_color_8080'),
          ],
        },
      ],
      clusters: [
        cluster('cds_ingress_app_9090', [['127.0.0.1', 9080]]),
        cluster('cds_egress_color_80', [['127.0.0.1', 9080]]),
        cluster('cds_egress_color_8080', [['127.0.0.1', 9081]]),
      ],
    },
  };
  const file = path.join(dir, 'odst.json');
  fs.writeFileSync(file, JSON.stringify(bootstrap));
  const proxy = spawnInNs([...trustmeshArgv(), 'proxy', 'run', '--config', file, '--admin-port', '9901']);
  await waitLine(proxy, 'proxy ready');
});

after(() => {
  if (skip) return;
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  try {
    execFileSync('ip', ['netns', 'del', NS]);
  } catch {
    // already gone
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('REDIRECTed connections are routed by SO_ORIGINAL_DST port and Host', { skip }, () => {
  assert.equal(
    inNs('curl', ['-sS', '--max-time', '5', '-H', 'Host: color.local', 'http://198.18.0.10/a']),
    'color color.local /a',
  );
  assert.equal(
    inNs('curl', ['-sS', '--max-time', '5', '-H', 'Host: color.local:8080', 'http://198.18.0.10:8080/b']),
    'admin color.local:8080 /b',
  );
  assert.match(
    inNs('curl', [
      '-sS',
      '--max-time',
      '5',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      '-H',
      'Host: other.local',
      'http://198.18.0.10/',
    ]),
    /^404$/,
  );
  assert.equal(
    inNs('curl', ['-sS', '--max-time', '5', '-H', 'Host: color.local', 'http://198.18.0.20:9090/in']),
    'color color.local /in',
    'original_dst listener filter: chain by the original port',
  );
  const stats = inNs('curl', ['-sS', 'http://127.0.0.1:9901/stats?filter=^(listener|http)']);
  assert.match(stats, /listener\.0\.0\.0\.0_15001\.downstream_cx_total: 3/);
  assert.match(stats, /http\.egress_http_80\.downstream_rq_2xx: 1/);
  assert.match(stats, /http\.egress_http_8080\.downstream_rq_2xx: 1/);
});
