/**
 * A small SDS v3 test client over @grpc/grpc-js (Envoy's DiscoveryRequest semantics driven by hand):
 * `send()` writes a request, `next()` awaits the next DiscoveryResponse, `secrets()` decodes its
 * resources into Envoy `Secret` messages.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { fromBinary } from '@bufbuild/protobuf';
import {
  ENVOY_PROTO_INCLUDE_DIRS,
  SECRET_TYPE_URL,
  agentFileRegistry,
} from '../../../src/identity/agent/index.js';

export interface DiscoveryResponse {
  version_info: string;
  nonce: string;
  type_url: string;
  resources: Array<{ type_url: string; value: Buffer }>;
}

/** Decoded `envoy.extensions.transport_sockets.tls.v3.Secret` (bufbuild field names). */
export interface Secret {
  name: string;
  type:
    | { case: 'tlsCertificate'; value: { certificateChain: DataSource; privateKey: DataSource } }
    | {
        case: 'validationContext';
        value: {
          trustedCa?: DataSource;
          customValidatorConfig?: { name: string; typedConfig: { typeUrl: string; value: Uint8Array } };
        };
      };
}
interface DataSource {
  specifier: { case: 'inlineBytes'; value: Uint8Array };
}

let ctor: grpc.ServiceClientConstructor | undefined;
function sdsClientConstructor(): grpc.ServiceClientConstructor {
  if (!ctor) {
    const def = protoLoader.loadSync('envoy/service/secret/v3/sds.proto', {
      includeDirs: ENVOY_PROTO_INCLUDE_DIRS,
      keepCase: true,
      longs: String,
      defaults: true,
      oneofs: true,
    });
    const pkg = grpc.loadPackageDefinition(def) as unknown as {
      envoy: { service: { secret: { v3: { SecretDiscoveryService: grpc.ServiceClientConstructor } } } };
    };
    ctor = pkg.envoy.service.secret.v3.SecretDiscoveryService;
  }
  return ctor;
}

/** A connected SDS client. */
export function sdsClient(socketPath: string): grpc.Client & Record<string, (...a: unknown[]) => unknown> {
  const Ctor = sdsClientConstructor();
  return new Ctor(`unix://${socketPath}`, grpc.credentials.createInsecure()) as never;
}

/** One StreamSecrets stream with a response queue. */
export class SdsStream {
  readonly #call: grpc.ClientDuplexStream<object, DiscoveryResponse>;
  readonly #queue: DiscoveryResponse[] = [];
  readonly #waiters: Array<{ resolve: (r: DiscoveryResponse) => void; reject: (e: Error) => void }> = [];
  #error: (Error & { code?: number; details?: string }) | undefined;

  constructor(client: ReturnType<typeof sdsClient>) {
    this.#call = (client['StreamSecrets'] as () => grpc.ClientDuplexStream<object, DiscoveryResponse>)();
    this.#call.on('data', (r: DiscoveryResponse) => {
      const w = this.#waiters.shift();
      if (w) w.resolve(r);
      else this.#queue.push(r);
    });
    this.#call.on('error', (e: Error) => {
      this.#error = e;
      for (const w of this.#waiters.splice(0)) w.reject(e);
    });
  }

  /** Writes a DiscoveryRequest (type_url defaults to the Secret type). */
  send(req: {
    resource_names?: string[];
    version_info?: string;
    response_nonce?: string;
    node?: object;
    error_detail?: object;
  }): void {
    this.#call.write({ type_url: SECRET_TYPE_URL, ...req });
  }

  /**
   * The next response; rejects with the stream's gRPC error, or after `timeoutMs` (bounded so that a
   * missing push fails the test instead of hanging the run; generous for a loaded CI machine).
   */
  next(timeoutMs = 15_000): Promise<DiscoveryResponse> {
    const r = this.#queue.shift();
    if (r) return Promise.resolve(r);
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      const waiter = {
        resolve: (res: DiscoveryResponse) => (clearTimeout(timer), resolve(res)),
        reject: (e: Error) => (clearTimeout(timer), reject(e)),
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`no DiscoveryResponse within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Number of responses received and not yet taken. */
  get pending(): number {
    return this.#queue.length;
  }

  cancel(): void {
    this.#call.cancel();
  }
}

/** Decodes the Secret resources of a response. */
export function secrets(res: DiscoveryResponse): Secret[] {
  const desc = agentFileRegistry().getMessage('envoy.extensions.transport_sockets.tls.v3.Secret')!;
  return res.resources.map((r) => {
    if (r.type_url !== SECRET_TYPE_URL) throw new Error(`unexpected resource type ${r.type_url}`);
    return fromBinary(desc, r.value) as unknown as Secret;
  });
}

/** The trust domains (name, PEM) of a SPIFFE validator config inside a validation context secret. */
export function spiffeValidatorTrustDomains(secret: Secret): Array<{ name: string; pem: string }> {
  if (secret.type.case !== 'validationContext' || !secret.type.value.customValidatorConfig) {
    throw new Error(`${secret.name} has no SPIFFE validator config`);
  }
  const desc = agentFileRegistry().getMessage(
    'envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig',
  )!;
  const cfg = fromBinary(desc, secret.type.value.customValidatorConfig.typedConfig.value) as unknown as {
    trustDomains: Array<{ name: string; trustBundle: DataSource }>;
  };
  return cfg.trustDomains.map((t) => ({
    name: t.name,
    pem: Buffer.from(t.trustBundle.specifier.value).toString(),
  }));
}

/** PEM text of a DataSource with inline bytes. */
export function inlineText(ds: DataSource | undefined): string {
  if (!ds || ds.specifier.case !== 'inlineBytes') throw new Error('expected inline_bytes');
  return Buffer.from(ds.specifier.value).toString();
}
