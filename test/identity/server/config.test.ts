/** Server config: SPIRE's server.conf in the HCL subset, SPIRE-named keys, defaults, run-flag overrides. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHcl } from '../../../src/identity/config/index.js';
import {
  resolveServerConfig,
  parseDurationSeconds,
  ConfigError,
} from '../../../src/identity/server/index.js';

const spireServerConf = `
server {
    bind_address = "0.0.0.0"
    bind_port = "8081"
    socket_path = "/tmp/spire-server/private/api.sock"
    trust_domain = "example.org"
    data_dir = "/var/lib/spire"
    log_level = "DEBUG"
    ca_ttl = "168h"
    default_x509_svid_ttl = "2h"
    ca_subject {
        country = ["US"]
        organization = ["SPIFFE"]
        common_name = ""
    }
}

plugins {
    DataStore "sql" {
        plugin_data {
            database_type = "sqlite3"
            connection_string = "/var/lib/spire/datastore.sqlite3"
        }
    }

    NodeAttestor "join_token" {
        plugin_data {
        }
    }

    KeyManager "memory" {
        plugin_data = {}
    }
}

health_checks {
    listener_enabled = true
    bind_address = "0.0.0.0"
    bind_port = "8080" # comment
    // another comment
    /* block
       comment */
}
`;

describe('server.conf', () => {
  test("parses SPIRE's sample server.conf", () => {
    const doc = parseHcl(spireServerConf) as Record<string, Record<string, Record<string, unknown>>>;
    assert.equal(doc['server']!['trust_domain'], 'example.org');
    assert.deepEqual(doc['server']!['ca_subject'], {
      country: ['US'],
      organization: ['SPIFFE'],
      common_name: '',
    });
    assert.deepEqual(doc['plugins']!['NodeAttestor'], { join_token: { plugin_data: {} } });
    assert.equal(doc['health_checks']!['listener_enabled'], true);
  });
});

describe('resolveServerConfig', () => {
  test('SPIRE keys, then run flags override the file', () => {
    const cfg = resolveServerConfig(
      parseHcl(spireServerConf),
      { trustDomain: 'flag.org', serverPort: '9000', logLevel: 'WARN' },
      '/work',
    );
    assert.equal(cfg.trustDomain.name, 'flag.org');
    assert.equal(cfg.bindPort, 9000);
    assert.equal(cfg.logLevel, 'warn');
    assert.equal(cfg.caTtlSeconds, 168 * 3600);
    assert.equal(cfg.defaultX509SvidTtlSeconds, 7200);
    assert.equal(cfg.agentTtlSeconds, 7200);
    assert.equal(cfg.defaultJwtSvidTtlSeconds, 300);
    assert.equal(cfg.databasePath, '/var/lib/spire/datastore.sqlite3');
    assert.deepEqual(cfg.keyManager, { kind: 'memory' });
    assert.equal(cfg.joinToken, true);
    assert.equal(cfg.caSubject, 'C=US, O=SPIFFE');
    assert.deepEqual(cfg.ignoredKeys, ['health_checks'], 'read by SPIRE, not by trustmesh: named');
  });
  test('keys trustmesh does not read are named (a typo among them), not silently dropped', () => {
    const cfg = resolveServerConfig(
      { server: { trust_domain: 'a.org', ratelimit: { attestation: false }, ca_tll: '1h' }, profiling: {} },
      {},
      '/srv',
    );
    assert.deepEqual(cfg.ignoredKeys, ['profiling', 'server.ratelimit', 'server.ca_tll']);
    assert.equal(cfg.caTtlSeconds, 86400, 'the misspelt key changed nothing');
  });
  test('defaults (§g.5) with flags only', () => {
    const cfg = resolveServerConfig({}, { trustDomain: 'example.org' }, '/srv');
    assert.equal(cfg.bindAddress, '0.0.0.0');
    assert.equal(cfg.bindPort, 8081);
    assert.equal(cfg.socketPath, '/tmp/trustmesh-server/private/api.sock');
    assert.equal(cfg.dataDir, '/srv/.data');
    assert.equal(cfg.caTtlSeconds, 86400);
    assert.equal(cfg.defaultX509SvidTtlSeconds, 3600);
    assert.deepEqual(cfg.keyManager, { kind: 'disk', keysPath: '/srv/.data/keys.json' });
  });
  const bad: [string, Parameters<typeof resolveServerConfig>[0], object, RegExp][] = [
    ['no trust domain', {}, {}, /server\.trust_domain: is required/],
    ['bad duration', { server: { trust_domain: 'a.org', ca_ttl: 'soon' } }, {}, /server\.ca_ttl/],
    [
      'unsupported key type',
      { server: { trust_domain: 'a.org', ca_key_type: 'rsa-2048' } },
      {},
      /server\.ca_key_type/,
    ],
    ['bad port flag', {}, { trustDomain: 'a.org', serverPort: 'http' }, /-serverPort/],
    [
      'unknown node attestor',
      { server: { trust_domain: 'a.org' }, plugins: { NodeAttestor: { aws_iid: {} } } },
      {},
      /plugins\.NodeAttestor\.aws_iid/,
    ],
    [
      'k8s_sat without key file',
      {
        server: { trust_domain: 'a.org' },
        plugins: { NodeAttestor: { k8s_sat: { plugin_data: { clusters: { c: {} } } } } },
      },
      {},
      /service_account_key_file/,
    ],
  ];
  for (const [name, file, flags, message] of bad) {
    test(`rejects ${name}`, () => {
      assert.throws(
        () => resolveServerConfig(file, flags),
        (e: Error) => e instanceof ConfigError && message.test(e.message),
      );
    });
  }
  test('durations', () => {
    assert.equal(parseDurationSeconds('k', '1h30m'), 5400);
    assert.equal(parseDurationSeconds('k', '500ms'), 0.5);
    assert.equal(parseDurationSeconds('k', 90), 90);
    assert.equal(parseDurationSeconds('k', '45'), 45);
  });
});
