/**
 * nginx 1.22: the upstream every variant ends at, and nginx as both proxies of a variant (one worker,
 * no master process, so it dies with the run). TLS 1.3 only, no access log, `keepalive_requests`
 * unbounded. A verifies B's chain and its DNS SAN (`proxy_ssl_name localhost`); B requires a client
 * certificate from the bench CA; neither can check the SPIFFE ID (URI SAN) without njs.
 * nginx cannot originate HTTP/2 to a `proxy_pass` upstream, so in the `h2` design its A → B hop is
 * HTTP/1.1 keep-alive (stated in the figures' conditions). The `tcp` design needs the stream module
 * (Debian: libnginx-mod-stream).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { freePort, start, waitPort } from './procs.js';
import { CHAIN_ONLY, type HopDesign, type Variant, type VariantContext } from './variant.js';

const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

function run(
  ctx: Pick<VariantContext, 'dir' | 'root'>,
  name: string,
  core: number,
  main: string,
  body: string,
): ChildProcess {
  const dir = path.join(ctx.dir, name);
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'nginx.conf');
  fs.writeFileSync(
    file,
    `${main}worker_processes 1; daemon off; master_process off; pid ${dir}/nginx.pid; error_log ${dir}/error.log;
events { worker_connections 4096; }
${body}\n`,
  );
  return start('nginx', ['-p', dir, '-c', file], core, ctx.root);
}

/**
 * Starts the upstream on core 0: `return 200 "hello world\n"` over HTTP/1.1 on `port`, and over h2c
 * (prior knowledge) on `h2Port` for the direct HTTP/2 baseline.
 */
export async function startUpstream(
  ctx: Pick<VariantContext, 'dir' | 'root'>,
  port: number,
  h2Port: number,
): Promise<void> {
  const loc = 'keepalive_requests 1000000; location / { return 200 "hello world\\n"; }';
  run(
    ctx,
    'upstream',
    0,
    '',
    `http { access_log off; server { listen 127.0.0.1:${port}; ${loc} } server { listen 127.0.0.1:${h2Port} http2; ${loc} } }`,
  );
  await waitPort(port);
  await waitPort(h2Port);
}

/** True when nginx can run the `tcp` design (the stream module is installed). */
export function nginxHasStream(): boolean {
  return fs.existsSync(STREAM_MODULE);
}

/** Starts nginx as A and B for `design` and resolves once A listens. */
export async function startNginx(ctx: VariantContext, design: HopDesign): Promise<Variant> {
  const { certs, upstreamPort } = ctx;
  const [pa, pb] = [await freePort(), await freePort()];
  const tls13 = 'ssl_protocols TLSv1.3;';
  const origin = `proxy_ssl_certificate ${certs.a.cert}; proxy_ssl_certificate_key ${certs.a.key};
    proxy_ssl_trusted_certificate ${certs.caFile}; proxy_ssl_verify on; proxy_ssl_name localhost;
    proxy_ssl_server_name on; proxy_ssl_protocols TLSv1.3; proxy_ssl_session_reuse on;`;
  const terminate = `ssl_certificate ${certs.b.cert}; ssl_certificate_key ${certs.b.key};
    ssl_client_certificate ${certs.caFile}; ssl_verify_client on; ${tls13}`;
  let main = '';
  let body: string;
  if (design === 'tcp') {
    main = `load_module ${STREAM_MODULE};\n`;
    body = `stream {
  server { listen 127.0.0.1:${pa}; proxy_pass 127.0.0.1:${pb}; proxy_ssl on; ${origin} }
  server { listen 127.0.0.1:${pb} ssl; ${terminate} proxy_pass 127.0.0.1:${upstreamPort}; }
}`;
  } else {
    const keepalive = design === 'close' ? '' : 'keepalive 128; keepalive_requests 1000000;';
    const h11 = design === 'close' ? '' : 'proxy_http_version 1.1; proxy_set_header Connection "";';
    body = `http {
  access_log off;
  upstream to_b { server 127.0.0.1:${pb}; ${keepalive} }
  upstream app { server 127.0.0.1:${upstreamPort}; ${keepalive} }
  server { listen 127.0.0.1:${pa}${design === 'h2' ? ' http2' : ''}; keepalive_requests 1000000;
    location / { proxy_pass https://to_b; ${h11} ${origin} } }
  server { listen 127.0.0.1:${pb} ssl; ${terminate} keepalive_requests 1000000;
    location / { proxy_pass http://app; ${h11} } }
}`;
  }
  const n = run(ctx, `nginx-${design}`, 1, main, body);
  await waitPort(pa);
  return {
    name: design === 'tcp' ? 'nginx-stream' : 'nginx',
    port: pa,
    pids: [n.pid!],
    hopsPerProcess: 2,
    conditions: {
      ...CHAIN_ONLY,
      ...(design === 'h2' ? { nginx_a_to_b: 'HTTP/1.1 keep-alive (no h2 upstream)' } : {}),
    },
  };
}
