/**
 * TLS between proxies: App Mesh's decision of what TLS a client Envoy originates toward a backend
 * (reference §a.3, "How App Mesh decides…"), and the Envoy TLS contexts for listeners and clusters with
 * SDS secret names as in §c.3.
 */
import type {
  ClientPolicy,
  ClientTLSCertificate,
  ListenerTLS,
  ListenerTLSCertificate,
  TLSValidationContext,
  VirtualGatewayListenerTLS,
} from '../model/index.js';
import type { JsonObject } from '../xds/index.js';
import { SDS_CLUSTER } from './names.js';

const DOWNSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';
const UPSTREAM_TLS = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext';

/** What the server side of a backend looks like to the decision: its listener port and TLS. */
export interface ServerListenerView {
  port: number;
  tls?: ListenerTLS | VirtualGatewayListenerTLS;
  /**
   * The server's service-discovery name (DNS hostname, or `service.namespace` for Cloud Map): the SAN
   * the client expects when its policy lists none (§a.3 rule 3).
   */
  discoveryName?: string;
}

/**
 * The TLS a client proxy originates toward one backend listener:
 * - `plaintext`: no client policy applies and the server listener has no TLS or is DISABLED (rule 2);
 * - `policy`: an enforced client policy whose `ports` include the server port (rule 1): validate with
 *   its trust; `subjectAlternativeNames` are its SAN list, or the server's discovery name when it has
 *   none (rule 3); its client certificate is offered if the server asks;
 * - `no-validation`: no policy applies, the server is STRICT/PERMISSIVE with a file or SDS certificate:
 *   TLS without validating the server certificate (rule 2);
 * - `unsupported`: something only AWS can provide (ACM) — the caller must fail closed.
 */
export type UpstreamTlsDecision =
  | { mode: 'plaintext' }
  | {
      mode: 'policy';
      validation: TLSValidationContext;
      certificate?: ClientTLSCertificate;
      subjectAlternativeNames: string[];
    }
  | { mode: 'no-validation' }
  | { mode: 'unsupported'; reason: string };

/**
 * The effective client policy of a backend: its own `clientPolicy` when set, else the node's
 * `backendDefaults.clientPolicy` (§a.2: "a backend's own clientPolicy overrides it").
 */
export function effectiveClientPolicy(
  backendPolicy: ClientPolicy | undefined,
  defaultPolicy: ClientPolicy | undefined,
): ClientPolicy | undefined {
  return backendPolicy ?? defaultPolicy;
}

/** App Mesh's TLS decision for a client toward `server` under `policy` (§a.3 rules 1–3). Pure. */
export function decideUpstreamTls(
  policy: ClientPolicy | undefined,
  server: ServerListenerView,
): UpstreamTlsDecision {
  const tls = policy?.tls;
  const applies =
    tls !== undefined && tls.enforce !== false && (!tls.ports?.length || tls.ports.includes(server.port));
  if (applies) {
    if (tls.validation.trust.acm)
      return { mode: 'unsupported', reason: 'client policy trusts ACM certificate authorities (AWS only)' };
    const listed = tls.validation.subjectAlternativeNames?.match.exact ?? [];
    const sans = listed.length > 0 ? [...listed] : server.discoveryName ? [server.discoveryName] : [];
    const decision: UpstreamTlsDecision = {
      mode: 'policy',
      validation: tls.validation,
      subjectAlternativeNames: sans,
    };
    if (tls.certificate) decision.certificate = tls.certificate;
    return decision;
  }
  const mode = server.tls?.mode;
  if (mode === 'STRICT' || mode === 'PERMISSIVE') {
    if (server.tls!.certificate.acm)
      return {
        mode: 'unsupported',
        reason: 'the server listener uses an ACM certificate, whose root CA only AWS can supply',
      };
    return { mode: 'no-validation' };
  }
  return { mode: 'plaintext' };
}

