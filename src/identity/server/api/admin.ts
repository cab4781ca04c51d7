/**
 * The admin API: HTTP/1.1 + JSON on the local unix socket `socket_path` (its directory mode 0700, so
 * only the server's user can reach it — the same trust model as spire-server's private socket).
 *
 * Request: `POST /v1/<method>` with a JSON object body. Success: 200 with a JSON object. Failure:
 * a non-200 status with `{"code": <gRPC status code>, "status": "<NAME>", "message": "…"}`, so the
 * CLI can print the same `code`/`msg` SPIRE's CLI prints. Methods are listed in {@link ADMIN_METHODS}.
 */
import { connect } from 'node:net';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { certificatesToPem, parseCertificates, SpiffeBundle, TrustDomain } from '../../../spiffe/index.js';
import { FailedPreconditionError, InvalidArgumentError, toStatus } from '../errors.js';
import type { IdentityService } from '../service.js';
import type { StoredBundle } from '../datastore/types.js';

/** Max request body (bytes): a `-data` file of several thousand entries fits. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

type Handler = (service: IdentityService, body: Record<string, unknown>) => Promise<unknown> | unknown;

function bundleView(
  service: IdentityService,
  b: StoredBundle,
): { id: string; sequence: number; json: string; pem: string } {
  const td = TrustDomain.parse(b.trustDomainId);
  const pem = certificatesToPem(SpiffeBundle.parse(td, b.json).x509.authorities());
  return { id: b.trustDomainId, sequence: b.sequence, json: b.json, pem };
}

const str = (b: Record<string, unknown>, k: string): string | undefined =>
  typeof b[k] === 'string' ? (b[k] as string) : undefined;
const num = (b: Record<string, unknown>, k: string): number | undefined => {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new InvalidArgumentError(k, `must be a number, got ${JSON.stringify(v)}`);
  return v;
};
const list = <T>(b: Record<string, unknown>, k: string): T[] => {
  const v = b[k];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new InvalidArgumentError(k, 'must be a list');
  return v as T[];
};

/** Admin methods: name → handler (body is the parsed JSON object). */
export const ADMIN_METHODS: Record<string, Handler> = {
  'entry.create': (s, b) => ({ results: s.createEntries(list(b, 'entries')) }),
  'entry.update': (s, b) => ({ results: s.updateEntries(list(b, 'entries')) }),
  'entry.delete': (s, b) => ({ results: s.deleteEntries(list(b, 'ids')) }),
  'entry.list': (s, b) => ({ entries: s.listEntries((b['filter'] ?? {}) as never) }),
  'agent.list': (s, b) => ({ agents: s.listAgents((b['filter'] ?? {}) as never) }),
  'agent.show': (s, b) => ({ agent: s.getAgent(str(b, 'spiffe_id') ?? '') }),
  'agent.evict': (s, b) => (s.evictAgent(str(b, 'spiffe_id') ?? ''), {}),
  'agent.ban': (s, b) => (s.banAgent(str(b, 'spiffe_id') ?? ''), {}),
  'token.generate': (s, b) => s.generateJoinToken({ spiffe_id: str(b, 'spiffe_id'), ttl: num(b, 'ttl') }),
  'bundle.show': (s) => bundleView(s, s.ownBundle()),
  'bundle.list': (s, b) => ({
    bundles: s
      .listBundles(str(b, 'id'))
      .filter((x) => str(b, 'id') || x.trustDomainId !== s.td.idString())
      .map((x) => bundleView(s, x)),
  }),
  'bundle.set': (s, b) =>
    bundleView(
      s,
      s.setFederatedBundle({
        id: str(b, 'id') ?? '',
        data: str(b, 'data') ?? '',
        format: str(b, 'format') as 'pem',
      }),
    ),
  'bundle.delete': (s, b) => (
    s.deleteFederatedBundle({ id: str(b, 'id') ?? '', mode: str(b, 'mode') as 'restrict' }),
    {}
  ),
  'x509.mint': async (s, b) => {
    const r = await s.mintX509({
      spiffe_id: str(b, 'spiffe_id') ?? '',
      csr: Buffer.from(str(b, 'csr') ?? '', 'base64'),
      ttl: num(b, 'ttl'),
      dns_names: list(b, 'dns_names'),
    });
    return {
      svid_pem: certificatesToPem(parseCertificates(Buffer.concat(r.cert_chain))),
      bundle_pem: certificatesToPem(s.ownRoots()),
      expires_at: r.expires_at,
      capped: r.capped,
    };
  },
  'jwt.mint': (s, b) =>
    s.mintJwt({ spiffe_id: str(b, 'spiffe_id') ?? '', audience: list(b, 'audience'), ttl: num(b, 'ttl') }),
  healthcheck: (s, b) => {
    if (b['shallow'] !== true) {
      s.store.currentChangeSeq();
      s.ca.active();
      if (s.ca.active().notAfter <= s.nowSeconds())
        throw new FailedPreconditionError('ca: active X509 CA has expired');
    }
    return {
      healthy: true,
      agent_api_port: s.listening.agentApiPort,
      bundle_endpoint_port: s.listening.bundleEndpointPort,
      metrics_port: s.listening.metricsPort,
    };
  },
};

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new InvalidArgumentError('body', `request larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, httpStatus: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(httpStatus, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

/** HTTP status for a gRPC code (only for readability; clients use `code`). */
function httpStatusFor(code: grpc.status): number {
  switch (code) {
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.FAILED_PRECONDITION:
      return 400;
    case grpc.status.UNAUTHENTICATED:
      return 401;
    case grpc.status.PERMISSION_DENIED:
      return 403;
    case grpc.status.NOT_FOUND:
      return 404;
    case grpc.status.ALREADY_EXISTS:
      return 409;
    default:
      return 500;
  }
}

/** Is something already answering on this unix socket? */
function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

/**
 * Listens on `socketPath` (creating its directory with mode 0700; replacing a stale socket file,
 * refusing one a live process answers on). Resolves once listening.
 */
export async function startAdminApi(o: {
  service: IdentityService;
  socketPath: string;
  log: Logger;
}): Promise<Server> {
  const dir = dirname(o.socketPath);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  if (await socketInUse(o.socketPath)) {
    throw new FailedPreconditionError(
      `admin socket ${o.socketPath} is in use by another process; pass another -socketPath`,
    );
  }
  rmSync(o.socketPath, { force: true });
  const server = createServer((req, res) => {
    void (async () => {
      const method = (req.url ?? '').replace(/^\/v1\//, '');
      const handler = Object.hasOwn(ADMIN_METHODS, method) ? ADMIN_METHODS[method] : undefined;
      if (req.method !== 'POST' || !handler) {
        reply(res, 404, {
          code: grpc.status.UNIMPLEMENTED,
          status: 'UNIMPLEMENTED',
          message: `unknown admin method ${req.method} ${req.url}`,
        });
        return;
      }
      try {
        const text = await readBody(req);
        let body: unknown;
        try {
          body = text === '' ? {} : JSON.parse(text);
        } catch {
          throw new InvalidArgumentError('body', 'request body is not valid JSON');
        }
        if (body === null || typeof body !== 'object' || Array.isArray(body))
          throw new InvalidArgumentError('body', 'must be a JSON object');
        reply(res, 200, await handler(o.service, body as Record<string, unknown>));
      } catch (err) {
        const { code, message } = toStatus(err);
        if (code === grpc.status.INTERNAL) o.log.error({ err, method }, 'admin API call failed');
        reply(res, httpStatusFor(code), { code, status: grpc.status[code], message });
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}
