/**
 * Envoy v3 resources (proto3 JSON shape, snake_case or lowerCamelCase keys, `@type` on Any) parsed
 * into the proxy's typed in-memory model. This is the edge: everything past it trusts the types.
 * Each parser collects every problem with its field path and throws one {@link ConfigError}.
 *
 * Supported subset: what the mesh compiler emits plus what App Mesh's Envoy config used
 * (Listener + filter chains + tls_inspector, http_connection_manager, tcp_proxy, RouteConfiguration,
 * Cluster (STATIC, STRICT_DNS, LOGICAL_DNS, EDS, ORIGINAL_DST), ClusterLoadAssignment, Secret).
 */
import fs from 'node:fs';
import net from 'node:net';
import { ConfigError } from './errors.js';

/** Envoy type URLs of the resources this proxy consumes. */
export const TypeUrl = {
  listener: 'type.googleapis.com/envoy.config.listener.v3.Listener',
  route: 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
  cluster: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
  endpoint: 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
  secret: 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret',
} as const;

/** A loosely typed JSON object as it arrives on the wire (keys already snake_case). */
export type Json = Record<string, unknown>;

// ---------------------------------------------------------------------------------------------
// the model

/** Envoy StringMatcher (type/matcher/v3/string.proto). */
export type StringMatcher =
  | { kind: 'exact' | 'prefix' | 'suffix' | 'contains'; value: string; ignoreCase: boolean }
  | { kind: 'regex'; regex: RegExp };

/** A SAN matcher of CertificateValidationContext.match_typed_subject_alt_names; `sanType`
 * undefined = any SAN type (deprecated match_subject_alt_names). */
export interface SanMatcher {
  sanType: 'URI' | 'DNS' | 'EMAIL' | 'IP_ADDRESS' | undefined;
  matcher: StringMatcher;
}

/** PEM material of a TlsCertificate secret. */
export interface TlsCertificateSecret {
  kind: 'tls_certificate';
  name: string;
  certificateChainPem: string;
  privateKeyPem: string;
}

/** A CertificateValidationContext secret: SPIFFE validator (per trust domain PEM bundles) or trusted_ca. */
export interface ValidationContextSecret {
  kind: 'validation_context';
  name: string;
  /** Trust-domain name (bare, no `spiffe://`) → PEM roots; set for the SPIFFE validator. */
  spiffeTrustDomains?: Map<string, string>;
  /** PEM roots of plain trusted_ca validation. */
  trustedCaPem?: string;
  sanMatchers: SanMatcher[];
  allowExpired: boolean;
}

/** An Envoy `tls.v3.Secret`. */
export type SecretConfig = TlsCertificateSecret | ValidationContextSecret;

/** CommonTlsContext reduced to what the proxy uses: secret names (SDS or static/inline). */
export interface TlsContextConfig {
  /** Name of the TlsCertificate secret (SDS name, static secret name, or a synthetic inline name). */
  certificateSecret: string | undefined;
  /** Name of the validation-context secret, if any. */
  validationSecret: string | undefined;
  /** The `default_validation_context` of a combined context (SAN matchers live here). */
  defaultValidation: ValidationContextSecret | undefined;
  alpn: string[];
  /** Inline secrets defined inside the TLS context, keyed by their synthetic names. */
  inlineSecrets: SecretConfig[];
  /** Secret names that must come over SDS (as opposed to static bootstrap secrets). */
  sdsNames: string[];
}

/** DownstreamTlsContext. */
export interface DownstreamTlsConfig extends TlsContextConfig {
  requireClientCertificate: boolean;
}

/** UpstreamTlsContext. */
export interface UpstreamTlsConfig extends TlsContextConfig {
  sni: string | undefined;
}

/** One route's match (Envoy RouteMatch). */
export interface RouteMatchConfig {
  path: { kind: 'prefix' | 'path'; value: string; ignoreCase: boolean } | { kind: 'regex'; regex: RegExp };
  headers: HeaderMatcherConfig[];
  queryParameters: { name: string; matcher: StringMatcher | undefined; present: boolean }[];
  grpc: boolean;
}

/** Envoy HeaderMatcher. `name` lowercase; `:method`, `:path`, `:authority`, `:scheme` are pseudo-headers. */
export interface HeaderMatcherConfig {
  name: string;
  invert: boolean;
  test:
    | { kind: 'string'; matcher: StringMatcher }
    | { kind: 'range'; start: bigint; end: bigint }
    | { kind: 'present'; present: boolean };
}

/** Retry policy of a route (Envoy RetryPolicy). */
export interface RetryPolicyConfig {
  on: Set<string>;
  numRetries: number;
  perTryTimeoutMs: number;
  retriableStatusCodes: Set<number>;
}

/** A route entry: match → action. */
export interface RouteConfigEntry {
  name: string;
  match: RouteMatchConfig;
  action:
    | {
        kind: 'route';
        clusters: { name: string; weight: number }[];
        totalWeight: number;
        timeoutMs: number;
        /** The route set `timeout` itself (the 15 s default applies otherwise). */
        timeoutExplicit: boolean;
        idleTimeoutMs: number;
        retry: RetryPolicyConfig | undefined;
        prefixRewrite: string | undefined;
        /** regex_rewrite: every match of `pattern` in the path (query excluded) → `substitution`. */
        regexRewrite: { pattern: RegExp; substitution: string } | undefined;
        hostRewrite: string | undefined;
      }
    | { kind: 'direct_response'; status: number; body: string }
    | { kind: 'redirect'; status: number; location: { host?: string; path?: string; scheme?: string } };
}

/** Envoy VirtualHost. */
export interface VirtualHostConfig {
  name: string;
  domains: string[];
  routes: RouteConfigEntry[];
  retry: RetryPolicyConfig | undefined;
}

/** Envoy RouteConfiguration. */
export interface RouteConfiguration {
  name: string;
  virtualHosts: VirtualHostConfig[];
  /** `validate_clusters` as given; unset means Envoy's default (inline: true, RDS: false). */
  validateClusters: boolean | undefined;
}

/** http_connection_manager network filter. */
export interface HttpConnectionManagerConfig {
  kind: 'http';
  statPrefix: string;
  codec: 'AUTO' | 'HTTP1' | 'HTTP2';
  /** Inline route config, or the RDS name to resolve. */
  routeConfig: RouteConfiguration | undefined;
  rdsName: string | undefined;
  streamIdleTimeoutMs: number;
  requestHeadersTimeoutMs: number;
  idleTimeoutMs: number;
  maxRequestHeadersKb: number;
  /**
   * Envoy `common_http_protocol_options.max_headers_count` (default 100, at least 1): a request with
   * more header fields gets 431 (HTTP/1.1).
   */
  maxHeadersCount: number;
  accessLogPath: string | undefined;
}

