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

/** One Echo call; resolves with the backend name that answered. */
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
    ).Echo({}, md, { deadline: Date.now() + 5000 }, (err, res) =>
      err ? reject(err) : resolve(res!.backend),
    ),
  );
}
