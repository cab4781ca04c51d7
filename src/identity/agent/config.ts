/**
 * Agent configuration: SPIRE's `agent.conf` keys (reference spiffe.md §g.6) from an HCL file (or
 * YAML/JSON by extension), overridden by `spire-agent run` flags. Validated once here; the rest of
 * the agent trusts the resolved {@link AgentConfig}.
 *
 * ```hcl
 * agent {
 *   trust_domain = "example.org"
 *   server_address = "127.0.0.1"
 *   server_port = "8081"
 *   socket_path = "/tmp/trustmesh-agent/public/api.sock"
 *   trust_bundle_path = "./bootstrap.crt"   # or insecure_bootstrap = true
 *   data_dir = "./.data"
 *   join_token = "…"
 *   pod_info_url = "http://127.0.0.1:9100"  # enables the k8s workload attestor
 *   log_level = "INFO"
 *   sds { default_svid_name = "default" default_bundle_name = "ROOTCA" default_all_bundles_name = "ALL" disable_spiffe_cert_validation = false }
 * }
 * plugins {
 *   NodeAttestor "join_token" { plugin_data {} }            # or "k8s_sat" { plugin_data { cluster = "c" token_path = "/…/token" } }
 *   WorkloadAttestor "unix" { plugin_data { discover_workload_path = true } }
 *   WorkloadAttestor "k8s" { plugin_data { pod_info_url = "unix:///run/trustmesh/pods.sock" } }
 * }
 * telemetry { Prometheus { host = "127.0.0.1" port = 9988 } }
 * ```
 */
import path from 'node:path';
import { TrustDomain } from '../../spiffe/index.js';
import { ConfigFileError, readConfigDocument, unreadKeys } from '../config/index.js';
import { AgentConfigError } from './errors.js';
import { DEFAULT_SDS_OPTIONS, type SdsOptions } from './sds.js';

/** Default agent socket (Workload API + SDS). */
export const DEFAULT_AGENT_SOCKET_PATH = '/tmp/trustmesh-agent/public/api.sock';

/** Node attestor settings. */
export type NodeAttestorConfig =
  { type: 'join_token'; token: string } | { type: 'k8s_sat'; cluster: string; tokenPath: string };

/** The resolved agent configuration. Paths are absolute. */
export interface AgentConfig {
  trustDomain: TrustDomain;
  serverAddress: string;
  serverPort: number;
  socketPath: string;
  dataDir: string;
  /** PEM file with the CAs to verify the server with at bootstrap; undefined with insecureBootstrap */
  trustBundlePath: string | undefined;
  insecureBootstrap: boolean;
  nodeAttestor: NodeAttestorConfig;
  workloadAttestors: {
    unix?: { discoverWorkloadPath: boolean };
    k8s?: { podInfoUrl: string };
  };
  sds: SdsOptions;
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /** entry sync period, ms */
  syncIntervalMs: number;
  /** Prometheus `/metrics` listener, when configured */
  prometheus: { host: string; port: number } | undefined;
  /**
   * Keys of the file that this implementation does not read (dotted, e.g. `agent.admin_socket_path`):
   * SPIRE refuses unknown keys; these may be SPIRE keys trustmesh lacks, so the agent starts and warns
   * naming them instead.
   */
  ignoredKeys: string[];
}

/** Top-level sections and `agent` keys the resolver reads (SPIRE's names). */
const TOP_LEVEL_KEYS = new Set(['agent', 'plugins', 'telemetry']);
const AGENT_KEYS = new Set([
  'trust_domain',
  'server_address',
  'server_port',
  'socket_path',
  'data_dir',
  'trust_bundle_path',
  'insecure_bootstrap',
  'join_token',
  'pod_info_url',
  'sds',
  'log_level',
  'experimental',
]);

/** `agent run` flags (SPIRE's names); each overrides the file's key. */
export interface AgentRunFlags {
  config?: string;
  trustDomain?: string;
  serverAddress?: string;
  serverPort?: string;
  socketPath?: string;
  dataDir?: string;
  joinToken?: string;
  trustBundle?: string;
  insecureBootstrap?: boolean;
  logLevel?: string;
}

type Obj = Record<string, unknown>;

function obj(key: string, v: unknown): Obj {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new AgentConfigError(key, 'expected a block');
  return v as Obj;
}

function str(key: string, v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string' && typeof v !== 'number')
    throw new AgentConfigError(key, `expected a string, got ${JSON.stringify(v)}`);
  return String(v);
}

function bool(key: string, v: unknown): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new AgentConfigError(key, `expected true or false, got ${JSON.stringify(v)}`);
}

/**
 * Reads a config file: `.yaml`/`.yml`/`.json` as YAML, anything else as SPIRE-style HCL (the reader
 * the identity server uses too, from `identity/config`). Throws {@link AgentConfigError}.
 */
