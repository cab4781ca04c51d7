/**
 * Server configuration: SPIRE's `server.conf` key names (doc/spire_server.md), read from HCL
 * (`.conf`/`.hcl`, the subset in ./hcl.ts) or YAML/JSON (`.yaml`/`.yml`/`.json`, same structure), then
 * overridden by `server run` flags. Defaults are filled here and only here (spiffe.md §g.5).
 */
import { isAbsolute, resolve } from 'node:path';
import { TrustDomain } from '../../../spiffe/index.js';
import { ConfigError, InvalidArgumentError } from '../errors.js';
import { ConfigFileError, readConfigDocument, unreadKeys, type HclObject } from '../../config/index.js';

/** Default admin socket (SPIRE's path with our name). */
export const DEFAULT_SOCKET_PATH = '/tmp/trustmesh-server/private/api.sock';

/** One k8s_sat cluster: who may attest and which keys sign the service-account tokens. */
export interface K8sSatClusterConfig {
  /** PEM files holding the public key(s) (or certificates) that sign service-account JWTs */
  serviceAccountKeyFiles: string[];
  /** `namespace:serviceaccount` pairs allowed to attest */
  serviceAccountAllowList: string[];
}

/** The `https_spiffe` / `https_web` federation relationship with another trust domain. */
export interface FederatesWithConfig {
  trustDomain: TrustDomain;
  bundleEndpointUrl: string;
  profile: 'https_web' | 'https_spiffe';
  /** for https_spiffe: the endpoint's SPIFFE ID, e.g. spiffe://other/spire/server */
  endpointSpiffeId?: string;
}

/** Fully resolved server configuration (units in names; paths absolute). */
export interface ServerConfig {
  trustDomain: TrustDomain;
  bindAddress: string;
  bindPort: number;
  socketPath: string;
  dataDir: string;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  caTtlSeconds: number;
  defaultX509SvidTtlSeconds: number;
  defaultJwtSvidTtlSeconds: number;
  agentTtlSeconds: number;
  caKeyType: 'ec-p256';
  /** CA subject as an RFC 4514 string, e.g. "C=US, O=SPIFFE" */
  caSubject: string;
  jwtIssuer?: string;
  /** `disk`: CA keys in `keysPath` (mode 0600); `memory`: regenerated at each start */
  keyManager: { kind: 'disk'; keysPath: string } | { kind: 'memory' };
  /** SQLite database file */
  databasePath: string;
  joinToken: boolean;
  k8sSat?: { clusters: Map<string, K8sSatClusterConfig> };
  upstreamAuthority?: { certFilePath: string; keyFilePath: string; bundleFilePath?: string };
  /** Prometheus metrics listener (SPIRE `telemetry { Prometheus { host port } }`) */
  metrics?: { host: string; port: number };
  /** SPIRE `federation { bundle_endpoint { … } }` */
  bundleEndpoint?: {
    address: string;
    port: number;
    refreshHintSeconds: number;
    profile: 'https_spiffe' | 'https_web';
    /** https_web: serving cert and key PEM files */
    certFilePath?: string;
    keyFilePath?: string;
  };
  federatesWith: FederatesWithConfig[];
  /**
   * Keys of the file that this implementation does not read (dotted, e.g. `server.ratelimit`):
   * SPIRE refuses unknown keys; these may be SPIRE keys trustmesh lacks, so the server starts and
   * warns naming them instead.
   */
  ignoredKeys: string[];
}

/** Top-level sections and `server` keys the resolver reads (SPIRE's names). */
const TOP_LEVEL_KEYS = new Set(['server', 'plugins', 'telemetry']);
const SERVER_KEYS = new Set([
  'trust_domain',
  'data_dir',
  'log_level',
  'bind_address',
  'bind_port',
  'socket_path',
  'ca_ttl',
  'ca_key_type',
  'ca_subject',
  'default_x509_svid_ttl',
  'default_jwt_svid_ttl',
  'agent_ttl',
  'jwt_issuer',
  'federation',
]);

