/**
 * Hand-written Envoy v3 bootstrap pieces for the proxy tests (proto3 JSON, snake_case), shaped as
 * App Mesh's Envoy config is: ingress listener with DownstreamTlsContext (SDS-style secret names,
 * SPIFFE validator), egress listener with an http_connection_manager routing by Host, clusters
 * with UpstreamTlsContext. Plus helpers to run `trustmesh proxy run --config` as a child process.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { repoRoot, trustmeshArgv } from '../../support/cli.js';

type Json = Record<string, unknown>;

const T = {
  hcm: 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
  router: 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router',
  down: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext',
  up: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext',
  spiffe: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig',
  tcp: 'type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy',
  tlsInspector: 'type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector',
};

/** A static TlsCertificate secret read from files. */
export function certSecret(name: string, cert: string, key: string): Json {
  return { name, tls_certificate: { certificate_chain: { filename: cert }, private_key: { filename: key } } };
}

function spiffeValidatorSecret(name: string, trustDomains: Json[]): Json {
  return {
    name,
    validation_context: {
      custom_validator_config: {
        name: 'envoy.tls.cert_validator.spiffe',
        typed_config: { '@type': T.spiffe, trust_domains: trustDomains },
      },
    },
  };
}

/** A static SPIFFE-validator validation-context secret: trust domain → bundle file. */
export function spiffeBundleSecret(name: string, bundles: Record<string, string>): Json {
  return spiffeValidatorSecret(
    name,
    Object.entries(bundles).map(([td, file]) => ({ name: td, trust_bundle: { filename: file } })),
  );
}

/** A TlsCertificate secret with the PEM inline, as the SPIRE agent sends it over SDS. */
export function inlineCertSecret(name: string, pair: { cert: string; key: string }): Json {
  return {
    name,
    tls_certificate: {
      certificate_chain: { inline_string: fs.readFileSync(pair.cert, 'utf8') },
      private_key: { inline_string: fs.readFileSync(pair.key, 'utf8') },
    },
  };
}

/** The SPIFFE-validator secret with each bundle PEM inline (trust domain → bundle file), as the agent sends it. */
export function inlineSpiffeBundleSecret(name: string, bundles: Record<string, string>): Json {
  return spiffeValidatorSecret(
    name,
    Object.entries(bundles).map(([td, file]) => ({
      name: td,
      trust_bundle: { inline_string: fs.readFileSync(file, 'utf8') },
    })),
  );
}

/** App Mesh's sds_config: the SPIRE agent through the bootstrap cluster `static_cluster_sds_unix_socket`. */
export const SDS_CONFIG = {
  resource_api_version: 'V3',
  api_config_source: {
    api_type: 'GRPC',
    transport_api_version: 'V3',
    grpc_services: [{ envoy_grpc: { cluster_name: 'static_cluster_sds_unix_socket' } }],
  },
};

/** CommonTlsContext naming a certificate secret and a validation secret (+ exact URI SAN matchers);
 * with `sds` the secrets are fetched over SDS, else they are static bootstrap secrets. */
export function commonTls(
  certName: string | undefined,
  validationName: string | undefined,
  sans: string[] = [],
  sds = false,
): Json {
  const c: Json = {};
  const ref = (name: string): Json => (sds ? { name, sds_config: SDS_CONFIG } : { name });
  if (certName) c.tls_certificate_sds_secret_configs = [ref(certName)];
  if (validationName) {
    c.combined_validation_context = {
      default_validation_context: {
        match_typed_subject_alt_names: sans.map((s) => ({ san_type: 'URI', matcher: { exact: s } })),
      },
      validation_context_sds_secret_config: ref(validationName),
    };
  }
  return { common_tls_context: c };
}

/** An http_connection_manager network filter with an inline route config. */
export function hcm(statPrefix: string, virtualHosts: Json[]): Json {
  return {
    name: 'envoy.filters.network.http_connection_manager',
    typed_config: {
      '@type': T.hcm,
      stat_prefix: statPrefix,
      codec_type: 'AUTO',
      route_config: { name: `${statPrefix}_routes`, virtual_hosts: virtualHosts },
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': T.router } }],
    },
  };
}

/** A tcp_proxy network filter. */
export function tcpProxy(statPrefix: string, cluster: string): Json {
  return {
    name: 'envoy.filters.network.tcp_proxy',
    typed_config: { '@type': T.tcp, stat_prefix: statPrefix, cluster },
  };
}

/** A virtual host with a catch-all route to `cluster`, or explicit routes. */
export function vhost(name: string, domains: string[], routes: Json[]): Json {
  return { name, domains, routes };
}