/** tcp_proxy network filter. */
export interface TcpProxyConfig {
  kind: 'tcp';
  statPrefix: string;
  clusters: { name: string; weight: number }[];
  idleTimeoutMs: number;
}

/** FilterChainMatch (subset). */
export interface FilterChainMatchConfig {
  destinationPort: number | undefined;
  prefixRanges: { address: string; prefixLen: number }[];
  transportProtocol: string | undefined;
  serverNames: string[];
  applicationProtocols: string[];
}

/** One filter chain: match, optional TLS termination, one terminal network filter. */
export interface FilterChainConfig {
  name: string;
  match: FilterChainMatchConfig;
  tls: DownstreamTlsConfig | undefined;
  filter: HttpConnectionManagerConfig | TcpProxyConfig;
}

/** Envoy Listener. */
export interface ListenerConfig {
  name: string;
  address: string;
  port: number;
  useOriginalDst: boolean;
  tlsInspector: boolean;
  /** The original_dst listener filter: filter chains match on SO_ORIGINAL_DST (REDIRECTed inbound). */
  originalDstFilter: boolean;
  filterChains: FilterChainConfig[];
  defaultFilterChain: FilterChainConfig | undefined;
  /** Envoy's stat prefix for the listener: `<address>_<port>`. */
  statName: string;
}

/** An endpoint of a cluster. */
export interface EndpointConfig {
  address: string;
  port: number;
  weight: number;
  /** health_status from EDS (UNHEALTHY/DRAINING/TIMEOUT exclude the endpoint). */
  healthy: boolean;
}

/** A ClusterLoadAssignment. */
export interface LoadAssignmentConfig {
  clusterName: string;
  endpoints: EndpointConfig[];
}

/** HealthCheck (subset). */
export interface HealthCheckConfig {
  kind: 'http' | 'tcp';
  path: string;
  host: string | undefined;
  expectedStatuses: [number, number][];
  timeoutMs: number;
  intervalMs: number;
  unhealthyThreshold: number;
  healthyThreshold: number;
}

/** OutlierDetection (consecutive 5xx). */
export interface OutlierDetectionConfig {
  consecutive5xx: number;
  baseEjectionTimeMs: number;
  maxEjectionPercent: number;
  intervalMs: number;
}

/** CircuitBreakers default-priority thresholds (Envoy defaults 1024 each, retries 3). */
export interface CircuitBreakerConfig {
  maxConnections: number;
  maxPendingRequests: number;
  maxRequests: number;
  maxRetries: number;
}

/** Envoy Cluster. */
export interface ClusterConfig {
  name: string;
  type: 'STATIC' | 'STRICT_DNS' | 'LOGICAL_DNS' | 'EDS' | 'ORIGINAL_DST';
  edsServiceName: string;
  connectTimeoutMs: number;
  http2: boolean;
  loadAssignment: LoadAssignmentConfig | undefined;
  tls: UpstreamTlsConfig | undefined;
  healthChecks: HealthCheckConfig[];
  outlier: OutlierDetectionConfig | undefined;
  circuitBreakers: CircuitBreakerConfig;
  /** Upstream keep-alive idle timeout (ms) from HttpProtocolOptions.common_http_protocol_options. */
  idleTimeoutMs: number;
}

/** Bootstrap (`static_resources` mode and the ADS/SDS wiring). */
export interface BootstrapConfig {
  nodeId: string | undefined;
  nodeCluster: string | undefined;
  adminAddress: string | undefined;
  adminPort: number | undefined;
  listeners: ListenerConfig[];
  clusters: ClusterConfig[];
  secrets: SecretConfig[];
  /** Raw static resources as given, for /config_dump. */
  raw: Json;
}

// ---------------------------------------------------------------------------------------------
// generic helpers

/** Converts lowerCamelCase keys to snake_case recursively (proto3 JSON accepts both). `@type` and
 * keys containing dots (extension names) are left alone. */
export function normalizeKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(normalizeKeys);
  if (v === null || typeof v !== 'object' || Buffer.isBuffer(v) || v instanceof Uint8Array) return v;
  const out: Json = {};
  for (const [k, val] of Object.entries(v as Json)) {
    const key =
      k.startsWith('@') || k.includes('.') || k.includes('-')
        ? k
        : k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    // Header names and metadata keys are values in Envoy's protos, never camelCase fields.
    out[key] = key === 'filter_metadata' || key === 'metadata' ? val : normalizeKeys(val);
  }
  return out;
}

/** Reads a google.protobuf.Duration in proto3 JSON ("1.5s") or message form ({seconds, nanos}) as ms. */
export function durationMs(v: unknown, fallbackMs: number): number {
  if (v === undefined || v === null) return fallbackMs;
  if (typeof v === 'string') {
    const m = /^(-?\d+(?:\.\d+)?)s$/.exec(v.trim());
    if (!m) throw new TypeError(`duration ${JSON.stringify(v)} is not "<seconds>s"`);
    return Math.round(Number(m[1]) * 1000);
  }
  if (typeof v === 'object') {
    const d = v as { seconds?: unknown; nanos?: unknown };
    return Number(d.seconds ?? 0) * 1000 + Math.round(Number(d.nanos ?? 0) / 1e6);
  }
  if (typeof v === 'number') return v * 1000;
  throw new TypeError(`duration ${JSON.stringify(v)} is not a Duration`);
}

/** Reads a wrapper type (UInt32Value etc.): plain number in JSON, `{value}` from protobuf decode. */
/** A `UInt32Value` count that must be ≥ 1 (Envoy's `gte: 1` rule); throws naming the value. */
function positiveCount(v: unknown, fallback: number): number {
  const n = wrapped(v, fallback);
  if (!Number.isInteger(n) || n < 1 || n > 0xffffffff)
    throw new Error(`expected an integer ≥ 1, found ${JSON.stringify(v)}`);
  return n;
}

function wrapped(v: unknown, fallback: number): number {
  if (v === undefined || v === null) return fallback;
  if (typeof v === 'object') return Number((v as { value?: unknown }).value ?? fallback);
  return Number(v);
}

function bool(v: unknown): boolean {
  if (typeof v === 'object' && v !== null) return Boolean((v as { value?: unknown }).value);
  return Boolean(v);
}

function obj(v: unknown): Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {};
}

