/**
 * `k8s_sat` node attestation (SPIRE's Kubernetes Service Account Token attestor, spiffe.md §g.2),
 * validating the token locally against `service_account_key_file` public keys with `jose`.
 *
 * Payload: `{"cluster":"<name>","token":"<service-account JWT>"}`. Accepted claim forms: legacy
 * secret tokens (`iss` = `kubernetes/serviceaccount`, `kubernetes.io/serviceaccount/namespace`,
 * `…/service-account.name`) and projected tokens (`kubernetes.io: {namespace, serviceaccount:{name}}`).
 * Agent ID `spiffe://<td>/spire/agent/k8s_sat/<cluster>/<random UUID>`; selectors
 * `k8s_sat:cluster:<c>`, `k8s_sat:agent_ns:<ns>`, `k8s_sat:agent_sa:<sa>`.
 */
import { createPublicKey, randomUUID, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { jwtVerify, errors as joseErrors } from 'jose';
import type { TrustDomain } from '../../../spiffe/index.js';
import type { K8sSatClusterConfig } from '../config/index.js';
import { ConfigError, InvalidArgumentError, PermissionDeniedError } from '../errors.js';
import type { AttestationResult, NodeAttestor } from './types.js';

/** Reads every PEM public key or certificate in `path`. Throws ConfigError naming the file. */
export function loadServiceAccountKeys(path: string): KeyObject[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      'k8s_sat.service_account_key_file',
      `cannot read ${path}: ${(err as Error).message}`,
    );
  }
  const blocks = text.match(/-----BEGIN [A-Z ]+-----[\s\S]+?-----END [A-Z ]+-----/g) ?? [];
  const keys = blocks.map((b) =>
    b.includes('CERTIFICATE') ? new X509Certificate(b).publicKey : createPublicKey(b),
  );
  if (keys.length === 0)
    throw new ConfigError(
      'k8s_sat.service_account_key_file',
      `${path} holds no PEM public key or certificate`,
    );
  return keys;
}

interface Cluster {
  keys: KeyObject[];
  allow: Set<string>;
}

/** Options of {@link K8sSatAttestor}; `now` is ms since the epoch. */
export interface K8sSatAttestorOptions {
  trustDomain: TrustDomain;
  clusters: Map<string, K8sSatClusterConfig>;
  now?: () => number;
}

export class K8sSatAttestor implements NodeAttestor {
  readonly type = 'k8s_sat';
  readonly #td: TrustDomain;
  readonly #clusters = new Map<string, Cluster>();
  readonly #now: () => number;

  constructor(o: K8sSatAttestorOptions) {
    this.#td = o.trustDomain;
    this.#now = o.now ?? Date.now;
    for (const [name, c] of o.clusters) {
      this.#clusters.set(name, {
        keys: c.serviceAccountKeyFiles.flatMap(loadServiceAccountKeys),
        allow: new Set(c.serviceAccountAllowList),
      });
    }
  }

  async attest(payload: Buffer): Promise<AttestationResult> {
    let doc: { cluster?: unknown; token?: unknown };
    try {
      doc = JSON.parse(payload.toString('utf8')) as typeof doc;
    } catch {
      throw new InvalidArgumentError('payload', 'k8s_sat: expected JSON {"cluster": …, "token": …}');
    }
    if (typeof doc?.cluster !== 'string' || doc.cluster === '')
      throw new InvalidArgumentError('payload.cluster', 'k8s_sat: cluster is required');
    if (typeof doc.token !== 'string' || doc.token === '')
      throw new InvalidArgumentError('payload.token', 'k8s_sat: token is required');
    const cluster = this.#clusters.get(doc.cluster);
    if (!cluster)
      throw new PermissionDeniedError(`k8s_sat: not configured for cluster ${JSON.stringify(doc.cluster)}`);

    const claims = await this.#verify(doc.token, cluster.keys);
    const legacyNs = claims['kubernetes.io/serviceaccount/namespace'];
    const legacySa = claims['kubernetes.io/serviceaccount/service-account.name'];
    const projected = claims['kubernetes.io'] as
      { namespace?: unknown; serviceaccount?: { name?: unknown } } | undefined;
    let ns: unknown;
    let sa: unknown;
    if (legacyNs !== undefined || legacySa !== undefined) {
      if (claims['iss'] !== 'kubernetes/serviceaccount') {
        throw new PermissionDeniedError(
          `k8s_sat: token issuer ${JSON.stringify(claims['iss'])} is not "kubernetes/serviceaccount"`,
        );
      }
      ns = legacyNs;
      sa = legacySa;
    } else {
      ns = projected?.namespace;
      sa = projected?.serviceaccount?.name;
    }
    if (typeof ns !== 'string' || ns === '' || typeof sa !== 'string' || sa === '') {
      throw new PermissionDeniedError('k8s_sat: token has no service account namespace/name claims');
    }
    if (!cluster.allow.has(`${ns}:${sa}`)) {
      throw new PermissionDeniedError(
        `k8s_sat: service account "${ns}:${sa}" is not in service_account_allow_list of cluster ${JSON.stringify(doc.cluster)}`,
      );
    }
    return {
      agentId: `${this.#td.idString()}/spire/agent/k8s_sat/${doc.cluster}/${randomUUID()}`,
      selectors: [
        { type: 'k8s_sat', value: `cluster:${doc.cluster}` },
        { type: 'k8s_sat', value: `agent_ns:${ns}` },
        { type: 'k8s_sat', value: `agent_sa:${sa}` },
      ],
      canReattest: false,
    };
  }

  async #verify(token: string, keys: KeyObject[]): Promise<Record<string, unknown>> {
    let last: unknown;
    for (const key of keys) {
      try {
        const { payload } = await jwtVerify(token, key, { currentDate: new Date(this.#now()) });
        return payload as Record<string, unknown>;
      } catch (err) {
        last = err;
        if (err instanceof joseErrors.JWTExpired) break;
      }
    }
    if (last instanceof joseErrors.JWTExpired)
      throw new PermissionDeniedError('k8s_sat: service account token has expired', { cause: last });
    if (last instanceof joseErrors.JWSInvalid || last instanceof joseErrors.JWTInvalid) {
      throw new InvalidArgumentError(
        'payload.token',
        `k8s_sat: malformed token: ${(last as Error).message}`,
        { cause: last },
      );
    }
    throw new PermissionDeniedError(
      `k8s_sat: unable to validate token: ${(last as Error)?.message ?? 'no key'}`,
      { cause: last },
    );
  }
}