/** `SdsSecretConfig` fetching `name` from the SDS cluster over gRPC (§c.3: names are opaque SDS resource names). */
export function sdsSecretConfig(name: string): JsonObject {
  return {
    name,
    sds_config: {
      api_config_source: {
        api_type: 'GRPC',
        transport_api_version: 'V3',
        grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER } }],
      },
      resource_api_version: 'V3',
    },
  };
}

/** SAN matchers: a SAN with a scheme (`spiffe://…`) is a URI SAN, anything else a DNS SAN; exact match only. */
export function subjectAltNameMatchers(sans: readonly string[]): JsonObject[] {
  return sans.map((san) => ({
    san_type: /^[a-z][a-z0-9+.-]*:/i.test(san) ? 'URI' : 'DNS',
    matcher: { exact: san },
  }));
}

function certificateInto(
  common: JsonObject,
  cert: { file?: { certificateChain: string; privateKey: string }; sds?: { secretName: string } },
): void {
  if (cert.sds) common.tls_certificate_sds_secret_configs = [sdsSecretConfig(cert.sds.secretName)];
  else if (cert.file)
    common.tls_certificates = [
      {
        certificate_chain: { filename: cert.file.certificateChain },
        private_key: { filename: cert.file.privateKey },
      },
    ];
}

function validationInto(
  common: JsonObject,
  trust: { file?: { certificateChain: string }; sds?: { secretName: string } },
  sans: readonly string[],
): void {
  const matchers: JsonObject =
    sans.length > 0 ? { match_typed_subject_alt_names: subjectAltNameMatchers(sans) } : {};
  if (trust.sds) {
    if (sans.length === 0)
      common.validation_context_sds_secret_config = sdsSecretConfig(trust.sds.secretName);
    else
      common.combined_validation_context = {
        default_validation_context: matchers,
        validation_context_sds_secret_config: sdsSecretConfig(trust.sds.secretName),
      };
  } else if (trust.file) {
    common.validation_context = { trusted_ca: { filename: trust.file.certificateChain }, ...matchers };
  }
}

/**
 * `DownstreamTlsContext` of an inbound filter chain (§c.3): the listener certificate (SDS or file);
 * with `validation`, `require_client_certificate` plus the trust and the exact SAN list.
 * ACM certificates must be rejected by the caller before.
 */
export function downstreamTlsContext(
  tls: ListenerTLS | VirtualGatewayListenerTLS,
  alpn: readonly string[],
): JsonObject {
  const common: JsonObject = {};
  certificateInto(common, tls.certificate as ListenerTLSCertificate & { file?: never });
  if (tls.validation)
    validationInto(common, tls.validation.trust, tls.validation.subjectAlternativeNames?.match.exact ?? []);
  if (alpn.length > 0) common.alpn_protocols = [...alpn];
  const ctx: JsonObject = { '@type': DOWNSTREAM_TLS, common_tls_context: common };
  if (tls.validation) ctx.require_client_certificate = true;
  return ctx;
}

/**
 * `UpstreamTlsContext` of an egress cluster for a `policy` or `no-validation` decision (§c.3): the client
 * certificate and trust from the policy, SAN matchers; `sni` when the server has a discovery name.
 */
export function upstreamTlsContext(
  decision: Extract<UpstreamTlsDecision, { mode: 'policy' | 'no-validation' }>,
  alpn: readonly string[],
  sni: string | undefined,
): JsonObject {
  const common: JsonObject = {};
  if (decision.mode === 'policy') {
    if (decision.certificate) certificateInto(common, decision.certificate);
    validationInto(common, decision.validation.trust, decision.subjectAlternativeNames);
  }
  if (alpn.length > 0) common.alpn_protocols = [...alpn];
  const ctx: JsonObject = { '@type': UPSTREAM_TLS, common_tls_context: common };
  if (sni) ctx.sni = sni;
  return ctx;
}

/** Wraps a TLS context as the `envoy.transport_sockets.tls` transport socket. */
export function tlsTransportSocket(context: JsonObject): JsonObject {
  return { name: 'envoy.transport_sockets.tls', typed_config: context };
}
