/**
 * In-process fakes of the proxy's control-plane peers, serving the real Envoy v3 gRPC services:
 * an SDS server (SecretDiscoveryService.StreamSecrets, SPIRE's per-stream semantics: answer the
 * first request and name changes, push on every update, ignore plain ACKs) and an ADS server
 * (state of the world per type). Both record every DiscoveryRequest so tests can assert ACK/NACK.
 */
import * as grpc from '@grpc/grpc-js';
import { TypeUrl, encodeAny, serviceClients } from '../../../src/proxy/index.js';

type Json = Record<string, unknown>;

/** A DiscoveryRequest as the fake saw it. */
export interface SeenRequest {
  type_url: string;
  version_info: string;
  response_nonce: string;
  resource_names: string[];
  error_detail?: { code: number; message: string } | null;
  node?: { id?: string } | null;
}

type Call = grpc.ServerDuplexStream<SeenRequest, unknown>;

interface Stream {
  call: Call;
  names: string[];
  nonce: number;
}

/** What both fakes share: the gRPC server, the request log, the open streams, listen and close. */
abstract class FakeXds<S extends { call: Call }> {
  readonly server = new grpc.Server();
  readonly requests: SeenRequest[] = [];
  protected readonly streams = new Set<S>();

  /** Tracks stream `s` until it ends, recording each request before `onRequest` sees it. */
  protected serve(s: S, onRequest: (req: SeenRequest) => void): void {
    this.streams.add(s);
    s.call.on('data', (req: SeenRequest) => {
      this.requests.push(req);
      onRequest(req);
    });
    s.call.on('end', () => s.call.end());
    s.call.on('close', () => this.streams.delete(s));
    s.call.on('error', () => this.streams.delete(s));
  }

  /** Binds to a unix socket path. */
  listen(socketPath: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }

  /** Stops the server. */
  close(): void {
    for (const s of this.streams) s.call.end();
    this.server.forceShutdown();
  }
}

/** SDS fake. `set(name, secret)` publishes (or rotates) a secret to every stream watching it. */
export class FakeSds extends FakeXds<Stream> {
  readonly #secrets = new Map<string, Json>();
  #version = 0;

  constructor() {
    super();
    this.server.addService(serviceClients().sds.service, {
      StreamSecrets: (call: Call) => {
        const s: Stream = { call, names: [], nonce: 0 };
        this.serve(s, (req) => {
          const names = [...req.resource_names].sort();
          if (!s.nonce || names.join() !== s.names.join()) {
            s.names = names;
            this.#send(s);
          }
        });
      },
    });
  }

  /** Publishes `secret` (tls.v3.Secret JSON with `name`) and pushes it to watching streams. */
  set(secret: Json): void {
    this.#secrets.set(String(secret.name), secret);
    this.#version++;
    for (const s of this.streams) if (s.names.includes(String(secret.name))) this.#send(s);
  }

  #send(s: Stream): void {
    const resources = s.names.flatMap((n) =>
      this.#secrets.has(n) ? [encodeAny(TypeUrl.secret, this.#secrets.get(n)!)] : [],
    );
    if (!resources.length) return;
    s.call.write({
      version_info: String(this.#version),
      resources,
      type_url: TypeUrl.secret,
      nonce: String(++s.nonce),
    });
  }
}

interface AdsStream {
  call: Call;
  subscribed: Set<string>;
  nonce: number;
}

/** ADS fake: `set(typeUrl, resources)` publishes a new state of the world for that type. */
export class FakeAds extends FakeXds<AdsStream> {
  readonly #state = new Map<string, { version: number; resources: Json[] }>();

  constructor() {
    super();
    this.server.addService(serviceClients().ads.service, {
      StreamAggregatedResources: (call: Call) => {
        const s: AdsStream = { call, subscribed: new Set<string>(), nonce: 0 };
        this.serve(s, (req) => {
          if (!s.subscribed.has(req.type_url)) {
            s.subscribed.add(req.type_url);
            this.#send(s, req.type_url);
          }
        });
      },
    });
  }

  /** Publishes a state of the world for `typeUrl`. */
  set(typeUrl: string, resources: Json[]): void {
    const cur = this.#state.get(typeUrl);
    this.#state.set(typeUrl, { version: (cur?.version ?? 0) + 1, resources });
    for (const s of this.streams) if (s.subscribed.has(typeUrl)) this.#send(s, typeUrl);
  }

  #send(s: AdsStream, typeUrl: string): void {
    const st = this.#state.get(typeUrl);
    if (!st) return;
    s.call.write({
      version_info: String(st.version),
      resources: st.resources.map((r) => encodeAny(typeUrl, r)),
      type_url: typeUrl,
      nonce: String(++s.nonce),
    });
  }
}
