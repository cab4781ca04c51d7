/**
 * Data-plane benchmark (performance.md §5, S1): wrk → A (plain in, mTLS out with SAN check) → B
 * (mTLS STRICT in, SAN check) → nginx (`return 200 "hello world\n"`), for
 *   - `direct`        wrk → nginx, the baseline of this run;
 *   - `trustmesh-l7`  our proxy, every request through the HTTP router (routes with explicit timeouts);
 *   - `trustmesh-l4`  our proxy, single-cluster route tables taking the L4 fast path;
 *   - `haproxy`       HAProxy 2.6, one process `nbthread 1` with both roles, same certificates
 *                     (chain validation only: HAProxy has no URI SAN check, performance.md §4).
 * Pinning: wrk and nginx on core 0, both proxy hops on core 1 (`taskset`), so each variant gets one
 * core for two hops. Prints measurement lines (bench/run.ts format): rps, p50/p99 latency, CPU µs per
 * request (both hops, /proc utime+stime), peak RSS, and the 2xx / error counts of every measured run.
 * A freshly started Node proxy needs several seconds of traffic before V8 has optimised its hot
 * paths (the first second costs ~10 ms of CPU per request); each trustmesh variant is therefore warmed
 * at c=8 until two consecutive 1 s runs agree within 10% (bounded; the time taken is reported), so
 * the figures describe the steady state rather than the JIT warm-up.
 * `--quick`: c=1/32, 1 s warm-up + 3 s measured per point; else c=1/8/32/128, 2 + 8 s.
 * Every child is killed at the end (also on SIGINT/SIGTERM); the run is bounded in time.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  SpiffeId,
  TrustDomain,
  generateKeyPair,
  mintCaCertificate,
  mintX509Svid,
} from '../../src/spiffe/index.js';

const quick = process.argv.includes('--quick');
const WARM_S = quick ? 1 : 2;
const RUN_S = quick ? 3 : 8;
const CONNECTIONS = quick ? [1, 32] : [1, 8, 32, 128];
/** Upper bound of the steady-state warm-up of a proxy variant, seconds. */
const MAX_WARM_S = quick ? 6 : 15;
const root = fileURLToPath(new URL('../../', import.meta.url));
const entry = fileURLToPath(new URL('./proxy.ts', import.meta.url));
const children: ChildProcess[] = [];

