/**
 * A tiny gRPC "echo" service for xDS client tests: each backend answers with its own name and the
 * request's `x-color` metadata, so a test can see which cluster a call was routed to.
 */
import * as grpc from '@grpc/grpc-js';

const json = {
  serialize: (v: unknown) => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer) => JSON.parse(b.toString()) as unknown,
};

/** Service definition of `/test.Echo/Echo` with JSON messages. */
export const echoService: grpc.ServiceDefinition = {
  Echo: {
    path: '/test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};

/** Client constructor for {@link echoService}. */
export const EchoClient = grpc.makeGenericClientConstructor(echoService, 'Echo');

/** Starts an echo backend on 127.0.0.1:0 answering `{ backend: name }`; resolves with its port and server. */
export async function startEchoBackend(name: string): Promise<{ port: number; server: grpc.Server }> {
  const server = new grpc.Server();
  server.addService(echoService, {
    Echo: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
      cb(null, { backend: name }),
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) =>
      e ? reject(e) : resolve(p),
    ),
  );
  return { port, server };
}

/** One Echo call (15 s deadline: the first one waits for xDS resolution); resolves with the backend name that answered. */
export function echo(client: grpc.Client, metadata: Record<string, string> = {}): Promise<string> {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  return new Promise((resolve, reject) =>
    (
      client as unknown as {
        Echo: (
          r: unknown,
          m: grpc.Metadata,
          o: grpc.CallOptions,
          cb: grpc.requestCallback<{ backend: string }>,
        ) => void;
      }
    ).Echo({}, md, { deadline: Date.now() + 15_000 }, (err, res) =>
      err ? reject(err) : resolve(res!.backend),
    ),
  );
}

/** The set of backend names that answered `n` sequential Echo calls. */
export async function backendsSeen(
  client: grpc.Client,
  n: number,
  metadata: Record<string, string> = {},
): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add(await echo(client, metadata));
  return seen;
}

/**
 * Polls `check` every 100 ms until it resolves true, for up to `timeoutMs` (generous: an xDS update
 * reaches the client in milliseconds here, but a loaded CI machine can stall for seconds). A check
 * that throws counts as "not yet"; its last error is in the failure message.
 */
export async function eventually(
  check: () => Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`, { cause: lastError });
}