/** `server run` flags (spire-server names); each overrides the file. */
export interface RunFlags {
  config?: string;
  trustDomain?: string;
  dataDir?: string;
  socketPath?: string;
  bindAddress?: string;
  serverPort?: string | number;
  logLevel?: string;
}

/** Seconds of a duration, or what is wrong with it (each caller names the input its own way). */
function durationSecondsOrProblem(v: unknown): { seconds: number } | { problem: string } {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) return { seconds: v };
  if (typeof v !== 'string' || v.trim() === '')
    return { problem: `expected a duration like "24h", got ${JSON.stringify(v)}` };
  const unit: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600 };
  let total = 0;
  let rest = v.trim();
  if (/^[0-9]+(\.[0-9]+)?$/.test(rest)) return { seconds: Number(rest) };
  while (rest.length > 0) {
    const m = /^([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/.exec(rest);
    if (!m) return { problem: `expected a duration like "24h" or "1h30m", got ${JSON.stringify(v)}` };
    total += Number(m[1]) * unit[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  if (total <= 0) return { problem: `duration must be positive, got ${JSON.stringify(v)}` };
  return { seconds: total };
}

/**
 * Parses a Go-style duration given on a command line or in a request (`"24h"`, `"1h30m"`, `"5m"`,
 * `"500ms"`, `"90s"`) or a number of seconds into seconds (> 0, fractional for ms).
 * @throws InvalidArgumentError naming `field`, e.g. the flag `-ttl`.
 */
export function parseDurationSeconds(field: string, v: unknown): number {
  const r = durationSecondsOrProblem(v);
  if ('problem' in r) throw new InvalidArgumentError(field, r.problem);
  return r.seconds;
}

/** {@link parseDurationSeconds} for a config file key. @throws ConfigError naming `key`. */
function configDurationSeconds(key: string, v: unknown): number {
  const r = durationSecondsOrProblem(v);
  if ('problem' in r) throw new ConfigError(key, r.problem);
  return r.seconds;
}

function asObject(key: string, v: unknown): HclObject {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(key, 'expected a block');
  return v as HclObject;
}

function asString(key: string, v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' && typeof v !== 'number')
    throw new ConfigError(key, `expected a string, got ${JSON.stringify(v)}`);
  return String(v);
}

function asPort(key: string, v: unknown): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new ConfigError(key, `expected a port 0–65535, got ${JSON.stringify(v)}`);
  return n;
}

function asStringList(key: string, v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw new ConfigError(key, 'expected a list of strings');
  return v as string[];
}

/**
 * Reads and parses a config file (format by extension: `.yaml`/`.yml`/`.json` → YAML, else HCL).
 * Throws ConfigError when the file is unreadable or malformed.
 */
export function readConfigFile(path: string): HclObject {
  let doc: unknown;
  try {
    doc = readConfigDocument(path);
  } catch (err) {
    if (!(err instanceof ConfigFileError)) throw err;
    throw new ConfigError('-config', err.reason, { cause: err });
  }
  return asObject('(file)', doc);
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;

/**
 * Builds the resolved {@link ServerConfig} from a parsed file (or `{}`) and run flags. Relative
 * paths resolve against `cwd`. Throws ConfigError naming the first bad key.
 */
export function resolveServerConfig(file: HclObject, flags: RunFlags, cwd = process.cwd()): ServerConfig {
  const server = asObject('server', file['server']);
  const plugins = asObject('plugins', file['plugins']);
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(cwd, p));

  const tdRaw = flags.trustDomain ?? asString('server.trust_domain', server['trust_domain']);
  if (!tdRaw)
    throw new ConfigError('server.trust_domain', 'is required (set it in the file or pass -trustDomain)');
  let trustDomain: TrustDomain;
  try {
    trustDomain = TrustDomain.parse(tdRaw);
  } catch (err) {
    throw new ConfigError('server.trust_domain', (err as Error).message, { cause: err });
  }
  const dataDir = abs(flags.dataDir ?? asString('server.data_dir', server['data_dir']) ?? './.data');
  const logLevel = (
    flags.logLevel ??
    asString('server.log_level', server['log_level']) ??
    'info'
  ).toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(
      'server.log_level',
      `expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`,
    );
  }
  const dur = (key: string, dflt: number): number =>
    server[key] === undefined ? dflt : configDurationSeconds(`server.${key}`, server[key]);
  const defaultX509SvidTtlSeconds = dur('default_x509_svid_ttl', 3600);
  const caKeyType = asString('server.ca_key_type', server['ca_key_type']) ?? 'ec-p256';
  if (caKeyType !== 'ec-p256') {
    throw new ConfigError(
      'server.ca_key_type',
      `only "ec-p256" is supported (P-256 everywhere), got ${JSON.stringify(caKeyType)}`,
    );
  }

  const cfg: ServerConfig = {
    trustDomain,
    bindAddress: flags.bindAddress ?? asString('server.bind_address', server['bind_address']) ?? '0.0.0.0',
    bindPort:
      asPort('-serverPort', flags.serverPort) ?? asPort('server.bind_port', server['bind_port']) ?? 8081,
    socketPath: abs(
      flags.socketPath ?? asString('server.socket_path', server['socket_path']) ?? DEFAULT_SOCKET_PATH,
    ),
    dataDir,
    logLevel: logLevel as ServerConfig['logLevel'],
    caTtlSeconds: dur('ca_ttl', 24 * 3600),
    defaultX509SvidTtlSeconds,
    defaultJwtSvidTtlSeconds: dur('default_jwt_svid_ttl', 300),
    agentTtlSeconds: dur('agent_ttl', defaultX509SvidTtlSeconds),
    caKeyType,
    caSubject: resolveCaSubject(server['ca_subject']),
    jwtIssuer: asString('server.jwt_issuer', server['jwt_issuer']),
    keyManager: { kind: 'disk', keysPath: resolve(dataDir, 'keys.json') },
    databasePath: resolve(dataDir, 'datastore.sqlite3'),
    joinToken: true,
    federatesWith: [],
    ignoredKeys: unreadKeys(file, TOP_LEVEL_KEYS, 'server', SERVER_KEYS),
  };

  resolvePlugins(cfg, plugins, abs);
  resolveTelemetry(cfg, asObject('telemetry', file['telemetry']));
  resolveFederation(cfg, asObject('server.federation', server['federation']), abs);
  return cfg;
}

function resolveCaSubject(v: unknown): string {
  if (v === undefined) return 'C=US, O=SPIFFE';
  // SPIRE: ca_subject { country = ["US"], organization = ["SPIFFE"], common_name = "" }
  const o = asObject('server.ca_subject', Array.isArray(v) ? v[0] : v);
  const parts: string[] = [];
  for (const c of asStringList('server.ca_subject.country', o['country'])) parts.push(`C=${c}`);
  for (const org of asStringList('server.ca_subject.organization', o['organization'])) parts.push(`O=${org}`);
  const cn = asString('server.ca_subject.common_name', o['common_name']);
  if (cn) parts.push(`CN=${cn}`);
  return parts.length ? parts.join(', ') : 'C=US, O=SPIFFE';
}

function pluginData(kind: string, name: string, body: unknown): HclObject {
  return asObject(
    `plugins.${kind}.${name}.plugin_data`,
    asObject(`plugins.${kind}.${name}`, body)['plugin_data'],
  );
}

function resolvePlugins(cfg: ServerConfig, plugins: HclObject, abs: (p: string) => string): void {
  const ds = asObject('plugins.DataStore', plugins['DataStore']);
  for (const [name, body] of Object.entries(ds)) {
    const data = pluginData('DataStore', name, body);
    const type =
      asString('plugins.DataStore.sql.plugin_data.database_type', data['database_type']) ?? 'sqlite3';
    if (name !== 'sql' || type !== 'sqlite3') {
      throw new ConfigError(
        `plugins.DataStore.${name}`,
        'only DataStore "sql" with database_type "sqlite3" is supported',
      );
    }
    const conn = asString('plugins.DataStore.sql.plugin_data.connection_string', data['connection_string']);
    if (conn) cfg.databasePath = abs(conn);
  }

  const km = asObject('plugins.KeyManager', plugins['KeyManager']);
  for (const [name, body] of Object.entries(km)) {
    if (name === 'memory') cfg.keyManager = { kind: 'memory' };
    else if (name === 'disk') {
      const keysPath = asString(
        'plugins.KeyManager.disk.plugin_data.keys_path',
        pluginData('KeyManager', name, body)['keys_path'],
      );
      cfg.keyManager = {
        kind: 'disk',
        keysPath: keysPath ? abs(keysPath) : resolve(cfg.dataDir, 'keys.json'),
      };
    } else throw new ConfigError(`plugins.KeyManager.${name}`, 'expected KeyManager "disk" or "memory"');
  }

  const na = asObject('plugins.NodeAttestor', plugins['NodeAttestor']);
  if (Object.keys(na).length > 0) cfg.joinToken = false;
  for (const [name, body] of Object.entries(na)) {
    const data = pluginData('NodeAttestor', name, body);
    if (name === 'join_token') cfg.joinToken = true;
    else if (name === 'k8s_sat') cfg.k8sSat = { clusters: resolveK8sSatClusters(data, abs) };
    else
      throw new ConfigError(
        `plugins.NodeAttestor.${name}`,
        'supported node attestors: "join_token", "k8s_sat"',
      );
  }

  const ua = asObject('plugins.UpstreamAuthority', plugins['UpstreamAuthority']);
  for (const [name, body] of Object.entries(ua)) {
    if (name !== 'disk')
      throw new ConfigError(
        `plugins.UpstreamAuthority.${name}`,
        'only UpstreamAuthority "disk" is supported',
      );
    const data = pluginData('UpstreamAuthority', name, body);
    const p = (k: string): string | undefined => {
      const s = asString(`plugins.UpstreamAuthority.disk.plugin_data.${k}`, data[k]);
      return s ? abs(s) : undefined;
    };
    const certFilePath = p('cert_file_path');
    const keyFilePath = p('key_file_path');
    if (!certFilePath || !keyFilePath) {
      throw new ConfigError(
        'plugins.UpstreamAuthority.disk.plugin_data',
        'cert_file_path and key_file_path are required',
      );
    }
    cfg.upstreamAuthority = { certFilePath, keyFilePath, bundleFilePath: p('bundle_file_path') };
  }
}

function resolveK8sSatClusters(
  data: HclObject,
  abs: (p: string) => string,
): Map<string, K8sSatClusterConfig> {
  const clusters = new Map<string, K8sSatClusterConfig>();
  const one = (name: string, c: HclObject, prefix: string): void => {
    const keyFiles = asStringList(`${prefix}.service_account_key_file`, c['service_account_key_file']).map(
      abs,
    );
    if (keyFiles.length === 0)
      throw new ConfigError(`${prefix}.service_account_key_file`, 'is required for k8s_sat');
    clusters.set(name, {
      serviceAccountKeyFiles: keyFiles,
      serviceAccountAllowList: asStringList(
        `${prefix}.service_account_allow_list`,
        c['service_account_allow_list'],
      ),
    });
  };
  // SPIRE form: clusters = { "<name>" = { … } }; flat form: cluster = "<name>" plus the same keys.
  const prefix = 'plugins.NodeAttestor.k8s_sat.plugin_data';
  for (const [name, c] of Object.entries(asObject(`${prefix}.clusters`, data['clusters']))) {
    one(name, asObject(`${prefix}.clusters.${name}`, c), `${prefix}.clusters.${name}`);
  }
  const flat = asString(`${prefix}.cluster`, data['cluster']);
  if (flat) one(flat, data, prefix);
  if (clusters.size === 0)
    throw new ConfigError(`${prefix}.clusters`, 'at least one cluster is required for k8s_sat');
  return clusters;
}

function resolveTelemetry(cfg: ServerConfig, telemetry: HclObject): void {
  const prom = asObject('telemetry.Prometheus', telemetry['Prometheus']);
  const port = asPort('telemetry.Prometheus.port', prom['port']);
  if (port !== undefined)
    cfg.metrics = { host: asString('telemetry.Prometheus.host', prom['host']) ?? '127.0.0.1', port };
}

function resolveFederation(cfg: ServerConfig, fed: HclObject, abs: (p: string) => string): void {
  const be = fed['bundle_endpoint'];
  if (be !== undefined) {
    const o = asObject('server.federation.bundle_endpoint', be);
    const profileBlock = asObject('server.federation.bundle_endpoint.profile', o['profile']);
    const profileName = Object.keys(profileBlock)[0] ?? 'https_spiffe';
    if (profileName !== 'https_web' && profileName !== 'https_spiffe') {
      throw new ConfigError(
        'server.federation.bundle_endpoint.profile',
        'expected "https_web" or "https_spiffe"',
      );
    }
    const web = asObject('profile.https_web', profileBlock['https_web']);
    const serving = asObject('profile.https_web.serving_cert_file', web['serving_cert_file']);
    const certFile = asString('serving_cert_file.cert_file_path', serving['cert_file_path']);
    const keyFile = asString('serving_cert_file.key_file_path', serving['key_file_path']);
    if (profileName === 'https_web' && (!certFile || !keyFile)) {
      throw new ConfigError(
        'server.federation.bundle_endpoint.profile.https_web',
        'serving_cert_file { cert_file_path, key_file_path } is required',
      );
    }
    cfg.bundleEndpoint = {
      address: asString('server.federation.bundle_endpoint.address', o['address']) ?? '0.0.0.0',
      port: asPort('server.federation.bundle_endpoint.port', o['port']) ?? 8443,
      refreshHintSeconds:
        o['refresh_hint'] === undefined
          ? 300
          : configDurationSeconds('server.federation.bundle_endpoint.refresh_hint', o['refresh_hint']),
      profile: profileName,
      certFilePath: certFile ? abs(certFile) : undefined,
      keyFilePath: keyFile ? abs(keyFile) : undefined,
    };
  }
  for (const [td, body] of Object.entries(
    asObject('server.federation.federates_with', fed['federates_with']),
  )) {
    const key = `server.federation.federates_with.${td}`;
    const o = asObject(key, body);
    const url = asString(`${key}.bundle_endpoint_url`, o['bundle_endpoint_url']);
    if (!url?.startsWith('https://'))
      throw new ConfigError(`${key}.bundle_endpoint_url`, 'an https:// URL is required');
    const prof = asObject(`${key}.bundle_endpoint_profile`, o['bundle_endpoint_profile']);
    const profile = Object.keys(prof)[0] ?? 'https_web';
    if (profile !== 'https_web' && profile !== 'https_spiffe') {
      throw new ConfigError(`${key}.bundle_endpoint_profile`, 'expected "https_web" or "https_spiffe"');
    }
    const endpointSpiffeId = asString(
      `${key}.bundle_endpoint_profile.https_spiffe.endpoint_spiffe_id`,
      asObject('', prof['https_spiffe'])['endpoint_spiffe_id'],
    );
    if (profile === 'https_spiffe' && !endpointSpiffeId) {
      throw new ConfigError(
        `${key}.bundle_endpoint_profile.https_spiffe.endpoint_spiffe_id`,
        'is required for https_spiffe',
      );
    }
    let trustDomain: TrustDomain;
    try {
      trustDomain = TrustDomain.parse(td);
    } catch (err) {
      throw new ConfigError(key, (err as Error).message, { cause: err });
    }
    cfg.federatesWith.push({ trustDomain, bundleEndpointUrl: url, profile, endpointSpiffeId });
  }
}