function arr(v: unknown): Json[] {
  return Array.isArray(v) ? (v as Json[]) : [];
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The short type name of an Any's `@type` (after the last `/`). */
function anyType(v: Json): string {
  const t = v['@type'];
  return typeof t === 'string' ? t.slice(t.lastIndexOf('/') + 1) : '';
}

/** Reads a config.core.v3.DataSource: inline_string, inline_bytes (base64 in JSON, Buffer when
 * decoded from protobuf) or filename (read synchronously; only in bootstrap/static use). */
export function dataSource(v: unknown, readFile: (path: string) => string): string | undefined {
  const d = obj(v);
  if (typeof d.inline_string === 'string') return d.inline_string;
  if (d.inline_bytes instanceof Uint8Array) return Buffer.from(d.inline_bytes).toString('utf8');
  if (typeof d.inline_bytes === 'string') return Buffer.from(d.inline_bytes, 'base64').toString('utf8');
  if (typeof d.filename === 'string') return readFile(d.filename);
  if (typeof d.environment_variable === 'string') return process.env[d.environment_variable];
  return undefined;
}

/**
 * Compiles Envoy's RE2 `safe_regex` into a JS RegExp anchored for a full match (Envoy matches the
 * whole value). RE2 syntax is a subset of JS regex syntax except for a few escapes, so constructs
 * JS reads differently (backreferences, lookarounds) are rejected.
 */
export function compileRegex(re: string): RegExp {
  if (/\\[1-9]|\(\?[=!<]/.test(re))
    throw new TypeError(`regex ${JSON.stringify(re)} uses a construct RE2 does not support`);
  return new RegExp(`^(?:${re})$`, 'u');
}

class Problems {
  readonly list: string[] = [];
  add(path: string, rule: string): void {
    this.list.push(`${path}: ${rule}`);
  }
  /** Runs `fn`, recording a thrown error under `path`; returns `fallback` then. */
  try<T>(path: string, fn: () => T, fallback: T): T {
    try {
      return fn();
    } catch (err) {
      this.add(path, err instanceof Error ? err.message : String(err));
      return fallback;
    }
  }
  throwIfAny(what: string): void {
    if (this.list.length) throw new ConfigError(what, this.list);
  }
}

function stringMatcher(v: Json, path: string, p: Problems): StringMatcher | undefined {
  const ignoreCase = bool(v.ignore_case);
  for (const kind of ['exact', 'prefix', 'suffix', 'contains'] as const) {
    if (typeof v[kind] === 'string')
      return {
        kind,
        value: ignoreCase ? (v[kind] as string).toLowerCase() : (v[kind] as string),
        ignoreCase,
      };
  }
  const sr = obj(v.safe_regex);
  if (typeof sr.regex === 'string')
    return p.try(
      `${path}.safe_regex`,
      () => ({ kind: 'regex', regex: compileRegex(sr.regex as string) }),
      undefined,
    );
  p.add(path, 'a StringMatcher needs one of exact, prefix, suffix, contains, safe_regex');
  return undefined;
}

function sanMatchers(v: Json, path: string, p: Problems): SanMatcher[] {
  const out: SanMatcher[] = [];
  arr(v.match_typed_subject_alt_names).forEach((m, i) => {
    const t = String(m.san_type ?? '');
    const sanType = t === 'URI' || t === 'DNS' || t === 'EMAIL' || t === 'IP_ADDRESS' ? t : undefined;
    if (!sanType)
      p.add(
        `${path}.match_typed_subject_alt_names[${i}].san_type`,
        `unsupported SAN type ${JSON.stringify(m.san_type)}`,
      );
    const matcher = stringMatcher(obj(m.matcher), `${path}.match_typed_subject_alt_names[${i}].matcher`, p);
    if (sanType && matcher) out.push({ sanType, matcher });
  });
  arr(v.match_subject_alt_names).forEach((m, i) => {
    const matcher = stringMatcher(m, `${path}.match_subject_alt_names[${i}]`, p);
    if (matcher) out.push({ sanType: undefined, matcher });
  });
  return out;
}

// ---------------------------------------------------------------------------------------------
// secrets and TLS contexts

/** Parses a CertificateValidationContext (SPIFFE validator config or trusted_ca). */
function validationContext(
  name: string,
  v: Json,
  path: string,
  p: Problems,
  readFile: (f: string) => string,
): ValidationContextSecret {
  const out: ValidationContextSecret = {
    kind: 'validation_context',
    name,
    sanMatchers: sanMatchers(v, path, p),
    allowExpired: bool(v.allow_expired_certificate),
  };
  const custom = obj(v.custom_validator_config);
  if (Object.keys(custom).length) {
    const tc = obj(custom.typed_config);
    if (
      custom.name !== 'envoy.tls.cert_validator.spiffe' &&
      anyType(tc) !== 'envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig'
    ) {
      p.add(`${path}.custom_validator_config.name`, `unsupported validator ${JSON.stringify(custom.name)}`);
    } else {
      out.spiffeTrustDomains = new Map();
      arr(tc.trust_domains).forEach((td, i) => {
        const tdName = str(td.name);
        const pem = p.try(
          `${path}.custom_validator_config.typed_config.trust_domains[${i}].trust_bundle`,
          () => dataSource(td.trust_bundle, readFile),
          undefined,
        );
        if (!tdName)
          p.add(
            `${path}.custom_validator_config.typed_config.trust_domains[${i}].name`,
            'trust domain name is required',
          );
        else if (tdName.includes('://'))
          p.add(
            `${path}.custom_validator_config.typed_config.trust_domains[${i}].name`,
            `trust domain ${JSON.stringify(tdName)} must be bare (no spiffe://)`,
          );
        else if (!pem)
          p.add(
            `${path}.custom_validator_config.typed_config.trust_domains[${i}].trust_bundle`,
            'trust bundle is required',
          );
        else out.spiffeTrustDomains!.set(tdName, pem);
      });
    }
  }
  if (v.trusted_ca !== undefined)
    out.trustedCaPem = p.try(`${path}.trusted_ca`, () => dataSource(v.trusted_ca, readFile), undefined);
  return out;
}

/** Parses an Envoy `tls.v3.Secret` resource. Throws ConfigError. */
export function parseSecret(raw: unknown, readFile: (f: string) => string = readDataFile): SecretConfig {
  const v = normalizeKeys(raw) as Json;
  const p = new Problems();
  const name = str(v.name) ?? '';
  if (!name) p.add('name', 'secret name is required');
  let out: SecretConfig | undefined;
  if (v.tls_certificate) {
    const c = obj(v.tls_certificate);
    const chain = p.try(
      'tls_certificate.certificate_chain',
      () => dataSource(c.certificate_chain, readFile),
      undefined,
    );
    const key = p.try('tls_certificate.private_key', () => dataSource(c.private_key, readFile), undefined);
    if (!chain) p.add('tls_certificate.certificate_chain', 'certificate chain is required');
    if (!key) p.add('tls_certificate.private_key', 'private key is required');
    out = { kind: 'tls_certificate', name, certificateChainPem: chain ?? '', privateKeyPem: key ?? '' };
  } else if (v.validation_context) {
    out = validationContext(name, obj(v.validation_context), 'validation_context', p, readFile);
  } else {
    p.add('type', 'secret must hold tls_certificate or validation_context');
  }
  p.throwIfAny(`secret ${JSON.stringify(name)}`);
  return out!;
}

function tlsContext(
  v: Json,
  owner: string,
  path: string,
  p: Problems,
  readFile: (f: string) => string,
): TlsContextConfig {
  const c = obj(v.common_tls_context);
  const out: TlsContextConfig = {
    certificateSecret: undefined,
    validationSecret: undefined,
    defaultValidation: undefined,
    alpn: arr(c.alpn_protocols).map(String),
    inlineSecrets: [],
    sdsNames: [],
  };
  const sdsRef = (s: Json): string | undefined => {
    const n = str(s.name);
    if (n && s.sds_config !== undefined) out.sdsNames.push(n);
    return n;
  };
  const certs = arr(c.tls_certificates);
  const sdsCerts = arr(c.tls_certificate_sds_secret_configs);
  if (certs.length) {
    const name = `inline:${owner}:certificate`;
    const secret = p.try(
      `${path}.common_tls_context.tls_certificates[0]`,
      () => parseSecret({ name, tls_certificate: certs[0] }, readFile),
      undefined,
    );
    if (secret) out.inlineSecrets.push(secret);
    out.certificateSecret = name;
  } else if (sdsCerts.length) {
    out.certificateSecret = sdsRef(sdsCerts[0]!);
    if (!out.certificateSecret)
      p.add(
        `${path}.common_tls_context.tls_certificate_sds_secret_configs[0].name`,
        'secret name is required',
      );
  }
  const inlineValidation = (vc: Json, vpath: string): void => {
    const name = `inline:${owner}:validation`;
    out.inlineSecrets.push(validationContext(name, vc, vpath, p, readFile));
    out.validationSecret = name;
  };
  if (c.validation_context)
    inlineValidation(obj(c.validation_context), `${path}.common_tls_context.validation_context`);
  else if (c.validation_context_sds_secret_config)
    out.validationSecret = sdsRef(obj(c.validation_context_sds_secret_config));
  else if (c.combined_validation_context) {
    const cv = obj(c.combined_validation_context);
    out.defaultValidation = validationContext(
      `default:${owner}`,
      obj(cv.default_validation_context),
      `${path}.common_tls_context.combined_validation_context.default_validation_context`,
      p,
      readFile,
    );
    out.validationSecret = sdsRef(obj(cv.validation_context_sds_secret_config));
    if (!out.validationSecret)
      p.add(
        `${path}.common_tls_context.combined_validation_context.validation_context_sds_secret_config.name`,
        'secret name is required',
      );
  }
  return out;
}

function transportSocketTls(ts: Json, path: string, p: Problems): Json | undefined {
  if (!Object.keys(ts).length) return undefined;
  const tc = obj(ts.typed_config);
  const t = anyType(tc);
  if (
    ts.name === 'envoy.transport_sockets.raw_buffer' ||
    t === 'envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer'
  )
    return undefined;
  if (
    t !== 'envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext' &&
    t !== 'envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext'
  ) {
    p.add(`${path}.typed_config`, `unsupported transport socket ${JSON.stringify(tc['@type'] ?? ts.name)}`);
    return undefined;
  }
  return tc;
}

// ---------------------------------------------------------------------------------------------
// routes

function retryPolicy(v: Json, path: string, p: Problems): RetryPolicyConfig | undefined {
  if (!Object.keys(v).length) return undefined;
  const on = new Set(
    String(v.retry_on ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  const known = [
    '5xx',
    'gateway-error',
    'reset',
    'connect-failure',
    'retriable-status-codes',
    'refused-stream',
    'retriable-4xx',
    'cancelled',
    'deadline-exceeded',
    'internal',
    'resource-exhausted',
    'unavailable',
    'http3-post-connect-failure',
    'envoy-ratelimited',
    'retriable-headers',
    'reset-before-request',
  ];
  for (const o of on)
    if (!known.includes(o)) p.add(`${path}.retry_on`, `unknown retry condition ${JSON.stringify(o)}`);
  return {
    on,
    numRetries: wrapped(v.num_retries, 1),
    perTryTimeoutMs: p.try(`${path}.per_try_timeout`, () => durationMs(v.per_try_timeout, 0), 0),
    retriableStatusCodes: new Set(arr(v.retriable_status_codes).map(Number)),
  };
}

function headerMatcher(h: Json, path: string, p: Problems): HeaderMatcherConfig | undefined {
  const name = str(h.name)?.toLowerCase();
  if (!name) {
    p.add(`${path}.name`, 'header name is required');
    return undefined;
  }
  const invert = bool(h.invert_match);
  let test: HeaderMatcherConfig['test'] | undefined;
  if (h.string_match) {
    const m = stringMatcher(obj(h.string_match), `${path}.string_match`, p);
    if (m) test = { kind: 'string', matcher: m };
  } else if (typeof h.exact_match === 'string')
    test = { kind: 'string', matcher: { kind: 'exact', value: h.exact_match, ignoreCase: false } };
  else if (typeof h.prefix_match === 'string')
    test = { kind: 'string', matcher: { kind: 'prefix', value: h.prefix_match, ignoreCase: false } };
  else if (typeof h.suffix_match === 'string')
    test = { kind: 'string', matcher: { kind: 'suffix', value: h.suffix_match, ignoreCase: false } };
  else if (typeof h.contains_match === 'string')
    test = { kind: 'string', matcher: { kind: 'contains', value: h.contains_match, ignoreCase: false } };
  else if (h.safe_regex_match) {
    const m = stringMatcher({ safe_regex: h.safe_regex_match }, `${path}.safe_regex_match`, p);
    if (m) test = { kind: 'string', matcher: m };
  } else if (h.range_match) {
    const r = obj(h.range_match);
    test = p.try(
      `${path}.range_match`,
      () => ({
        kind: 'range' as const,
        start: BigInt(String(r.start ?? 0)),
        end: BigInt(String(r.end ?? 0)),
      }),
      undefined,
    );
  } else if (h.present_match !== undefined) test = { kind: 'present', present: bool(h.present_match) };
  else test = { kind: 'present', present: true };
  return test ? { name, invert, test } : undefined;
}

function routeMatch(m: Json, path: string, p: Problems): RouteMatchConfig {
  const ignoreCase = m.case_sensitive !== undefined && !bool(m.case_sensitive);
  let pm: RouteMatchConfig['path'];
  if (typeof m.prefix === 'string')
    pm = { kind: 'prefix', value: ignoreCase ? m.prefix.toLowerCase() : m.prefix, ignoreCase };
  else if (typeof m.path === 'string')
    pm = { kind: 'path', value: ignoreCase ? m.path.toLowerCase() : m.path, ignoreCase };
  else if (m.safe_regex)
    pm = p.try<RouteMatchConfig['path']>(
      `${path}.safe_regex`,
      () => ({ kind: 'regex', regex: compileRegex(String(obj(m.safe_regex).regex)) }),
      { kind: 'prefix', value: '/', ignoreCase: false },
    );
  else if (typeof m.path_separated_prefix === 'string')
    pm = { kind: 'prefix', value: m.path_separated_prefix, ignoreCase: false };
  else {
    p.add(path, 'route match needs prefix, path or safe_regex');
    pm = { kind: 'prefix', value: '/', ignoreCase: false };
  }
  const headers = arr(m.headers).flatMap((h, i) => headerMatcher(h, `${path}.headers[${i}]`, p) ?? []);
  const queryParameters = arr(m.query_parameters).map((q, i) => ({
    name: String(q.name ?? ''),
    matcher: q.string_match
      ? stringMatcher(obj(q.string_match), `${path}.query_parameters[${i}].string_match`, p)
      : undefined,
    present: q.string_match === undefined,
  }));
  return { path: pm, headers, queryParameters, grpc: m.grpc !== undefined };
}

function routeEntry(r: Json, path: string, p: Problems): RouteConfigEntry | undefined {
  const match = routeMatch(obj(r.match), `${path}.match`, p);
  const name = str(r.name) ?? '';
  if (r.route) {
    const a = obj(r.route);
    let clusters: { name: string; weight: number }[] = [];
    if (typeof a.cluster === 'string') clusters = [{ name: a.cluster, weight: 1 }];
    else if (a.weighted_clusters) {
      const wc = obj(a.weighted_clusters);
      clusters = arr(wc.clusters).map((c) => ({ name: String(c.name ?? ''), weight: wrapped(c.weight, 0) }));
      if (!clusters.length)
        p.add(`${path}.route.weighted_clusters.clusters`, 'at least one cluster is required');
    } else p.add(`${path}.route`, 'route action needs cluster or weighted_clusters');
    const totalWeight = clusters.reduce((s, c) => s + c.weight, 0);
    if (clusters.length && totalWeight <= 0)
      p.add(`${path}.route.weighted_clusters`, 'total weight must be positive');
    return {
      name,
      match,
      action: {
        kind: 'route',
        clusters,
        totalWeight,
        // App Mesh / Envoy default route timeout is 15 s; 0 disables.
        timeoutMs: p.try(`${path}.route.timeout`, () => durationMs(a.timeout, 15_000), 15_000),
        timeoutExplicit: a.timeout !== undefined,
        idleTimeoutMs: p.try(`${path}.route.idle_timeout`, () => durationMs(a.idle_timeout, 0), 0),
        retry: retryPolicy(obj(a.retry_policy), `${path}.route.retry_policy`, p),
        prefixRewrite: typeof a.prefix_rewrite === 'string' ? a.prefix_rewrite : undefined,
        regexRewrite: a.regex_rewrite
          ? p.try(
              `${path}.route.regex_rewrite`,
              () => {
                const rr = obj(a.regex_rewrite);
                const re = String(obj(rr.pattern).regex ?? '');
                compileRegex(re);
                // Envoy substitutes \1-style groups; JS uses $1.
                return {
                  pattern: new RegExp(re, 'gu'),
                  substitution: String(rr.substitution ?? '').replace(/\\(\d)/g, '$$$1'),
                };
              },
              undefined,
            )
          : undefined,
        hostRewrite: str(a.host_rewrite_literal),
      },
    };
  }
  if (r.direct_response) {
    const d = obj(r.direct_response);
    return {
      name,
      match,
      action: {
        kind: 'direct_response',
        status: Number(d.status ?? 200),
        body: dataSource(d.body, readDataFile) ?? '',
      },
    };
  }
  if (r.redirect) {
    const d = obj(r.redirect);
    const codes: Record<string, number> = {
      MOVED_PERMANENTLY: 301,
      FOUND: 302,
      SEE_OTHER: 303,
      TEMPORARY_REDIRECT: 307,
      PERMANENT_REDIRECT: 308,
    };
    return {
      name,
      match,
      action: {
        kind: 'redirect',
        status: codes[String(d.response_code ?? 'MOVED_PERMANENTLY')] ?? 301,
        location: { host: str(d.host_redirect), path: str(d.path_redirect), scheme: str(d.scheme_redirect) },
      },
    };
  }
  p.add(path, 'route needs route, direct_response or redirect');
  return undefined;
}

function routeConfiguration(v: Json, p: Problems, prefix = ''): RouteConfiguration {
  const virtualHosts = arr(v.virtual_hosts).map((vh, i) => {
    const path = `${prefix}virtual_hosts[${i}]`;
    const domains = arr(vh.domains).map(String);
    if (!domains.length) p.add(`${path}.domains`, 'at least one domain is required');
    return {
      name: String(vh.name ?? ''),
      domains,
      routes: arr(vh.routes).flatMap((r, j) => routeEntry(r, `${path}.routes[${j}]`, p) ?? []),
      retry: retryPolicy(obj(vh.retry_policy), `${path}.retry_policy`, p),
    };
  });
  return {
    name: String(v.name ?? ''),
    virtualHosts,
    validateClusters: v.validate_clusters === undefined ? undefined : bool(v.validate_clusters),
  };
}

/**
 * Envoy RouteConfiguration `validate_clusters`: when it applies (as set, else true for an inline
 * `route_config` and false for RDS), every cluster a route names (`cluster`, `weighted_clusters`)
 * must exist, or the whole configuration is rejected ("unknown cluster"). Without validation a
 * request routed to a missing cluster gets 503 and counts `no_cluster` (Envoy's `NC`).
 * Returns one problem per missing cluster reference; empty when valid or not validated.
 */
export function unknownRouteClusters(
  rc: RouteConfiguration,
  inline: boolean,
  known: (cluster: string) => boolean,
): string[] {
  if (!(rc.validateClusters ?? inline)) return [];
  const problems: string[] = [];
  for (const vh of rc.virtualHosts)
    for (const r of vh.routes) {
      if (r.action.kind !== 'route') continue;
      for (const c of r.action.clusters)
        if (!known(c.name))
          problems.push(
            `route configuration ${JSON.stringify(rc.name)}: virtual host ${JSON.stringify(vh.name)} route ${JSON.stringify(r.name)}: unknown cluster ${JSON.stringify(c.name)} (validate_clusters)`,
          );
    }
  return problems;
}

/** The inline `route_config`s of a listener's http_connection_manager filter chains. */
export function inlineRouteConfigs(l: ListenerConfig): RouteConfiguration[] {
  const chains = l.defaultFilterChain ? [...l.filterChains, l.defaultFilterChain] : l.filterChains;
  return chains.flatMap((c) =>
    c.filter.kind === 'http' && c.filter.routeConfig ? [c.filter.routeConfig] : [],
  );
}

/** Parses an Envoy RouteConfiguration. Throws ConfigError naming every problem. */
export function parseRouteConfiguration(raw: unknown): RouteConfiguration {
  const v = normalizeKeys(raw) as Json;
  const p = new Problems();
  if (!str(v.name)) p.add('name', 'route configuration name is required');
  const out = routeConfiguration(v, p);
  p.throwIfAny(`route configuration ${JSON.stringify(v.name ?? '')}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// listeners

function networkFilter(
  f: Json,
  path: string,
  p: Problems,
): HttpConnectionManagerConfig | TcpProxyConfig | undefined {
  const tc = obj(f.typed_config);
  const t = anyType(tc);
  if (t === 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager') {
    const codec = String(tc.codec_type ?? 'AUTO');
    if (codec !== 'AUTO' && codec !== 'HTTP1' && codec !== 'HTTP2')
      p.add(`${path}.typed_config.codec_type`, `unsupported codec ${codec}`);
    const rds = obj(tc.rds);
    const routeConfig = tc.route_config
      ? routeConfiguration(obj(tc.route_config), p, `${path}.typed_config.route_config.`)
      : undefined;
    if (!routeConfig && !str(rds.route_config_name))
      p.add(`${path}.typed_config`, 'http_connection_manager needs route_config or rds.route_config_name');
    for (const [i, hf] of arr(tc.http_filters).entries()) {
      const hn = String(hf.name ?? '');
      const ht = anyType(obj(hf.typed_config));
      if (
        hn !== 'envoy.filters.http.router' &&
        ht !== 'envoy.extensions.filters.http.router.v3.Router' &&
        hn !== 'envoy.filters.http.grpc_stats' &&
        hn !== 'envoy.filters.http.health_check'
      ) {
        p.add(
          `${path}.typed_config.http_filters[${i}]`,
          `unsupported http filter ${JSON.stringify(hn || ht)}`,
        );
      }
    }
    // Only Envoy's default (SANITIZE: the x-forwarded-client-cert header never reaches the next hop)
    // is implemented; forwarding or setting it would silently not happen, so refuse the config.
    const fcc = tc.forward_client_cert_details;
    if (fcc !== undefined && fcc !== 'SANITIZE' && fcc !== 0)
      p.add(
        `${path}.typed_config.forward_client_cert_details`,
        `only SANITIZE (Envoy's default) is supported, found ${JSON.stringify(fcc)}`,
      );
    const common = obj(tc.common_http_protocol_options);
    const logs = arr(tc.access_log);
    const logPath = logs.length ? str(obj(logs[0]!.typed_config).path) : undefined;
    return {
      kind: 'http',
      statPrefix: String(tc.stat_prefix ?? 'ingress_http'),
      codec: codec as HttpConnectionManagerConfig['codec'],
      routeConfig,
      rdsName: str(rds.route_config_name),
      streamIdleTimeoutMs: p.try(
        `${path}.typed_config.stream_idle_timeout`,
        () => durationMs(tc.stream_idle_timeout, 300_000),
        300_000,
      ),
      requestHeadersTimeoutMs: p.try(
        `${path}.typed_config.request_headers_timeout`,
        () => durationMs(tc.request_headers_timeout, 10_000),
        10_000,
      ),
      idleTimeoutMs: p.try(
        `${path}.typed_config.common_http_protocol_options.idle_timeout`,
        () => durationMs(common.idle_timeout, 3_600_000),
        3_600_000,
      ),
      maxRequestHeadersKb: wrapped(tc.max_request_headers_kb, 60),
      maxHeadersCount: p.try(
        `${path}.typed_config.common_http_protocol_options.max_headers_count`,
        () => positiveCount(common.max_headers_count, 100),
        100,
      ),
      accessLogPath: logPath,
    };
  }
  if (t === 'envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy') {
    let clusters: { name: string; weight: number }[];
    if (typeof tc.cluster === 'string') clusters = [{ name: tc.cluster, weight: 1 }];
    else
      clusters = arr(obj(tc.weighted_clusters).clusters).map((c) => ({
        name: String(c.name),
        weight: wrapped(c.weight, 1),
      }));
    if (!clusters.length) p.add(`${path}.typed_config`, 'tcp_proxy needs cluster or weighted_clusters');
    return {
      kind: 'tcp',
      statPrefix: String(tc.stat_prefix ?? 'tcp'),
      clusters,
      idleTimeoutMs: p.try(
        `${path}.typed_config.idle_timeout`,
        () => durationMs(tc.idle_timeout, 3_600_000),
        3_600_000,
      ),
    };
  }
  p.add(`${path}.typed_config`, `unsupported network filter ${JSON.stringify(tc['@type'] ?? f.name)}`);
  return undefined;
}

function filterChain(
  fc: Json,
  listenerName: string,
  path: string,
  p: Problems,
  readFile: (f: string) => string,
): FilterChainConfig | undefined {
  const m = obj(fc.filter_chain_match);
  const match: FilterChainMatchConfig = {
    destinationPort: m.destination_port === undefined ? undefined : wrapped(m.destination_port, 0),
    prefixRanges: arr(m.prefix_ranges).map((r) => ({
      address: String(r.address_prefix ?? ''),
      prefixLen: wrapped(r.prefix_len, 32),
    })),
    transportProtocol: str(m.transport_protocol),
    serverNames: arr(m.server_names).map(String),
    applicationProtocols: arr(m.application_protocols).map(String),
  };
  const name = str(fc.name) ?? `${listenerName}#${path}`;
  let tls: DownstreamTlsConfig | undefined;
  const tsc = transportSocketTls(obj(fc.transport_socket), `${path}.transport_socket`, p);
  if (tsc) {
    tls = {
      ...tlsContext(tsc, name, `${path}.transport_socket.typed_config`, p, readFile),
      requireClientCertificate: bool(tsc.require_client_certificate),
    };
    if (!tls.certificateSecret)
      p.add(
        `${path}.transport_socket.typed_config.common_tls_context`,
        'a server TLS context needs a certificate',
      );
  }
  const filters = arr(fc.filters);
  if (filters.length !== 1)
    p.add(`${path}.filters`, `exactly one terminal network filter is supported, found ${filters.length}`);
  const filter = filters.length
    ? networkFilter(filters[filters.length - 1]!, `${path}.filters[${filters.length - 1}]`, p)
    : undefined;
  return filter ? { name, match, tls, filter } : undefined;
}

/** Parses an Envoy Listener. `readFile` resolves DataSource filenames (static bootstrap only). */
export function parseListener(raw: unknown, readFile: (f: string) => string = readDataFile): ListenerConfig {
  const v = normalizeKeys(raw) as Json;
  const p = new Problems();
  const name = str(v.name) ?? '';
  if (!name) p.add('name', 'listener name is required');
  const sa = obj(obj(v.address).socket_address);
  const address = str(sa.address) ?? '';
  const port = Number(sa.port_value ?? -1);
  if (!address) p.add('address.socket_address.address', 'address is required');
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    p.add('address.socket_address.port_value', `port ${JSON.stringify(sa.port_value)} is not 0–65535`);
  const filterChains = arr(v.filter_chains).flatMap(
    (fc, i) => filterChain(fc, name, `filter_chains[${i}]`, p, readFile) ?? [],
  );
  const defaultFilterChain = v.default_filter_chain
    ? filterChain(obj(v.default_filter_chain), name, 'default_filter_chain', p, readFile)
    : undefined;
  if (!filterChains.length && !defaultFilterChain)
    p.add('filter_chains', 'at least one filter chain is required');
  const tlsInspector = arr(v.listener_filters).some(
    (f) =>
      f.name === 'envoy.filters.listener.tls_inspector' ||
      anyType(obj(f.typed_config)).endsWith('tls_inspector.v3.TlsInspector'),
  );
  const originalDstFilter = arr(v.listener_filters).some(
    (f) =>
      f.name === 'envoy.filters.listener.original_dst' ||
      anyType(obj(f.typed_config)).endsWith('original_dst.v3.OriginalDst'),
  );
  for (const [i, f] of arr(v.listener_filters).entries()) {
    const n = String(f.name ?? anyType(obj(f.typed_config)));
    if (!/tls_inspector|original_dst|http_inspector|TlsInspector|OriginalDst|HttpInspector/.test(n))
      p.add(`listener_filters[${i}]`, `unsupported listener filter ${JSON.stringify(n)}`);
  }
  p.throwIfAny(`listener ${JSON.stringify(name)}`);
  return {
    name,
    address,
    port,
    useOriginalDst: bool(v.use_original_dst),
    tlsInspector,
    originalDstFilter,
    filterChains,
    defaultFilterChain,
    statName: `${address}_${port}`,
  };
}

// ---------------------------------------------------------------------------------------------
// clusters and endpoints

function lbEndpoints(cla: Json, path: string, p: Problems): EndpointConfig[] {
  const out: EndpointConfig[] = [];
  arr(cla.endpoints).forEach((le, i) => {
    arr(le.lb_endpoints).forEach((e, j) => {
      const sa = obj(obj(obj(e.endpoint).address).socket_address);
      const address = str(sa.address);
      const port = Number(sa.port_value ?? -1);
      if (!address || !Number.isInteger(port) || port < 0 || port > 65535) {
        p.add(
          `${path}endpoints[${i}].lb_endpoints[${j}].endpoint.address.socket_address`,
          'address and port_value 0–65535 are required',
        );
        return;
      }
      const hs = String(e.health_status ?? 'UNKNOWN');
      out.push({
        address,
        port,
        weight: wrapped(e.load_balancing_weight, 1),
        healthy: hs !== 'UNHEALTHY' && hs !== 'DRAINING' && hs !== 'TIMEOUT',
      });
    });
  });
  return out;
}

/** Parses an Envoy ClusterLoadAssignment. */
export function parseLoadAssignment(raw: unknown): LoadAssignmentConfig {
  const v = normalizeKeys(raw) as Json;
  const p = new Problems();
  const clusterName = str(v.cluster_name) ?? '';
  if (!clusterName) p.add('cluster_name', 'cluster name is required');
  const endpoints = lbEndpoints(v, '', p);
  p.throwIfAny(`load assignment ${JSON.stringify(clusterName)}`);
  return { clusterName, endpoints };
}

/** Parses an Envoy Cluster. */
export function parseCluster(raw: unknown, readFile: (f: string) => string = readDataFile): ClusterConfig {
  const v = normalizeKeys(raw) as Json;
  const p = new Problems();
  const name = str(v.name) ?? '';
  if (!name) p.add('name', 'cluster name is required');
  const type = String(v.type ?? 'STATIC') as ClusterConfig['type'];
  if (!['STATIC', 'STRICT_DNS', 'LOGICAL_DNS', 'EDS', 'ORIGINAL_DST'].includes(type))
    p.add('type', `unsupported discovery type ${type}`);
  const lb = String(v.lb_policy ?? 'ROUND_ROBIN');
  if (lb !== 'ROUND_ROBIN' && lb !== 'LEAST_REQUEST' && lb !== 'RANDOM' && lb !== 'CLUSTER_PROVIDED')
    p.add('lb_policy', `unsupported lb policy ${lb}`);
  const upo = obj(
    obj(v.typed_extension_protocol_options)['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'],
  );
  const http2 =
    v.http2_protocol_options !== undefined ||
    obj(upo.explicit_http_config).http2_protocol_options !== undefined ||
    (obj(upo.use_downstream_protocol_config).http2_protocol_options !== undefined && false);
  let tls: UpstreamTlsConfig | undefined;
  const tsc = transportSocketTls(obj(v.transport_socket), 'transport_socket', p);
  if (tsc)
    tls = { ...tlsContext(tsc, name, 'transport_socket.typed_config', p, readFile), sni: str(tsc.sni) };
  const healthChecks = arr(v.health_checks).map((h, i): HealthCheckConfig => {
    const path = `health_checks[${i}]`;
    const hh = obj(h.http_health_check);
    // grpc_health_check is approximated by a connect check (the upstream accepts connections).
    const kind = h.http_health_check ? 'http' : 'tcp';
    if (!h.http_health_check && !h.tcp_health_check && !h.grpc_health_check)
      p.add(path, 'only http_health_check, tcp_health_check and grpc_health_check are supported');
    const expected = arr(hh.expected_statuses).map(
      (r) => [Number(r.start), Number(r.end)] as [number, number],
    );
    return {
      kind,
      path: String(hh.path ?? '/'),
      host: str(hh.host),
      expectedStatuses: expected.length ? expected : [[200, 201]],
      timeoutMs: p.try(`${path}.timeout`, () => durationMs(h.timeout, 1000), 1000),
      intervalMs: p.try(`${path}.interval`, () => durationMs(h.interval, 5000), 5000),
      unhealthyThreshold: wrapped(h.unhealthy_threshold, 2),
      healthyThreshold: wrapped(h.healthy_threshold, 2),
    };
  });
  let outlier: OutlierDetectionConfig | undefined;
  if (v.outlier_detection) {
    const o = obj(v.outlier_detection);
    outlier = {
      consecutive5xx: wrapped(o.consecutive_5xx, 5),
      baseEjectionTimeMs: p.try(
        'outlier_detection.base_ejection_time',
        () => durationMs(o.base_ejection_time, 30_000),
        30_000,
      ),
      maxEjectionPercent: wrapped(o.max_ejection_percent, 10),
      intervalMs: p.try('outlier_detection.interval', () => durationMs(o.interval, 10_000), 10_000),
    };
  }
  const th =
    arr(obj(v.circuit_breakers).thresholds).find((t) => (t.priority ?? 'DEFAULT') === 'DEFAULT') ?? {};
  const circuitBreakers = {
    maxConnections: wrapped(th.max_connections, 1024),
    maxPendingRequests: wrapped(th.max_pending_requests, 1024),
    maxRequests: wrapped(th.max_requests, 1024),
    maxRetries: wrapped(th.max_retries, 3),
  };
  const cla = v.load_assignment ? obj(v.load_assignment) : undefined;
  const loadAssignment = cla
    ? { clusterName: name, endpoints: lbEndpoints(cla, 'load_assignment.', p) }
    : undefined;
  if ((type === 'STATIC' || type === 'STRICT_DNS' || type === 'LOGICAL_DNS') && !loadAssignment)
    p.add('load_assignment', `a ${type} cluster needs load_assignment`);
  const common = obj(upo.common_http_protocol_options ?? v.common_http_protocol_options);
  const out: ClusterConfig = {
    name,
    type,
    edsServiceName: str(obj(v.eds_cluster_config).service_name) ?? name,
    connectTimeoutMs: p.try('connect_timeout', () => durationMs(v.connect_timeout, 5000), 5000),
    http2,
    loadAssignment,
    tls,
    healthChecks,
    outlier,
    circuitBreakers,
    idleTimeoutMs: p.try(
      'common_http_protocol_options.idle_timeout',
      () => durationMs(common.idle_timeout, 3_600_000),
      3_600_000,
    ),
  };
  p.throwIfAny(`cluster ${JSON.stringify(name)}`);
  return out;
}

/**
 * Parses an Envoy bootstrap (JSON/YAML already decoded): `node`, `admin`, `static_resources`
 * (listeners, clusters, secrets). `readFile` resolves DataSource filenames. Throws ConfigError.
 */
export function parseBootstrap(raw: unknown, readFile: (f: string) => string): BootstrapConfig {
  const v = normalizeKeys(raw) as Json;
  const p = new Problems();
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    p.add(
      '(top level)',
      `must be a Bootstrap object, found ${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v}`,
    );
    p.throwIfAny('bootstrap');
  }
  const sr = obj(v.static_resources);
  const collect = <T>(items: unknown, kind: string, fn: (x: Json) => T): T[] => {
    if (items === undefined || items === null) return [];
    if (!Array.isArray(items)) {
      p.add(`static_resources.${kind}`, 'must be a list');
      return [];
    }
    return items.flatMap((x: unknown, i) => {
      try {
        if (x === null || typeof x !== 'object' || Array.isArray(x)) throw new TypeError('must be an object');
        return [fn(x as Json)];
      } catch (err) {
        p.add(`static_resources.${kind}[${i}]`, err instanceof Error ? err.message : String(err));
        return [];
      }
    });
  };
  const listeners = collect(sr.listeners, 'listeners', (x) => parseListener(x, readFile));
  const clusters = collect(sr.clusters, 'clusters', (x) => parseCluster(x, readFile));
  const secrets = collect(sr.secrets, 'secrets', (x) => parseSecret(x, readFile));
  const clusterNames = new Set(clusters.map((c) => c.name));
  listeners.forEach((l, i) => {
    for (const rc of inlineRouteConfigs(l))
      for (const problem of unknownRouteClusters(rc, true, (c) => clusterNames.has(c)))
        p.add(`static_resources.listeners[${i}] ${JSON.stringify(l.name)}`, problem);
  });
  const node = obj(v.node);
  const adminSa = obj(obj(obj(v.admin).address).socket_address);
  const adminAddress = adminSa.address === undefined ? undefined : String(adminSa.address);
  if (adminAddress !== undefined && net.isIP(adminAddress) === 0)
    p.add(
      'admin.address.socket_address.address',
      `must be an IP address, found ${JSON.stringify(adminSa.address)}`,
    );
  const adminPort = adminSa.port_value === undefined ? undefined : Number(adminSa.port_value);
  if (adminPort !== undefined && !isPort(adminPort))
    p.add(
      'admin.address.socket_address.port_value',
      `must be a port 0–65535, found ${JSON.stringify(adminSa.port_value)}`,
    );
  p.throwIfAny('bootstrap');
  return {
    nodeId: str(node.id),
    nodeCluster: str(node.cluster),
    adminAddress,
    adminPort,
    listeners,
    clusters,
    secrets,
    raw: v,
  };
}

/** Whether `n` is a TCP port number (0 = any free port). */
export function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 65535;
}

/** Reads a DataSource `filename` from the proxy's filesystem, as Envoy does for static and
 * dynamic resources alike (App Mesh file-based TLS). Errors name the file. */
function readDataFile(path: string): string {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (err) {
    throw new TypeError(
      `cannot read DataSource filename ${JSON.stringify(path)}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}
