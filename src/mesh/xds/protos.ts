/**
 * The real Envoy v3 protos, loaded from `@grpc/grpc-js-xds`'s vendored `deps/` (envoy-api, xds,
 * googleapis, protoc-gen-validate). One protobufjs root holds every type the compiler may emit inside a
 * resource (listeners, routes, clusters, endpoints, secrets and the extensions it puts in `typed_config`),
 * plus the admin config-dump types.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import path from 'node:path';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

/** Absolute include directories for the Envoy protos (`envoy-api`, `xds`, `googleapis`, `protoc-gen-validate`). */
export const envoyProtoIncludeDirs: readonly string[] = (() => {
  const xdsPackage = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
  return ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) =>
    path.join(xdsPackage, 'deps', d),
  );
})();

/** Proto files whose messages can appear in the resources we emit (directly or inside an Any). */
const resourceProtoFiles = [
  'envoy/config/listener/v3/listener.proto',
  'envoy/config/route/v3/route.proto',
  'envoy/config/cluster/v3/cluster.proto',
  'envoy/config/endpoint/v3/endpoint.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.proto',
  'envoy/extensions/filters/listener/original_dst/v3/original_dst.proto',
  'envoy/extensions/filters/listener/http_inspector/v3/http_inspector.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/transport_sockets/tls/v3/secret.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/admin/v3/config_dump.proto',
];

const protobufjsDir = path.dirname(require.resolve('protobufjs/package.json'));

let root: protobuf.Root | undefined;

/**
 * The protobufjs root with the Envoy resource types, field names kept as in the .proto (snake_case).
 * Loaded once, synchronously, on first use (about a second).
 */
export function envoyProtoRoot(): protobuf.Root {
  if (root) return root;
  const r = new protobuf.Root();
  r.resolvePath = (origin, target) => {
    if (path.isAbsolute(target) && existsSync(target)) return target;
    for (const dir of envoyProtoIncludeDirs) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    // google/protobuf/*.proto: the well-known types bundled with protobufjs (descriptor.proto included).
    if (target.startsWith('google/protobuf/')) return path.join(protobufjsDir, target);
    return target;
  };
  r.loadSync(resourceProtoFiles, { keepCase: true });
  r.resolveAll();
  root = r;
  return r;
}

/**
 * The message type named by a type URL (`type.googleapis.com/envoy.config.listener.v3.Listener`) or a
 * fully-qualified name, or `undefined` when the root does not hold it.
 */
export function lookupMessageType(typeUrlOrName: string): protobuf.Type | undefined {
  const name = typeUrlOrName.slice(typeUrlOrName.lastIndexOf('/') + 1);
  try {
    return envoyProtoRoot().lookupType(name);
  } catch {
    return undefined;
  }
}
