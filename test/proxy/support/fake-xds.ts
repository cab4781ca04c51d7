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

interface Stream {
  call: grpc.ServerDuplexStream<SeenRequest, unknown>;
  names: string[];
  nonce: number;
}

/** SDS fake. `set(name, secret)` publishes (or rotates) a secret to every stream watching it. */
export class FakeSds {
  readonly server = new grpc.Server();
  readonly requests: SeenRequest[] = [];
  readonly #secrets = new Map<string, Json>();
  readonly #streams = new Set<Stream>();
  #version = 0;

  constructor() {
    this.server.addService(serviceClients().sds.service, {
      StreamSecrets: (call: grpc.ServerDuplexStream<SeenRequest, unknown>) => {
        const s: Stream = { call, names: [], nonce: 0 };
        this.#streams.add(s);
        call.on('data', (req: SeenRequest) => {
          this.requests.push(req);
          const names = [...req.resource_names].sort();
          if (!s.nonce || names.join() !== s.names.join()) {
            s.names = names;
            this.#send(s);
          }
        });
        call.on('end', () => call.end());
        call.on('close', () => this.#streams.delete(s));
        call.on('error', () => this.#streams.delete(s));
      },
    });
  }

  /** Binds to a unix socket path. */
  listen(socketPath: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }

  /** Publishes `secret` (tls.v3.Secret JSON with `name`) and pushes it to watching streams. */
  set(secret: Json): void {
    this.#secrets.set(String(secret.name), secret);
    this.#version++;
    for (const s of this.#streams) if (s.names.includes(String(secret.name))) this.#send(s);
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

  /** Stops the server. */
  close(): void {
    for (const s of this.#streams) s.call.end();
    this.server.forceShutdown();
  }
}

/** ADS fake: `set(typeUrl, resources)` publishes a new state of the world for that type. */
export class FakeAds {
  readonly server = new grpc.Server();
  readonly requests: SeenRequest[] = [];
  readonly #state = new Map<string, { version: number; resources: Json[] }>();
  readonly #streams = new Set<{
    call: grpc.ServerDuplexStream<SeenRequest, unknown>;
    subscribed: Set<string>;
    nonce: number;
  }>();

  constructor() {
    this.server.addService(serviceClients().ads.service, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<SeenRequest, unknown>) => {
        const s = { call, subscribed: new Set<string>(), nonce: 0 };
        this.#streams.add(s);
        call.on('data', (req: SeenRequest) => {
          this.requests.push(req);
          if (!s.subscribed.has(req.type_url)) {
            s.subscribed.add(req.type_url);
            this.#send(s, req.type_url);
          }
        });
        call.on('end', () => call.end());
        call.on('close', () => this.#streams.delete(s));
        call.on('error', () => this.#streams.delete(s));
      },
    });
  }

  /** Binds to a unix socket path. */
  listen(socketPath: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.server.bindAsync(`unix://${socketPath}`, grpc.ServerCredentials.createInsecure(), (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }

  /** Publishes a state of the world for `typeUrl`. */
  set(typeUrl: string, resources: Json[]): void {
    const cur = this.#state.get(typeUrl);
    this.#state.set(typeUrl, { version: (cur?.version ?? 0) + 1, resources });
    for (const s of this.#streams) if (s.subscribed.has(typeUrl)) this.#send(s, typeUrl);
  }

  #send(s: { call: grpc.ServerDuplexStream<SeenRequest, unknown>; nonce: number }, typeUrl: string): void {
    const st = this.#state.get(typeUrl);
    if (!st) return;
    s.call.write({
      version_info: String(st.version),
      resources: st.resources.map((r) => encodeAny(typeUrl, r)),
      type_url: typeUrl,
      nonce: String(++s.nonce),
    });
  }

  /** Stops the server. */
  close(): void {
    for (const s of this.#streams) s.call.end();
    this.server.forceShutdown();
  }
}
