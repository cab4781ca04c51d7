/**
 * Agent configuration (reference spiffe.md §g.6): SPIRE's agent.conf keys from HCL, run flags that
 * override them, defaults, and one row per rejected setting naming the key.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  AgentConfigError,
  DEFAULT_AGENT_SOCKET_PATH,
  readAgentConfigFile,
  resolveAgentConfig,
} from '../../../src/identity/agent/index.js';

const BASE = {
  agent: {
    trust_domain: 'example.org',
    server_address: '127.0.0.1',
    server_port: '8081',
    trust_bundle_path: 'bootstrap.crt',
    join_token: 'tok',
  },
};

describe('agent config', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tm-agent-conf-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('SPIRE-style HCL with plugins, sds block and telemetry', async () => {
    const file = path.join(dir, 'agent.conf');
    await writeFile(
      file,
      `agent {
  data_dir = "./data"
  log_level = "DEBUG"
  server_address = "spire-server"
  server_port = "8081"
  trust_domain = "example.org"
  insecure_bootstrap = true
  sds { default_bundle_name = "ROOT" disable_spiffe_cert_validation = true }
  experimental { sync_interval = "2s" }
}
plugins {
  NodeAttestor "k8s_sat" { plugin_data { cluster = "demo" token_path = "/var/run/token" } }
  WorkloadAttestor "unix" { plugin_data { discover_workload_path = false } }
  WorkloadAttestor "k8s" { plugin_data { pod_info_url = "unix:///run/trustmesh/pods.sock" } }
}
telemetry { Prometheus { port = 9988 } }
`,
    );
    const cfg = resolveAgentConfig(await readAgentConfigFile(file), {}, dir);
    assert.equal(cfg.trustDomain.idString(), 'spiffe://example.org');
    assert.equal(cfg.serverAddress, 'spire-server');
    assert.equal(cfg.serverPort, 8081);
    assert.equal(cfg.socketPath, DEFAULT_AGENT_SOCKET_PATH);
    assert.equal(cfg.dataDir, path.join(dir, 'data'));
    assert.equal(cfg.insecureBootstrap, true);
    assert.deepEqual(cfg.nodeAttestor, { type: 'k8s_sat', cluster: 'demo', tokenPath: '/var/run/token' });
    assert.deepEqual(cfg.workloadAttestors, {
      unix: { discoverWorkloadPath: false },
      k8s: { podInfoUrl: 'unix:///run/trustmesh/pods.sock' },
    });
    assert.deepEqual(cfg.sds, {
      defaultSvidName: 'default',
      defaultBundleName: 'ROOT',
      defaultAllBundlesName: 'ALL',
      disableSpiffeCertValidation: true,
    });
    assert.equal(cfg.logLevel, 'debug');
    assert.equal(cfg.syncIntervalMs, 2000);
    assert.deepEqual(cfg.prometheus, { host: '127.0.0.1', port: 9988 });
    assert.deepEqual(cfg.ignoredKeys, []);
  });

  test('keys trustmesh does not read are named (a typo among them), not silently dropped', () => {
    const cfg = resolveAgentConfig(
      {
        ...BASE,
        agent: { ...BASE.agent, admin_socket_path: '/tmp/admin.sock', log_levl: 'DEBUG' },
        health_checks: {},
      },
      {},
      '/',
    );
    assert.deepEqual(cfg.ignoredKeys, ['health_checks', 'agent.admin_socket_path', 'agent.log_levl']);
    assert.equal(cfg.logLevel, 'info', 'the misspelt key changed nothing');
  });

  test('flags override the file; the unix attestor is the default; pod_info_url in agent enables k8s', () => {
    const cfg = resolveAgentConfig(
      { agent: { ...BASE.agent, pod_info_url: 'http://127.0.0.1:9100' } },
      {
        serverPort: '9000',
        socketPath: 'sock',
        joinToken: 'other',
        logLevel: 'WARN',
        trustDomain: 'td.test',
      },
      '/base',
    );
    assert.equal(cfg.serverPort, 9000);
    assert.equal(cfg.socketPath, '/base/sock');
    assert.equal(cfg.trustBundlePath, '/base/bootstrap.crt');
    assert.deepEqual(cfg.nodeAttestor, { type: 'join_token', token: 'other' });
    assert.equal(cfg.logLevel, 'warn');
    assert.equal(cfg.trustDomain.name, 'td.test');
    assert.deepEqual(cfg.workloadAttestors, {
      unix: { discoverWorkloadPath: true },
      k8s: { podInfoUrl: 'http://127.0.0.1:9100' },
    });
  });

  test('rejected settings name their key', () => {
    const rows: Array<[string, object, string]> = [
      ['no trust domain', { agent: { ...BASE.agent, trust_domain: undefined } }, 'agent.trust_domain'],
      ['bad trust domain', { agent: { ...BASE.agent, trust_domain: 'Bad_TD' } }, 'agent.trust_domain'],
      ['no server address', { agent: { ...BASE.agent, server_address: undefined } }, 'agent.server_address'],
      ['bad port', { agent: { ...BASE.agent, server_port: '99999' } }, 'agent.server_port'],
      [
        'bundle and insecure',
        { agent: { ...BASE.agent, insecure_bootstrap: true } },
        'agent.insecure_bootstrap',
      ],
      [
        'no bootstrap trust',
        { agent: { ...BASE.agent, trust_bundle_path: undefined } },
        'agent.trust_bundle_path',
      ],
      [
        'retired trust_bundle_url',
        { agent: { ...BASE.agent, trust_bundle_url: 'https://x' } },
        'agent.trust_bundle_url',
      ],
      ['no node attestation', { agent: { ...BASE.agent, join_token: undefined } }, 'agent.join_token'],
      [
        'unknown workload attestor',
        { ...BASE, plugins: { WorkloadAttestor: { docker: { plugin_data: {} } } } },
        'plugins.WorkloadAttestor.docker',
      ],
      [
        'k8s without a pod-info url',
        { ...BASE, plugins: { WorkloadAttestor: { k8s: { plugin_data: {} } } } },
        'plugins.WorkloadAttestor.k8s.plugin_data.pod_info_url',
      ],
      ['bad pod_info_url', { agent: { ...BASE.agent, pod_info_url: 'ftp://x' } }, 'agent.pod_info_url'],
      [
        'same bundle names',
        { agent: { ...BASE.agent, sds: { default_bundle_name: 'X', default_all_bundles_name: 'X' } } },
        'agent.sds.default_all_bundles_name',
      ],
      ['bad log level', { agent: { ...BASE.agent, log_level: 'loud' } }, 'agent.log_level'],
    ];
    for (const [name, file, key] of rows) {
      assert.throws(
        () => resolveAgentConfig(file as never, {}, '/'),
        (e: unknown) => e instanceof AgentConfigError && e.key === key,
        name,
      );
    }
  });
});
