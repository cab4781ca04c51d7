/**
 * The agent API (proto/trustmesh/identity/v1/agent.proto) on grpc-js over TLS.
 *
 * The server presents its own X509-SVID (`spiffe://<td>/spire/server`) and requests, without
 * requiring, a client certificate: AttestAgent is the only call an agent may make without one.
 * Every other call reads the caller's identity from the client certificate (grpc-js exposes it via
 * `call.getAuthContext()` once Node's TLS layer verified it against our bundle roots), verifies it
 * again as an X509-SVID and checks the agent record (attested, not banned, current serial).
 * Typed errors become statuses in one place ({@link sendError}).
 */
import * as grpc from '@grpc/grpc-js';
import type { SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import { loadAgentApi, type AgentServiceHandlers, type X509SvidResultMessage } from '../../api/index.js';
import { toStatus } from '../errors.js';
import type { AuthenticatedAgent, IdentityService } from '../service.js';

/**
 * Server credentials whose certificate and trusted roots can be swapped at runtime (server SVID
 * rotation, CA rotation): new connections use the latest; client certificates are requested but
 * not required (`rejectUnauthorized: false`; handlers enforce authentication per call).
 */
export class RotatingServerCredentials extends grpc.ServerCredentials {
  constructor(initial: SecureContextOptions) {
    super({ requestCert: true, rejectUnauthorized: false }, initial);
  }
  /** Replaces certificate chain, key and client-CA roots for new connections. */
  update(options: SecureContextOptions): void {
    this.updateSecureContextOptions(options);
  }
  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

function sendError(log: Logger, method: string, err: unknown, cb: (e: grpc.ServiceError) => void): void {
  const { code, message } = toStatus(err);
  if (code === grpc.status.INTERNAL) log.error({ err, method }, 'agent API call failed');
  else log.info({ method, code: grpc.status[code], reason: message }, 'agent API call refused');
  cb(
    Object.assign(new Error(message), {
      code,
      details: message,
      metadata: new grpc.Metadata(),
    }) as grpc.ServiceError,
  );
}

function peerLeaf(
  call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
): Buffer | undefined {
  return call.getAuthContext()?.sslPeerCertificate?.raw;
}

/** Builds the Agent service handlers over `service`. */
export function agentServiceHandlers(service: IdentityService, log: Logger): AgentServiceHandlers {
  const unary = <Req, Res>(
    method: string,
    fn: (req: Req, caller: () => AuthenticatedAgent) => Promise<Res> | Res,
  ): grpc.handleUnaryCall<Req, Res> => {
    return (call, cb) => {
      const caller = (): AuthenticatedAgent => service.authenticateAgent(peerLeaf(call));
      Promise.resolve()
        .then(() => fn(call.request, caller))
        .then(
          (res) => cb(null, res),
          (err: unknown) => sendError(log, method, err, cb),
        );
    };
  };

  return {
    AttestAgent: unary('AttestAgent', async (req) => {
      const r = await service.attestAgent(req);
      log.info({ spiffeId: r.spiffe_id, attestationType: req.attestation_type }, 'agent attested');
      return {
        spiffe_id: r.spiffe_id,
        cert_chain: r.cert_chain,
        expires_at: r.expires_at,
        selectors: r.selectors,
      };
    }),
    RenewAgent: unary('RenewAgent', async (req, caller): Promise<X509SvidResultMessage> => {
      const r = await service.renewAgent(caller(), req.csr);
      return { spiffe_id: r.spiffe_id, cert_chain: r.cert_chain, expires_at: r.expires_at };
    }),
    SyncAuthorizedEntries: unary('SyncAuthorizedEntries', (req, caller) =>
      service.syncAuthorizedEntries(caller(), req),
    ),
    BatchNewX509Svid: unary('BatchNewX509Svid', async (req, caller) => {
      const results = await service.batchNewX509Svid(caller(), req.params);
      return {
        results: results.map((r) => ({
          status: r.status,
          entry_id: r.value?.entry_id ?? '',
          spiffe_id: r.value?.spiffe_id ?? '',
          cert_chain: r.value?.cert_chain ?? [],
          expires_at: r.value?.expires_at ?? 0,
        })),
      };
    }),
    NewJwtSvid: unary('NewJwtSvid', (req, caller) => service.newJwtSvid(caller(), req)),
    GetBundles: unary('GetBundles', (_req, caller) => service.getBundlesFor(caller())),
    WatchRevisions: (call) => {
      let caller: AuthenticatedAgent;
      try {
        caller = service.authenticateAgent(peerLeaf(call));
      } catch (err) {
        const { code, message } = toStatus(err);
        call.emit('error', Object.assign(new Error(message), { code, details: message }));
        return;
      }
      const push = (r: { entryRevision: number; bundleSequence: number }): void => {
        call.write({ entry_revision: r.entryRevision, bundle_sequence: r.bundleSequence });
      };
      service.on('revision', push);
      const stop = (): void => {
        service.off('revision', push);
      };
      call.on('cancelled', stop);
      call.on('close', stop);
      call.on('error', stop);
      log.debug({ spiffeId: caller.agent.spiffeId }, 'revision watch started');
      push(service.revisions());
    },
  };
}

/**
 * Starts the agent API on `host:port` (port 0 = ephemeral). Resolves with the bound port and the
 * grpc server (the caller owns `tryShutdown`/`forceShutdown`).
 */
export async function startAgentApi(o: {
  service: IdentityService;
  credentials: RotatingServerCredentials;
  host: string;
  port: number;
  log: Logger;
}): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server({ 'grpc.max_send_message_length': 32 * 1024 * 1024 });
  server.addService(loadAgentApi().service, agentServiceHandlers(o.service, o.log));
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${host}:${o.port}`, o.credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { server, port };
}