export async function readAgentConfigFile(file: string): Promise<Obj> {
  let doc: unknown;
  try {
    doc = readConfigDocument(file);
  } catch (err) {
    if (!(err instanceof ConfigFileError)) throw err;
    throw new AgentConfigError('-config', err.reason, { cause: err });
  }
  return obj('(file)', doc);
}

/** Parses a Go-style duration (`5s`, `500ms`, `1m`) or a number of seconds into ms. */
function durationMs(key: string, v: unknown): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number') return v * 1000;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(String(v));
  if (!m) throw new AgentConfigError(key, `expected a duration like 5s, got ${JSON.stringify(v)}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
}

/**
 * Resolves the file (parsed, or `{}`) plus flags into an {@link AgentConfig}. Relative paths resolve
 * against `cwd`. Throws {@link AgentConfigError} naming the first bad key.
 */
export function resolveAgentConfig(file: Obj, flags: AgentRunFlags, cwd = process.cwd()): AgentConfig {
  const agent = obj('agent', file['agent']);
  const plugins = obj('plugins', file['plugins']);
  const abs = (p: string) => (path.isAbsolute(p) ? p : path.resolve(cwd, p));

  const tdString = flags.trustDomain ?? str('agent.trust_domain', agent['trust_domain']);
  if (!tdString) throw new AgentConfigError('agent.trust_domain', 'is required (or -trustDomain)');
  let trustDomain: TrustDomain;
  try {
    trustDomain = TrustDomain.parse(tdString);
  } catch (err) {
    throw new AgentConfigError('agent.trust_domain', (err as Error).message, { cause: err });
  }

  const serverAddress = flags.serverAddress ?? str('agent.server_address', agent['server_address']);
  if (!serverAddress) throw new AgentConfigError('agent.server_address', 'is required (or -serverAddress)');
  const portString = flags.serverPort ?? str('agent.server_port', agent['server_port']);
  const serverPort = Number(portString);
  if (!portString || !Number.isInteger(serverPort) || serverPort < 1 || serverPort > 65535) {
    throw new AgentConfigError(
      'agent.server_port',
      `expected a port 1–65535, got ${JSON.stringify(portString)}`,
    );
  }

  const trustBundle = flags.trustBundle ?? str('agent.trust_bundle_path', agent['trust_bundle_path']);
  const insecureBootstrap =
    flags.insecureBootstrap ?? bool('agent.insecure_bootstrap', agent['insecure_bootstrap']) ?? false;
  if (trustBundle && insecureBootstrap) {
    throw new AgentConfigError('agent.insecure_bootstrap', 'cannot be combined with trust_bundle_path');
  }
  if (!trustBundle && !insecureBootstrap) {
    throw new AgentConfigError('agent.trust_bundle_path', 'is required unless insecure_bootstrap = true');
  }
  for (const retired of ['trust_bundle_url', 'trust_bundle_unix_socket']) {
    if (agent[retired] !== undefined)
      throw new AgentConfigError(`agent.${retired}`, 'is not supported; use trust_bundle_path instead');
  }

  const nodeAttestors = obj('plugins.NodeAttestor', plugins['NodeAttestor']);
  const joinToken = flags.joinToken ?? str('agent.join_token', agent['join_token']);
  let nodeAttestor: NodeAttestorConfig;
  const satData =
    nodeAttestors['k8s_sat'] !== undefined
      ? obj(
          'plugins.NodeAttestor.k8s_sat.plugin_data',
          obj('plugins.NodeAttestor.k8s_sat', nodeAttestors['k8s_sat'])['plugin_data'],
        )
      : undefined;
  if (joinToken) {
    nodeAttestor = { type: 'join_token', token: joinToken };
  } else if (satData) {
    const cluster = str('plugins.NodeAttestor.k8s_sat.plugin_data.cluster', satData['cluster']);
    const tokenPath = str('plugins.NodeAttestor.k8s_sat.plugin_data.token_path', satData['token_path']);
    if (!cluster)
      throw new AgentConfigError('plugins.NodeAttestor.k8s_sat.plugin_data.cluster', 'is required');
    nodeAttestor = {
      type: 'k8s_sat',
      cluster,
      tokenPath: abs(tokenPath ?? '/var/run/secrets/kubernetes.io/serviceaccount/token'),
    };
  } else {
    throw new AgentConfigError(
      'agent.join_token',
      'a join token (or -joinToken) or the k8s_sat node attestor is required',
    );
  }
  for (const name of Object.keys(nodeAttestors)) {
    if (name !== 'join_token' && name !== 'k8s_sat') {
      throw new AgentConfigError(
        `plugins.NodeAttestor.${name}`,
        'supported node attestors: "join_token", "k8s_sat"',
      );
    }
  }

  const wl = obj('plugins.WorkloadAttestor', plugins['WorkloadAttestor']);
  const pluginData = (name: string) =>
    obj(
      `plugins.WorkloadAttestor.${name}.plugin_data`,
      obj(`plugins.WorkloadAttestor.${name}`, wl[name])['plugin_data'],
    );
  for (const name of Object.keys(wl)) {
    if (name !== 'unix' && name !== 'k8s') {
      throw new AgentConfigError(
        `plugins.WorkloadAttestor.${name}`,
        'supported workload attestors: "unix", "k8s"',
      );
    }
  }
  const workloadAttestors: AgentConfig['workloadAttestors'] = {};
  if (wl['unix'] !== undefined || Object.keys(wl).length === 0) {
    const d = wl['unix'] !== undefined ? pluginData('unix') : {};
    workloadAttestors.unix = {
      discoverWorkloadPath:
        bool(
          'plugins.WorkloadAttestor.unix.plugin_data.discover_workload_path',
          d['discover_workload_path'],
        ) ?? true,
    };
  }
  const podInfoUrl =
    (wl['k8s'] !== undefined
      ? str('plugins.WorkloadAttestor.k8s.plugin_data.pod_info_url', pluginData('k8s')['pod_info_url'])
      : undefined) ?? str('agent.pod_info_url', agent['pod_info_url']);
  if (wl['k8s'] !== undefined && !podInfoUrl) {
    throw new AgentConfigError(
      'plugins.WorkloadAttestor.k8s.plugin_data.pod_info_url',
      'is required for the k8s attestor',
    );
  }
  if (podInfoUrl) {
    if (!/^(http:\/\/|unix:\/\/\/)/.test(podInfoUrl)) {
      throw new AgentConfigError(
        'agent.pod_info_url',
        `expected http://host:port or unix:///path, got ${podInfoUrl}`,
      );
    }
    workloadAttestors.k8s = { podInfoUrl };
  }

  const sdsBlock = obj('agent.sds', agent['sds']);
  const sds: SdsOptions = {
    defaultSvidName:
      str('agent.sds.default_svid_name', sdsBlock['default_svid_name']) ??
      DEFAULT_SDS_OPTIONS.defaultSvidName,
    defaultBundleName:
      str('agent.sds.default_bundle_name', sdsBlock['default_bundle_name']) ??
      DEFAULT_SDS_OPTIONS.defaultBundleName,
    defaultAllBundlesName:
      str('agent.sds.default_all_bundles_name', sdsBlock['default_all_bundles_name']) ??
      DEFAULT_SDS_OPTIONS.defaultAllBundlesName,
    disableSpiffeCertValidation:
      bool('agent.sds.disable_spiffe_cert_validation', sdsBlock['disable_spiffe_cert_validation']) ??
      DEFAULT_SDS_OPTIONS.disableSpiffeCertValidation,
  };
  if (sds.defaultBundleName === sds.defaultAllBundlesName) {
    throw new AgentConfigError('agent.sds.default_all_bundles_name', 'must differ from default_bundle_name');
  }

  const level = (flags.logLevel ?? str('agent.log_level', agent['log_level']) ?? 'info').toLowerCase();
  if (!['trace', 'debug', 'info', 'warn', 'error'].includes(level)) {
    throw new AgentConfigError('agent.log_level', `expected DEBUG, INFO, WARN or ERROR, got ${level}`);
  }

  const experimental = obj('agent.experimental', agent['experimental']);
  const syncIntervalMs =
    durationMs('agent.experimental.sync_interval', experimental['sync_interval']) ?? 5000;

  const prom = obj('telemetry.Prometheus', obj('telemetry', file['telemetry'])['Prometheus']);
  const promPort = prom['port'] !== undefined ? Number(prom['port']) : undefined;
  if (promPort !== undefined && (!Number.isInteger(promPort) || promPort < 0 || promPort > 65535)) {
    throw new AgentConfigError(
      'telemetry.Prometheus.port',
      `expected a port, got ${JSON.stringify(prom['port'])}`,
    );
  }

  return {
    trustDomain,
    serverAddress,
    serverPort,
    socketPath: abs(
      flags.socketPath ?? str('agent.socket_path', agent['socket_path']) ?? DEFAULT_AGENT_SOCKET_PATH,
    ),
    dataDir: abs(flags.dataDir ?? str('agent.data_dir', agent['data_dir']) ?? '.'),
    trustBundlePath: trustBundle ? abs(trustBundle) : undefined,
    insecureBootstrap,
    nodeAttestor,
    workloadAttestors,
    sds,
    logLevel: level as AgentConfig['logLevel'],
    syncIntervalMs,
    prometheus:
      promPort !== undefined
        ? { host: str('telemetry.Prometheus.host', prom['host']) ?? '127.0.0.1', port: promPort }
        : undefined,
    ignoredKeys: unreadKeys(file, TOP_LEVEL_KEYS, 'agent', AGENT_KEYS),
  };
}
