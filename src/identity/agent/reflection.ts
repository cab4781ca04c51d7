/**
 * gRPC server reflection (v1 and v1alpha) for the agent socket, as the SPIFFE Workload Endpoint
 * spec recommends (reference spiffe.md §e.2): lists the served services and returns serialized
 * FileDescriptorProtos (the requested file and everything it imports) from the agent registry.
 */
import type { ConnectRouter } from '@connectrpc/connect';
import { create, toBinary, type DescFile, type Registry } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { agentFileRegistry } from './protos.js';

interface ReflectionRequest {
  host: string;
  messageRequest: { case?: string; value?: unknown };
}

/** Registers `grpc.reflection.v1.ServerReflection` and `grpc.reflection.v1alpha.ServerReflection`. */
export function registerReflection(router: ConnectRouter): void {
  const registry = agentFileRegistry();
  const services = [...registry]
    .filter((d) => d.kind === 'service')
    .map((d) => d.typeName)
    .sort();
  for (const version of ['v1', 'v1alpha']) {
    const svc = registry.getService(`grpc.reflection.${version}.ServerReflection`)!;
    const Response = registry.getMessage(`grpc.reflection.${version}.ServerReflectionResponse`)!;
    router.service(svc, {
      async *serverReflectionInfo(requests: AsyncIterable<ReflectionRequest>) {
        for await (const req of requests) {
          yield create(Response, {
            validHost: req.host,
            originalRequest: req,
            messageResponse: answer(registry, services, req),
          });
        }
      },
    } as never);
  }
}

function answer(registry: Registry & Iterable<unknown>, services: string[], req: ReflectionRequest) {
  const notFound = (what: string) => ({
    case: 'errorResponse',
    value: { errorCode: 5, errorMessage: `${what} not found` },
  });
  const files = (file: DescFile | undefined) => {
    if (!file) return undefined;
    const out: DescFile[] = [];
    const visit = (f: DescFile) => {
      if (out.includes(f)) return;
      out.push(f);
      f.dependencies.forEach(visit);
    };
    visit(file);
    return {
      case: 'fileDescriptorResponse',
      value: {
        fileDescriptorProto: out.map((f) =>
          toBinary(FileDescriptorProtoSchema, create(FileDescriptorProtoSchema, f.proto)),
        ),
      },
    };
  };
  const { case: kind, value } = req.messageRequest;
  switch (kind) {
    case 'listServices':
      return { case: 'listServicesResponse', value: { service: services.map((name) => ({ name })) } };
    case 'fileByFilename': {
      const f = (registry as unknown as { getFile(n: string): DescFile | undefined }).getFile(String(value));
      return files(f) ?? notFound(`file ${String(value)}`);
    }
    case 'fileContainingSymbol': {
      const symbol = String(value);
      const desc =
        registry.get(symbol) ?? registry.get(symbol.slice(0, Math.max(0, symbol.lastIndexOf('.'))));
      return files(desc && 'file' in desc ? desc.file : undefined) ?? notFound(`symbol ${symbol}`);
    }
    case 'allExtensionNumbersOfType':
      return registry.getMessage(String(value))
        ? { case: 'allExtensionNumbersResponse', value: { baseTypeName: String(value), extensionNumber: [] } }
        : notFound(`type ${String(value)}`);
    default:
      return notFound('extension');
  }
}