/** Ingress listener (App Mesh shape). `mode` STRICT: one TLS chain; PERMISSIVE: tls_inspector + TLS chain + plaintext chain. */
export function ingressListener(o: {
  port: number;
  mode: 'STRICT' | 'PERMISSIVE' | 'DISABLED';
  certName: string;
  validationName?: string;
  sans?: string[];
  filter: Json;
  sds?: boolean;
}): Json {
  const tlsChain = {
    name: 'ingress_tls',
    filter_chain_match: o.mode === 'PERMISSIVE' ? { transport_protocol: 'tls' } : {},
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': T.down,
        require_client_certificate: Boolean(o.validationName),
        ...commonTls(o.certName, o.validationName, o.sans, o.sds),
      },
    },
    filters: [o.filter],
  };
  const plainChain = {
    name: 'ingress_plain',
    filter_chain_match: o.mode === 'PERMISSIVE' ? { transport_protocol: 'raw_buffer' } : {},
    filters: [o.filter],
  };
  const chains =
    o.mode === 'STRICT' ? [tlsChain] : o.mode === 'PERMISSIVE' ? [tlsChain, plainChain] : [plainChain];
  return {
    name: 'lds_ingress_0.0.0.0_15000',
    address: { socket_address: { address: '127.0.0.1', port_value: o.port } },
    listener_filters:
      o.mode === 'PERMISSIVE'
        ? [{ name: 'envoy.filters.listener.tls_inspector', typed_config: { '@type': T.tlsInspector } }]
        : [],
    filter_chains: chains,
  };
}

/** A plain listener with one filter chain (egress-style when `useOriginalDst`). */
export function plainListener(
  name: string,
  port: number,
  filter: Json,
  o: { address?: string; useOriginalDst?: boolean } = {},
): Json {
  return {
    name,
    address: { socket_address: { address: o.address ?? '127.0.0.1', port_value: port } },
    use_original_dst: o.useOriginalDst ?? false,
    filter_chains: [{ filters: [filter] }],
  };
}

/** A STATIC cluster; `tls` adds an UpstreamTlsContext. */
export function cluster(
  name: string,
  endpoints: [string, number][],
  o: { tls?: Json; http2?: boolean; healthCheck?: Json; outlier?: Json; connectTimeout?: string } = {},
): Json {
  const c: Json = {
    name,
    type: 'STATIC',
    connect_timeout: o.connectTimeout ?? '1s',
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: endpoints.map(([a, p]) => ({
            endpoint: { address: { socket_address: { address: a, port_value: p } } },
          })),
        },
      ],
    },
  };
  if (o.tls)
    c.transport_socket = { name: 'envoy.transport_sockets.tls', typed_config: { '@type': T.up, ...o.tls } };
  if (o.http2)
    c.typed_extension_protocol_options = {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
        explicit_http_config: { http2_protocol_options: {} },
      },
    };
  if (o.healthCheck) c.health_checks = [o.healthCheck];
  if (o.outlier) c.outlier_detection = o.outlier;
  return c;
}

/** A running proxy child process. */
export interface ProxyProcess {
  child: ChildProcess;
  adminPort: number;
  listeners: Record<string, number>;
  admin(path: string): Promise<{ status: number; body: string }>;
  stat(name: string): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Starts `trustmesh proxy run` as a child process; resolves when it prints its ready line. With a
 * `bootstrap`, it is written to `dir/<name>.json` and passed as `--config`; `args` are appended
 * (e.g. `--xds unix:///…`). Runs the command as `trustmesh proxy run` registers it.
 */
export async function startProxy(
  dir: string,
  name: string,
  bootstrap: Json | undefined,
  env: NodeJS.ProcessEnv = {},
  args: string[] = [],
): Promise<ProxyProcess> {
  const configArgs: string[] = [];
  if (bootstrap) {
    const file = path.join(dir, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify({ node: { id: name, cluster: name }, ...bootstrap }, null, 2));
    configArgs.push('--config', file);
  }
  // `trustmesh proxy …` loads only the proxy area, so a proxy test does not depend on the others.
  const [node, ...cli] = trustmeshArgv();
  const child = spawn(node!, [...cli, 'proxy', 'run', ...configArgs, '--admin-port', '0', ...args], {
    cwd: repoRoot,
    stdio: 'pipe',
    env: { ...process.env, ...env },
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    if (process.env.TM_PROXY_DEBUG) process.stderr.write(d);
  });
  const ready = await new Promise<{ admin_port: number; listeners: Record<string, number> }>(
    (resolve, reject) => {
      let out = '';
      child.stdout!.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const line = out.split('\n').find((l) => l.includes('"proxy ready"'));
        if (line) resolve(JSON.parse(line) as { admin_port: number; listeners: Record<string, number> });
      });
      child.once('exit', (code) => reject(new Error(`proxy ${name} exited ${code}: ${stderr}`)));
      setTimeout(() => reject(new Error(`proxy ${name} not ready after 20 s: ${stderr}`)), 20_000).unref();
    },
  );
  const admin = async (p: string): Promise<{ status: number; body: string }> => {
    const r = await fetch(`http://127.0.0.1:${ready.admin_port}${p}`);
    return { status: r.status, body: await r.text() };
  };
  return {
    child,
    adminPort: ready.admin_port,
    listeners: ready.listeners,
    admin,
    async stat(n: string) {
      const { body } = await admin(`/stats?filter=${encodeURIComponent(`^${n.replace(/[.]/g, '\\.')}$`)}`);
      const m = /: (\d+)/.exec(body);
      return m ? Number(m[1]) : 0;
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}