function has(cmd: string): boolean {
  try {
    execFileSync('which', [cmd], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

function start(cmd: string, args: string[], core: number): ChildProcess {
  const c = spawn('taskset', ['-c', String(core), cmd, ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  c.stderr!.on('data', (d: Buffer) => {
    if (process.env.BENCH_DEBUG) process.stderr.write(d);
  });
  children.push(c);
  return c;
}

async function waitPort(port: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`port ${port} never opened`);
}

function cpuTicks(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

/** Resident memory of `pid` in MB: `VmHWM` (peak) or `VmRSS` (now). */
function rssMb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
}

interface WrkResult {
  rps: number;
  p50Us: number;
  p99Us: number;
  /** Responses with a 2xx/3xx status (wrk counts the rest as non-2xx). */
  ok: number;
  /** Non-2xx/3xx responses plus socket errors (connect, read, write, timeout). */
  errors: number;
}

function parseLatencyUs(s: string): number {
  const m = /([\d.]+)(us|ms|s)/.exec(s);
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v : m[2] === 'ms' ? v * 1000 : v * 1e6;
}

function wrk(port: number, c: number, seconds: number): WrkResult {
  const out = execFileSync(
    'taskset',
    ['-c', '0', 'wrk', '-t1', `-c${c}`, `-d${seconds}s`, '--latency', `http://127.0.0.1:${port}/`],
    { encoding: 'utf8', timeout: (seconds + 30) * 1000 },
  );
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0);
  const p50 = parseLatencyUs(/\s50%\s+(\S+)/.exec(out)?.[1] ?? '');
  const p99 = parseLatencyUs(/\s99%\s+(\S+)/.exec(out)?.[1] ?? '');
  const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
  const bad = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const errors = bad + (sock ? sock.slice(1).reduce((s, x) => s + Number(x), 0) : 0);
  return { rps, p50Us: p50, p99Us: p99, ok: total - bad, errors };
}

function emit(
  name: string,
  variant: string,
  unit: string,
  value: number,
  conditions: Record<string, unknown>,
  ratioTo?: string,
): void {
  process.stdout.write(
    JSON.stringify({
      name,
      variant,
      unit,
      value: Math.round(value * 100) / 100,
      conditions,
      ...(ratioTo ? { ratio_to: ratioTo } : {}),
    }) + '\n',
  );
}

/**
 * Drives c=8 load in 1 s runs until two consecutive runs agree within 10% (at most MAX_WARM_S
 * runs); emits the seconds it took. A variant that never stabilises is measured anyway.
 */
function warmUp(variant: string, port: number): void {
  let prev = 0;
  let s = 0;
  while (s < MAX_WARM_S) {
    const r = wrk(port, 8, 1);
    s++;
    if (s >= 2 && prev > 0 && Math.abs(r.rps - prev) <= 0.1 * prev) break;
    prev = r.rps;
  }
  emit('dataplane.two_hop_mtls.warmup', variant, 's', s, { connections: 8, bound_s: MAX_WARM_S });
}

/** Direct-path p50 per connection count, for the added-latency figures of the proxies. */
const directP50 = new Map<number, number>();

async function measure(variant: string, port: number, pids: number[]): Promise<void> {
  if (variant.startsWith('trustmesh')) warmUp(variant, port);
  for (const c of CONNECTIONS) {
    wrk(port, c, WARM_S);
    const before = pids.map(cpuTicks);
    const r = wrk(port, c, RUN_S);
    const ticks = pids.reduce((s, p, i) => s + cpuTicks(p) - before[i]!, 0);
    const hz = 100;
    const cond = {
      connections: c,
      seconds: RUN_S,
      pinned: 'wrk+nginx core 0, proxies core 1',
      tls: 'TLSv1.3 P-256 mTLS',
    };
    // Throughput and CPU compare with the peer proxy; latency with the direct path of this run.
    const ratio = variant === 'direct' || variant === 'haproxy' ? undefined : 'haproxy';
    const latRatio = variant === 'direct' ? undefined : 'direct';
    emit(`dataplane.two_hop_mtls.rps.c${c}`, variant, 'req/s', r.rps, cond, ratio);
    emit(`dataplane.two_hop_mtls.p50.c${c}`, variant, 'µs', r.p50Us, cond, latRatio);
    emit(`dataplane.two_hop_mtls.p99.c${c}`, variant, 'µs', r.p99Us, cond, latRatio);
    if (variant === 'direct') directP50.set(c, r.p50Us);
    else if (directP50.has(c))
      emit(`dataplane.two_hop_mtls.added_p50.c${c}`, variant, 'µs', r.p50Us - directP50.get(c)!, cond);
    if (pids.length && r.rps > 0)
      emit(
        `dataplane.two_hop_mtls.cpu_per_request.c${c}`,
        variant,
        'µs',
        ((ticks / hz) * 1e6) / (r.rps * RUN_S),
        cond,
        ratio,
      );
    emit(`dataplane.two_hop_mtls.responses_2xx.c${c}`, variant, 'count', r.ok, cond);
    emit(`dataplane.two_hop_mtls.errors.c${c}`, variant, 'count', r.errors, cond);
  }
  if (pids.length) {
    // The Node proxies' peak is set at start-up (tsx compiles the sources); the RSS after the run
    // is what a serving sidecar holds.
    const sum = (field: 'VmHWM' | 'VmRSS'): number => pids.reduce((s, p) => s + rssMb(p, field), 0);
    emit('dataplane.two_hop_mtls.peak_rss', variant, 'MB', sum('VmHWM'), { processes: pids.length });
    emit('dataplane.two_hop_mtls.rss_after_run', variant, 'MB', sum('VmRSS'), { processes: pids.length });
  }
}

function stop(cs: ChildProcess[]): void {
  for (const c of cs) if (c.exitCode === null) c.kill('SIGKILL');
}

async function main(): Promise<void> {
  for (const tool of ['wrk', 'nginx', 'taskset']) {
    if (!has(tool)) {
      process.stderr.write(`bench/dataplane: ${tool} is not installed; skipping\n`);
      return;
    }
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-bench-dp-'));
  try {
    // Certificates from our own CA code (performance.md §5.3).
    const kp = generateKeyPair();
    const ca = await mintCaCertificate({
      trustDomain: TrustDomain.parse('example.org'),
      publicKey: kp.publicKey,
      privateKey: kp.privateKey,
      ttlSeconds: 3600,
    });
    const write = (n: string, s: string): string => {
      const p = path.join(dir, n);
      fs.writeFileSync(p, s);
      return p;
    };
    const caFile = write('ca.pem', ca.toString());
    const leaf = (n: string, id: string): { cert: string; key: string; combined: string } => {
      const k = generateKeyPair();
      const cert = mintX509Svid({
        spiffeId: SpiffeId.parse(id),
        publicKey: k.publicKey,
        caCert: ca,
        caKey: kp.privateKey,
        ttlSeconds: 3600,
        dnsNames: ['localhost'],
      }).toString();
      const key = k.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      return {
        cert: write(`${n}.pem`, cert),
        key: write(`${n}.key`, key),
        combined: write(`${n}-combined.pem`, cert + key),
      };
    };
    const aId = 'spiffe://example.org/ns/default/sa/a';
    const bId = 'spiffe://example.org/ns/default/sa/b';
    const a = leaf('a', aId);
    const b = leaf('b', bId);

    const upstream = await freePort();
    fs.writeFileSync(
      path.join(dir, 'nginx.conf'),
      `worker_processes 1; daemon off; master_process off; pid ${dir}/nginx.pid; error_log ${dir}/nginx.err;
events { worker_connections 4096; }
http { access_log off; server { listen 127.0.0.1:${upstream}; keepalive_requests 1000000; location / { return 200 "hello world\\n"; } } }\n`,
    );
    start('nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf')], 0);
    await waitPort(upstream);
    await measure('direct', upstream, []);

    for (const variant of ['trustmesh-l7', 'trustmesh-l4'] as const) {
      const timeout = variant === 'trustmesh-l7' ? { timeout: '15s' } : {};
      const secrets = [
        {
          name: bId,
          tls_certificate: { certificate_chain: { filename: b.cert }, private_key: { filename: b.key } },
        },
        {
          name: aId,
          tls_certificate: { certificate_chain: { filename: a.cert }, private_key: { filename: a.key } },
        },
        {
          name: 'spiffe://example.org',
          validation_context: {
            custom_validator_config: {
              name: 'envoy.tls.cert_validator.spiffe',
              typed_config: {
                '@type':
                  'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig',
                trust_domains: [{ name: 'example.org', trust_bundle: { filename: caFile } }],
              },
            },
          },
        },
      ];
      const common = (cert: string, san: string): Record<string, unknown> => ({
        common_tls_context: {
          tls_certificate_sds_secret_configs: [{ name: cert }],
          combined_validation_context: {
            default_validation_context: {
              match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: san } }],
            },
            validation_context_sds_secret_config: { name: 'spiffe://example.org' },
          },
        },
      });
      const hcm = (prefix: string, clusterName: string): Record<string, unknown> => ({
        name: 'envoy.filters.network.http_connection_manager',
        typed_config: {
          '@type':
            'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          stat_prefix: prefix,
          route_config: {
            name: prefix,
            virtual_hosts: [
              {
                name: prefix,
                domains: ['*'],
                routes: [{ match: { prefix: '/' }, route: { cluster: clusterName, ...timeout } }],
              },
            ],
          },
          http_filters: [
            {
              name: 'envoy.filters.http.router',
              typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
            },
          ],
        },
      });
      const staticCluster = (
        name: string,
        port: number,
        tls?: Record<string, unknown>,
      ): Record<string, unknown> => ({
        name,
        type: 'STATIC',
        connect_timeout: '1s',
        load_assignment: {
          cluster_name: name,
          endpoints: [
            {
              lb_endpoints: [
                { endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } } },
              ],
            },
          ],
        },
        ...(tls
          ? {
              transport_socket: {
                name: 'envoy.transport_sockets.tls',
                typed_config: {
                  '@type': 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
                  sni: 'localhost',
                  ...tls,
                },
              },
            }
          : {}),
      });
      const bPort = await freePort();
      const aPort = await freePort();
      const bBoot = {
        node: { id: 'b' },
        static_resources: {
          secrets,
          listeners: [
            {
              name: 'lds_ingress_0.0.0.0_15000',
              address: { socket_address: { address: '127.0.0.1', port_value: bPort } },
              filter_chains: [
                {
                  transport_socket: {
                    name: 'envoy.transport_sockets.tls',
                    typed_config: {
                      '@type':
                        'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
                      require_client_certificate: true,
                      ...common(bId, aId),
                    },
                  },
                  filters: [hcm('ingress', 'app')],
                },
              ],
            },
          ],
          clusters: [staticCluster('app', upstream)],
        },
      };
      const aBoot = {
        node: { id: 'a' },
        static_resources: {
          secrets,
          listeners: [
            {
              name: 'lds_egress_0.0.0.0_15001',
              address: { socket_address: { address: '127.0.0.1', port_value: aPort } },
              filter_chains: [{ filters: [hcm('egress', 'b')] }],
            },
          ],
          clusters: [staticCluster('b', bPort, common(aId, bId))],
        },
      };
      fs.writeFileSync(path.join(dir, 'b.json'), JSON.stringify(bBoot));
      fs.writeFileSync(path.join(dir, 'a.json'), JSON.stringify(aBoot));
      const run = (n: string): ChildProcess =>
        start(
          process.execPath,
          [
            '--max-semi-space-size=16',
            '--import',
            'tsx',
            entry,
            'proxy',
            'run',
            '--config',
            path.join(dir, `${n}.json`),
            '--admin-port',
            '0',
          ],
          1,
        );
      const pb = run('b');
      const pa = run('a');
      await waitPort(bPort);
      await waitPort(aPort);
      await measure(variant, aPort, [pa.pid!, pb.pid!]);
      stop([pa, pb]);
    }

    if (has('haproxy')) {
      const pa = await freePort();
      const pb = await freePort();
      fs.writeFileSync(
        path.join(dir, 'haproxy.cfg'),
        `global
  nbthread 1
  maxconn 4000
  ssl-default-bind-options ssl-min-ver TLSv1.3
  ssl-default-server-options ssl-min-ver TLSv1.3
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend a
  bind 127.0.0.1:${pa}
  default_backend to_b
backend to_b
  server b 127.0.0.1:${pb} ssl crt ${a.combined} ca-file ${caFile} verify required verifyhost localhost sni str(localhost) pool-max-conn 128
frontend b
  bind 127.0.0.1:${pb} ssl crt ${b.combined} ca-file ${caFile} verify required
  default_backend app
backend app
  server app 127.0.0.1:${upstream} pool-max-conn 128
`,
      );
      const h = start('haproxy', ['-db', '-f', path.join(dir, 'haproxy.cfg')], 1);
      await waitPort(pa);
      await measure('haproxy', pa, [h.pid!]);
      stop([h]);
    } else {
      process.stderr.write('bench/dataplane: haproxy not installed; no peer comparison\n');
    }
  } finally {
    stop(children);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const deadline = setTimeout(
  () => {
    process.stderr.write('bench/dataplane: time budget exceeded\n');
    stop(children);
    process.exit(1);
  },
  (quick ? 120 : 300) * 1000,
);
deadline.unref();
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.once(sig, () => {
    stop(children);
    process.exit(130);
  });
await main();
// Nothing of the run may keep the process alive past its measurements.
process.exit(process.exitCode ?? 0);
