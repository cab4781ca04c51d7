/**
 * Loading one gRPC service from a `.proto` file for `@grpc/grpc-js`, once per process. The Workload
 * API here and trustmesh's identity server ↔ agent API both load their protos this way, so that
 * every client and server of a service shares one set of message shapes.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

/** What a {@link grpcServiceLoader} returns: `Handlers` is the server's handler map, `Client` the stub constructor. */
export interface LoadedGrpcService<Handlers extends grpc.UntypedServiceImplementation, Client> {
  /**
   * The proto-loader package definition (keys are fully qualified names), for servers that build
   * their own codecs from a method's `requestSerialize`/`responseDeserialize`.
   */
  packageDefinition: protoLoader.PackageDefinition;
  /** grpc-js service definition, for `server.addService(service, handlers)`. */
  service: grpc.ServiceDefinition<Handlers>;
  /** grpc-js client constructor: `new Client(target, credentials)`. */
  Client: Client;
}

/**
 * A function that loads `serviceName` (fully qualified, e.g. `trustmesh.identity.v1.Agent`, or
 * `SpiffeWorkloadAPI` for a proto without package) from `protoPath` with `options` on its first call
 * (synchronously) and returns the same {@link LoadedGrpcService} on every later call. It throws if the
 * file is missing, does not parse, or has no such service.
 */
export function grpcServiceLoader<Handlers extends grpc.UntypedServiceImplementation, Client>(
  protoPath: string,
  serviceName: string,
  options: protoLoader.Options,
): () => LoadedGrpcService<Handlers, Client> {
  let loaded: LoadedGrpcService<Handlers, Client> | undefined;
  return () => {
    if (loaded) return loaded;
    const packageDefinition = protoLoader.loadSync(protoPath, options);
    const definition = packageDefinition[serviceName];
    // Message types carry a `format`; service definitions are maps of method definitions.
    if (!definition || 'format' in definition)
      throw new Error(`${protoPath} defines no service ${serviceName}`);
    const ctor = grpc.makeClientConstructor(definition as grpc.ServiceDefinition, serviceName);
    loaded = {
      packageDefinition,
      service: ctor.service as grpc.ServiceDefinition<Handlers>,
      Client: ctor as unknown as Client,
    };
    return loaded;
  };
}
