/**
 * trustmesh's proxy as A and B: two processes (`trustmesh proxy run --config`, run from source; the
 * CLI loads only the proxy area for it), each with an Envoy bootstrap of static resources and the bench's SVIDs
 * as static SDS secrets. Both sides check the peer's SPIFFE ID (URI SAN) with the SPIFFE certificate
 * validator on every handshake. Variants:
 * - `trustmesh-l7`: http_connection_manager whose routes carry a timeout, so every request goes
 *   through the HTTP router (and A's keep-alive pool to B);
 * - `trustmesh-l4`: the same with single-cluster route tables: A (plaintext downstream) takes the
 *   proxy's L4 fast path (one A → B connection per client connection, bytes piped); B terminates
 *   mTLS, so its requests pass the HTTP codec (the fast path is for plaintext downstreams only);
 * - `trustmesh-tcp`: tcp_proxy network filters on both sides (the `tcp` design);
 * - `trustmesh-h2`: h2c into A, a cluster with `http2_protocol_options` from A to B (h2 over mTLS).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, start, waitPort } from './procs.js';
import type { Variant, VariantContext } from './variant.js';

/** The trustmesh variants (see the module docstring). */
export type TrustmeshVariant = 'trustmesh-l7' | 'trustmesh-l4' | 'trustmesh-tcp' | 'trustmesh-h2';

const entry = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const TYPE = 'type.googleapis.com/envoy.extensions';

type Json = Record<string, unknown>;

function secrets(ctx: VariantContext): Json[] {
  const { a, b, caFile } = ctx.certs;
  const svid = (s: typeof a): Json => ({
    name: s.spiffeId,
    tls_certificate: { certificate_chain: { filename: s.cert }, private_key: { filename: s.key } },
  });
  return [
    svid(a),
    svid(b),
    {
      name: 'spiffe://example.org',
      validation_context: {
        custom_validator_config: {
          name: 'envoy.tls.cert_validator.spiffe',
          typed_config: {
            '@type': `${TYPE}.transport_sockets.tls.v3.SPIFFECertValidatorConfig`,
            trust_domains: [{ name: 'example.org', trust_bundle: { filename: caFile } }],
          },
        },
      },
    },
  ];
}

/** CommonTlsContext presenting `cert` (an SDS secret name) and requiring the peer to be `peer`. */
function tlsContext(cert: string, peer: string): Json {
  return {
    common_tls_context: {
      tls_certificate_sds_secret_configs: [{ name: cert }],
      combined_validation_context: {
        default_validation_context: {
          match_typed_subject_alt_names: [{ san_type: 'URI', matcher: { exact: peer } }],
        },
        validation_context_sds_secret_config: { name: 'spiffe://example.org' },
      },
    },
  };
}

function hcm(prefix: string, cluster: string, routeTimeout: boolean): Json {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': `${TYPE}.filters.network.http_connection_manager.v3.HttpConnectionManager`,
      stat_prefix: prefix,
      route_config: {
        name: prefix,
        virtual_hosts: [
          {
            name: prefix,
            domains: ['*'],
            routes: [
              { match: { prefix: '/' }, route: { cluster, ...(routeTimeout ? { timeout: '15s' } : {}) } },
            ],
          },
        ],
      },
      http_filters: [
        {
          name: 'envoy.filters.http.router',
          typed_config: { '@type': `${TYPE}.filters.http.router.v3.Router` },
        },
      ],
    },
  };
}

function tcpProxy(prefix: string, cluster: string): Json {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: { '@type': `${TYPE}.filters.network.tcp_proxy.v3.TcpProxy`, stat_prefix: prefix, cluster },
  };
}

function cluster(name: string, port: number, extra: Json = {}): Json {
  return {
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
    ...extra,
  };
}

function listener(name: string, port: number, chain: Json): Json {
  return {
    name,
    address: { socket_address: { address: '127.0.0.1', port_value: port } },
    filter_chains: [chain],
  };
}

/** The bootstraps of A and B for `variant`, A listening on `aPort`, B on `bPort`. */
function bootstraps(
  ctx: VariantContext,
  variant: TrustmeshVariant,
  aPort: number,
  bPort: number,
): [Json, Json] {
  const { a, b } = ctx.certs;
  const filter = (prefix: string, to: string): Json =>
    variant === 'trustmesh-tcp' ? tcpProxy(prefix, to) : hcm(prefix, to, variant !== 'trustmesh-l4');
  const toB = cluster('b', bPort, {
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': `${TYPE}.transport_sockets.tls.v3.UpstreamTlsContext`,
        sni: 'localhost',
        ...tlsContext(a.spiffeId, b.spiffeId),
      },
    },
    ...(variant === 'trustmesh-h2' ? { http2_protocol_options: {} } : {}),
  });
  const bChain = {
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': `${TYPE}.transport_sockets.tls.v3.DownstreamTlsContext`,
        require_client_certificate: true,
        ...tlsContext(b.spiffeId, a.spiffeId),
      },
    },
    filters: [filter('ingress', 'app')],
  };
  const resources = (l: Json, c: Json): Json => ({ secrets: secrets(ctx), listeners: [l], clusters: [c] });
  return [
    {
      node: { id: 'a' },
      static_resources: resources(
        listener('lds_egress_0.0.0.0_15001', aPort, { filters: [filter('egress', 'b')] }),
        toB,
      ),
    },
    {
      node: { id: 'b' },
      static_resources: resources(
        listener('lds_ingress_0.0.0.0_15000', bPort, bChain),
        cluster('app', ctx.upstreamPort),
      ),
    },
  ];
}

/** Starts B then A for `variant` on core 1 and resolves once both listen. */
export async function startTrustmesh(ctx: VariantContext, variant: TrustmeshVariant): Promise<Variant> {
  const [aPort, bPort] = [await freePort(), await freePort()];
  const pids = bootstraps(ctx, variant, aPort, bPort).map((boot, i) => {
    const file = path.join(ctx.dir, `${variant}-${i === 0 ? 'a' : 'b'}.json`);
    fs.writeFileSync(file, JSON.stringify(boot));
    const args = [
      '--max-semi-space-size=16',
      '--import',
      'tsx',
      entry,
      'proxy',
      'run',
      '--config',
      file,
      '--admin-port',
      '0',
    ];
    return start(process.execPath, args, 1, ctx.root).pid!;
  });
  await waitPort(bPort);
  await waitPort(aPort);
  return {
    name: variant,
    port: aPort,
    pids,
    hopsPerProcess: 1,
    conditions: { peer_check: 'chain + SPIFFE ID (URI SAN) both ways' },
  };
}
