/**
 * HAProxy 2.6 as both proxies of a variant: one process, `nbthread 1`, frontends `a` (plain) and `b`
 * (mTLS, `verify required` against the bench CA), TLS 1.3 only, no logging. A verifies B's chain and
 * its DNS SAN (`verifyhost localhost`); neither side can check the SPIFFE ID (URI SAN).
 */
import fs from 'node:fs';
import path from 'node:path';
import { freePort, start, waitPort } from './procs.js';
import { CHAIN_ONLY, type HopDesign, type Variant, type VariantContext } from './variant.js';

/** Starts HAProxy for `design` and resolves once A listens. */
export async function startHaproxy(ctx: VariantContext, design: HopDesign): Promise<Variant> {
  const { certs, upstreamPort } = ctx;
  const [pa, pb] = [await freePort(), await freePort()];
  const mode = design === 'tcp' ? 'tcp' : 'http';
  // http-reuse always keeps the A→B pool; `close` turns every hop into one request per connection.
  const reuse = design === 'close' ? '  option httpclose\n  http-reuse never' : '  http-reuse always';
  const alpnOut = design === 'h2' ? ' alpn h2' : '';
  const alpnIn = design === 'h2' ? ' alpn h2,http/1.1' : '';
  const frontA = design === 'h2' ? ' proto h2' : '';
  const pool = mode === 'http' && design !== 'close' ? ' pool-max-conn 128' : '';
  const cfg = `global
  nbthread 1
  maxconn 4000
  ssl-default-bind-options ssl-min-ver TLSv1.3
  ssl-default-server-options ssl-min-ver TLSv1.3
defaults
  mode ${mode}
  timeout connect 5s
  timeout client 30s
  timeout server 30s
${mode === 'http' ? reuse : ''}
frontend a
  bind 127.0.0.1:${pa}${frontA}
  default_backend to_b
backend to_b
  server b 127.0.0.1:${pb} ssl crt ${certs.a.combined} ca-file ${certs.caFile} verify required verifyhost localhost sni str(localhost)${alpnOut}${pool}
frontend b
  bind 127.0.0.1:${pb} ssl crt ${certs.b.combined} ca-file ${certs.caFile} verify required${alpnIn}
  default_backend app
backend app
  server app 127.0.0.1:${upstreamPort}${pool}
`;
  const file = path.join(ctx.dir, `haproxy-${design}.cfg`);
  fs.writeFileSync(file, cfg);
  const h = start('haproxy', ['-db', '-f', file], 1, ctx.root);
  await waitPort(pa);
  return {
    name: design === 'tcp' ? 'haproxy-tcp' : 'haproxy',
    port: pa,
    pids: [h.pid!],
    hopsPerProcess: 2,
    conditions: { ...CHAIN_ONLY, ...(design === 'tcp' ? { haproxy: 'mode tcp' } : {}) },
  };
}
