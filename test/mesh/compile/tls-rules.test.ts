/**
 * App Mesh's TLS decision rules (reference §a.3 "How App Mesh decides what TLS the client Envoy does",
 * §a.3 ClientPolicy, §c.3), one row per rule, written from the reference: the expected outcome of each
 * row is what the reference says, not what the compiler printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileNode,
  decideUpstreamTls,
  effectiveClientPolicy,
  type UpstreamTlsDecision,
} from '../../../src/mesh/compile/index.js';
import type { ClientPolicy, ListenerTLS } from '../../../src/mesh/model/index.js';
import type { JsonObject } from '../../../src/mesh/xds/index.js';
import { meshFromYaml, meshYaml, nsObject, virtualServiceYaml } from './support.js';

const sdsTrust = { trust: { sds: { secretName: 'spiffe://td' } } };
const policy = (tls: Partial<NonNullable<ClientPolicy['tls']>>): ClientPolicy => ({
  tls: { validation: sdsTrust, ...tls } as NonNullable<ClientPolicy['tls']>,
});
const strictSds: ListenerTLS = { mode: 'STRICT', certificate: { sds: { secretName: 'spiffe://td/server' } } };
const permissiveFile: ListenerTLS = {
  mode: 'PERMISSIVE',
  certificate: { file: { certificateChain: '/c.pem', privateKey: '/k.pem' } },
};
const disabled: ListenerTLS = { mode: 'DISABLED', certificate: { sds: { secretName: 'x' } } };
const strictAcm: ListenerTLS = {
  mode: 'STRICT',
  certificate: { acm: { certificateARN: 'arn:aws:acm:r:1:certificate/x' } },
};

const rows: {
  rule: string;
  policy?: ClientPolicy;
  server: { port: number; tls?: ListenerTLS; discoveryName?: string };
  expect: UpstreamTlsDecision['mode'];
  sans?: string[];
}[] = [
  {
    rule: '1: a policy applies when enforce is omitted (API default true) and ports is omitted (all ports)',
    policy: policy({
      validation: { ...sdsTrust, subjectAlternativeNames: { match: { exact: ['spiffe://td/b'] } } },
    }),
    server: { port: 8080 },
    expect: 'policy',
    sans: ['spiffe://td/b'],
  },
  {
    rule: '1: a policy applies when one of its ports is the server listener port',
    policy: policy({ ports: [9090, 8080] }),
    server: { port: 8080, tls: strictSds, discoveryName: 'b.ns' },
    expect: 'policy',
  },
  {
    rule: '2: a policy whose ports miss the server port does not apply; a STRICT server makes the client do TLS anyway',
    policy: policy({ ports: [9090] }),
    server: { port: 8080, tls: strictSds },
    expect: 'no-validation',
  },
  {
    rule: '2: enforce false is no policy; PERMISSIVE file-cert server → TLS without validating the server',
    policy: policy({ enforce: false }),
    server: { port: 8080, tls: permissiveFile },
    expect: 'no-validation',
  },
  {
    rule: '2: no matching policy and a DISABLED server → plaintext',
    policy: policy({ enforce: false }),
    server: { port: 8080, tls: disabled },
    expect: 'plaintext',
  },
  {
    rule: '2: no policy and no server TLS → plaintext',
    server: { port: 8080 },
    expect: 'plaintext',
  },
  {
    rule: '2: no policy and an ACM server certificate → the client would validate against the ACM root (AWS only)',
    server: { port: 8080, tls: strictAcm },
    expect: 'unsupported',
  },
  {
    rule: '3: a policy without SANs expects the server service-discovery name as SAN',
    policy: policy({}),
    server: { port: 8080, tls: strictSds, discoveryName: 'color-blue.ns.svc.cluster.local' },
    expect: 'policy',
    sans: ['color-blue.ns.svc.cluster.local'],
  },
  {
    rule: 'ClientPolicy trust: ACM certificate authorities exist only in AWS',
    policy: {
      tls: { validation: { trust: { acm: { certificateAuthorityARNs: ['arn:x'] } } } },
    } as ClientPolicy,
    server: { port: 8080, tls: strictSds },
    expect: 'unsupported',
  },
];

for (const row of rows) {
  test(`§a.3 rule ${row.rule}`, () => {
    const d = decideUpstreamTls(row.policy, row.server);
    assert.equal(d.mode, row.expect);
    if (row.sans) assert.deepEqual(d.mode === 'policy' && d.subjectAlternativeNames, row.sans);
  });
}

test('§a.2: a backend clientPolicy overrides backendDefaults; without one the default applies', () => {
  const own = policy({ ports: [1] });
  const def = policy({ ports: [2] });
  assert.equal(effectiveClientPolicy(own, def), own);
  assert.equal(effectiveClientPolicy(undefined, def), def);
});

test('a client certificate in the policy is offered (mTLS), with its SDS name verbatim (§c.3)', () => {
  const d = decideUpstreamTls(policy({ certificate: { sds: { secretName: 'spiffe://td/front' } } }), {
    port: 1,
  });
  assert.equal(d.mode, 'policy');
  assert.deepEqual(d.mode === 'policy' && d.certificate, { sds: { secretName: 'spiffe://td/front' } });
});

// Listener side (§a.3 ListenerTLS, §c.3) and the cluster side, through the compiler.
const yaml = (listenerTls: string, backendPolicy = '') =>
  meshYaml(
    nsObject(
      'VirtualNode',
      'server',
      `
spec:
  listeners:
    - portMapping: { port: 8080, protocol: http }
${listenerTls}
  serviceDiscovery: { awsCloudMap: { namespaceName: ns.local, serviceName: server } }`,
    ),
    virtualServiceYaml('server', { virtualNode: 'server' }),
    nsObject(
      'VirtualNode',
      'client',
      `
spec:
  backends:
    - virtualService:
        virtualServiceRef: { name: server }
${backendPolicy}`,
    ),
  );

function ingressChains(listenerTls: string): { listener: JsonObject; chains: JsonObject[] } {
  const state = meshFromYaml(yaml(listenerTls));
  assert.deepEqual(state.errors, []);
  const cfg = compileNode(state, 'mesh/m/virtualNode/server_ns');
  const listener = cfg.listeners.find((l) => l.name === 'lds_ingress_0.0.0.0_15000')!;
  return { listener, chains: listener.filter_chains as JsonObject[] };
}

const tlsCtx = (chain: JsonObject) =>
  (chain.transport_socket as JsonObject | undefined)?.typed_config as JsonObject | undefined;

test('STRICT with validation: TLS-only chain, require_client_certificate, exact SANs, SDS trust by trust-domain ID', () => {
  const { chains } = ingressChains(`      tls:
        mode: STRICT
        certificate: { sds: { secretName: "spiffe://td/server" } }
        validation:
          trust: { sds: { secretName: "spiffe://td" } }
          subjectAlternativeNames: { match: { exact: ["spiffe://td/client"] } }`);
  assert.equal(chains.length, 1);
  const ctx = tlsCtx(chains[0]!)!;
  assert.equal(ctx.require_client_certificate, true);
  const common = ctx.common_tls_context as JsonObject;
  assert.equal((common.tls_certificate_sds_secret_configs as JsonObject[])[0]!.name, 'spiffe://td/server');
  const combined = common.combined_validation_context as JsonObject;
  assert.equal((combined.validation_context_sds_secret_config as JsonObject).name, 'spiffe://td');
  assert.deepEqual((combined.default_validation_context as JsonObject).match_typed_subject_alt_names, [
    { san_type: 'URI', matcher: { exact: 'spiffe://td/client' } },
  ]);
  const sds = (common.tls_certificate_sds_secret_configs as JsonObject[])[0]!.sds_config as JsonObject;
  assert.equal(
    (((sds.api_config_source as JsonObject).grpc_services as JsonObject[])[0]!.envoy_grpc as JsonObject)
      .cluster_name,
    'static_cluster_sds_unix_socket',
  );
});

test('STRICT without validation: TLS but no client certificate required; no SAN list → no client SAN check', () => {
  const { chains } = ingressChains(`      tls:
        mode: STRICT
        certificate: { sds: { secretName: "spiffe://td/server" } }`);
  const ctx = tlsCtx(chains[0]!)!;
  assert.equal(ctx.require_client_certificate, undefined);
  assert.equal((ctx.common_tls_context as JsonObject).combined_validation_context, undefined);
});

test('PERMISSIVE: tls_inspector, a TLS chain and a plaintext chain on the same port', () => {
  const { listener, chains } = ingressChains(`      tls:
        mode: PERMISSIVE
        certificate: { sds: { secretName: "spiffe://td/server" } }`);
  assert.ok(
    (listener.listener_filters as JsonObject[]).some(
      (f) => f.name === 'envoy.filters.listener.tls_inspector',
    ),
  );
  assert.deepEqual(
    chains.map((c) => [c.filter_chain_match, tlsCtx(c) !== undefined]),
    [
      [{ destination_port: 8080, transport_protocol: 'tls' }, true],
      [{ destination_port: 8080, transport_protocol: 'raw_buffer' }, false],
    ],
  );
});

test('DISABLED: one plaintext chain', () => {
  const { chains } = ingressChains(`      tls:
        mode: DISABLED
        certificate: { sds: { secretName: "spiffe://td/server" } }`);
  assert.equal(chains.length, 1);
  assert.equal(tlsCtx(chains[0]!), undefined);
});

test('rule 3 with Cloud Map: a policy without SANs expects service.namespace of the server', () => {
  const state = meshFromYaml(
    yaml(
      `      tls:
        mode: STRICT
        certificate: { sds: { secretName: "spiffe://td/server" } }`,
      `        clientPolicy:
          tls:
            validation: { trust: { sds: { secretName: "spiffe://td" } } }`,
    ),
  );
  const cfg = compileNode(state, 'mesh/m/virtualNode/client_ns', {
    endpointResolver: { resolve: () => [{ address: '198.18.0.2', port: 8080 }] },
  });
  const cluster = cfg.clusters.find((c) => c.name === 'cds_egress_m_server_ns_http_8080')!;
  const common = tlsCtx(cluster)!.common_tls_context as JsonObject;
  assert.deepEqual(
    ((common.combined_validation_context as JsonObject).default_validation_context as JsonObject)
      .match_typed_subject_alt_names,
    [{ san_type: 'DNS', matcher: { exact: 'server.ns.local' } }],
  );
});

test('rule 2 through the compiler: STRICT server, no client policy → TLS without a validation context', () => {
  const state = meshFromYaml(
    yaml(`      tls:
        mode: STRICT
        certificate: { sds: { secretName: "spiffe://td/server" } }`),
  );
  const cfg = compileNode(state, 'mesh/m/virtualNode/client_ns', {
    endpointResolver: { resolve: () => [{ address: '198.18.0.2', port: 8080 }] },
  });
  const common = tlsCtx(cfg.clusters.find((c) => c.name === 'cds_egress_m_server_ns_http_8080')!)!
    .common_tls_context as JsonObject;
  assert.equal(common.combined_validation_context, undefined);
  assert.equal(common.validation_context, undefined);
  assert.equal(common.validation_context_sds_secret_config, undefined);
});
