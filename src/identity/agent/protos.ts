/**
 * Runtime protobuf descriptors for the two services the agent serves on its socket: the SPIFFE
 * Workload API (`proto/spiffe/workload.proto`, service `SpiffeWorkloadAPI`, no package) and Envoy's
 * SDS v3 (`envoy.service.secret.v3.SecretDiscoveryService`, from `@grpc/grpc-js-xds`'s `deps/`).
 *
 * Connect (`@connectrpc/connect-node`) needs `@bufbuild/protobuf` v2 descriptors. We have no codegen
 * step, so the `.proto` files are parsed with protobufjs and each reachable declaration is turned into
 * a `FileDescriptorProto` by hand (protobufjs' own `toDescriptor` groups by package and emits relative
 * type names, which `createFileRegistry` cannot resolve). Only declarations reachable from the
 * requested roots are kept, so Envoy's annotation and validation extensions never enter the registry.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';
import { create, createFileRegistry, type FileRegistry } from '@bufbuild/protobuf';
import {
  DescriptorProtoSchema,
  EnumDescriptorProtoSchema,
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FieldDescriptorProtoSchema,
  FileDescriptorProtoSchema,
  FileDescriptorSetSchema,
  MessageOptionsSchema,
  MethodDescriptorProtoSchema,
  OneofDescriptorProtoSchema,
  ServiceDescriptorProtoSchema,
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  type FileDescriptorProto,
} from '@bufbuild/protobuf/wkt';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const require = createRequire(import.meta.url);
const xdsDeps = path.join(path.dirname(require.resolve('@grpc/grpc-js-xds/package.json')), 'deps');

/** Absolute path of the Workload API proto. */
export const WORKLOAD_PROTO_PATH = path.join(repoRoot, 'proto/spiffe/workload.proto');

/** Include directories for the Envoy protos (`envoy-api`, `xds`, `googleapis`, `protoc-gen-validate`). */
export const ENVOY_PROTO_INCLUDE_DIRS = ['envoy-api', 'xds', 'googleapis', 'protoc-gen-validate'].map((d) =>
  path.join(xdsDeps, d),
);

/** Type URL of an SDS resource (Envoy `envoy.extensions.transport_sockets.tls.v3.Secret`). */
export const SECRET_TYPE_URL = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret';

/** Fully qualified names the agent serves or packs into `google.protobuf.Any`. */
export const AGENT_PROTO_ROOTS = [
  'SpiffeWorkloadAPI',
  'envoy.service.secret.v3.SecretDiscoveryService',
  'envoy.extensions.transport_sockets.tls.v3.Secret',
  'envoy.extensions.transport_sockets.tls.v3.SPIFFECertValidatorConfig',
  'grpc.reflection.v1.ServerReflection',
  'grpc.reflection.v1alpha.ServerReflection',
] as const;

/**
 * gRPC server reflection (grpc/grpc `reflection/v1/reflection.proto`, same shape as v1alpha),
 * authored from the protocol's field list. `%PACKAGE%` is replaced per version.
 */
const REFLECTION_PROTO = `
syntax = "proto3";
package %PACKAGE%;
service ServerReflection {
  rpc ServerReflectionInfo(stream ServerReflectionRequest) returns (stream ServerReflectionResponse);
}
message ServerReflectionRequest {
  string host = 1;
  oneof message_request {
    string file_by_filename = 3;
    string file_containing_symbol = 4;
    ExtensionRequest file_containing_extension = 5;
    string all_extension_numbers_of_type = 6;
    string list_services = 7;
  }
}
message ExtensionRequest {
  string containing_type = 1;
  int32 extension_number = 2;
}
message ServerReflectionResponse {
  string valid_host = 1;
  ServerReflectionRequest original_request = 2;
  oneof message_response {
    FileDescriptorResponse file_descriptor_response = 4;
    ExtensionNumberResponse all_extension_numbers_response = 5;
    ListServiceResponse list_services_response = 6;
    ErrorResponse error_response = 7;
  }
}
message FileDescriptorResponse { repeated bytes file_descriptor_proto = 1; }
message ExtensionNumberResponse {
  string base_type_name = 1;
  repeated int32 extension_number = 2;
}
message ListServiceResponse { repeated ServiceResponse service = 1; }
message ServiceResponse { string name = 1; }
message ErrorResponse {
  int32 error_code = 1;
  string error_message = 2;
}
`;

/**
 * Parses `files` (paths relative to one of `includeDirs`, or absolute) with protobufjs and returns a
 * `@bufbuild/protobuf` file registry holding the declarations reachable from `roots` (fully
 * qualified names of services, messages or enums). Throws when a file is missing or a root is unknown.
 */
export function buildFileRegistry(
  files: string[],
  includeDirs: string[],
  roots: readonly string[],
  inline: ReadonlyArray<{ filename: string; source: string }> = [],
): FileRegistry {
  const root = new protobuf.Root();
  const protobufjsDir = path.dirname(require.resolve('protobufjs/package.json'));
  const dirs = [...includeDirs, protobufjsDir];
  root.resolvePath = (origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const dir of dirs) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return protobuf.util.path.resolve(origin, target);
  };
  root.loadSync(files, { keepCase: true });
  for (const { filename, source } of inline) {
    const { package: pkg } = protobuf.parse(source, root, { keepCase: true });
    const ns = pkg ? root.lookup(pkg) : root;
    for (const decl of (ns as protobuf.Namespace).nestedArray) decl.filename ??= filename;
  }
  root.resolveAll();
  const decls = reachableDeclarations(root, roots);
  return createFileRegistry(create(FileDescriptorSetSchema, { file: toFileDescriptors(decls) }));
}

type Decl = protobuf.Type | protobuf.Enum | protobuf.Service;

/** The top-level declaration (direct child of a package namespace) that holds `obj`. */
function topLevel(obj: protobuf.ReflectionObject): Decl {
  let cur = obj;
  while (cur.parent && (cur.parent instanceof protobuf.Type || cur.parent instanceof protobuf.Service))
    cur = cur.parent;
  return cur as Decl;
}

/** Every top-level declaration reachable from `roots` through field and method types. */
function reachableDeclarations(root: protobuf.Root, roots: readonly string[]): Set<Decl> {
  const seen = new Set<Decl>();
  const queue: Decl[] = [];
  const visit = (obj: protobuf.ReflectionObject): void => {
    const decl = topLevel(obj);
    if (!seen.has(decl)) {
      seen.add(decl);
      queue.push(decl);
    }
  };
  for (const name of roots) {
    const found = root.lookup(name);
    if (!found) throw new Error(`protos: ${name} is not declared in the loaded .proto files`);
    visit(found);
  }
  while (queue.length > 0) {
    for (const dep of directDependencies(queue.pop()!)) visit(dep);
  }
  return seen;
}

/** Types referenced by a declaration's fields, nested types and methods. */
function directDependencies(decl: protobuf.ReflectionObject): protobuf.ReflectionObject[] {
  const out: protobuf.ReflectionObject[] = [];
  if (decl instanceof protobuf.Service) {
    for (const m of decl.methodsArray) {
      m.resolve();
      out.push(m.resolvedRequestType!, m.resolvedResponseType!);
    }
  } else if (decl instanceof protobuf.Type) {
    for (const f of decl.fieldsArray) {
      f.resolve();
      if (f.resolvedType) out.push(f.resolvedType);
    }
    for (const nested of decl.nestedArray) out.push(...directDependencies(nested));
  }
  return out;
}

/** Groups declarations by source file and emits FileDescriptorProtos in dependency order. */
function toFileDescriptors(decls: Set<Decl>): FileDescriptorProto[] {
  const byFile = new Map<string, Decl[]>();
  for (const d of decls) {
    const file = fileNameOf(d);
    byFile.set(file, [...(byFile.get(file) ?? []), d]);
  }
  const deps = new Map<string, Set<string>>();
  for (const [file, list] of byFile) {
    const set = new Set<string>();
    for (const d of list) for (const dep of directDependencies(d)) set.add(fileNameOf(topLevel(dep)));
    set.delete(file);
    deps.set(file, set);
  }
  const ordered: string[] = [];
  const done = new Set<string>();
  const visit = (file: string, stack: Set<string>): void => {
    if (done.has(file)) return;
    if (stack.has(file)) throw new Error(`protos: import cycle through ${file}`);
    stack.add(file);
    for (const d of deps.get(file) ?? []) visit(d, stack);
    stack.delete(file);
    done.add(file);
    ordered.push(file);
  };
  for (const file of [...byFile.keys()].sort()) visit(file, new Set());
  return ordered.map((file) => {
    const list = byFile.get(file)!;
    const pkg = list[0]!.parent!.fullName.replace(/^\./, '');
    return create(FileDescriptorProtoSchema, {
      name: file,
      package: pkg,
      syntax: 'proto3',
      dependency: [...deps.get(file)!].sort(),
      messageType: list.filter((d) => d instanceof protobuf.Type).map((t) => messageDescriptor(t)),
      enumType: list.filter((d) => d instanceof protobuf.Enum).map((e) => enumDescriptor(e)),
      service: list
        .filter((d) => d instanceof protobuf.Service)
        .map((s) =>
          create(ServiceDescriptorProtoSchema, {
            name: s.name,
            method: s.methodsArray.map((m) =>
              create(MethodDescriptorProtoSchema, {
                name: m.name,
                inputType: m.resolvedRequestType!.fullName,
                outputType: m.resolvedResponseType!.fullName,
                clientStreaming: m.requestStream === true,
                serverStreaming: m.responseStream === true,
              }),
            ),
          }),
        ),
    });
  });
}

/** Source file of a declaration, relative to its include dir (as protoc would name it). */
function fileNameOf(decl: protobuf.ReflectionObject): string {
  const file = decl.filename ?? 'unknown.proto';
  if (!path.isAbsolute(file)) return file;
  for (const dir of [...ENVOY_PROTO_INCLUDE_DIRS, path.join(repoRoot, 'proto')]) {
    if (file.startsWith(dir + path.sep)) return path.relative(dir, file);
  }
  const marker = `${path.sep}google${path.sep}protobuf${path.sep}`;
  const i = file.lastIndexOf(marker);
  if (i >= 0) return file.slice(i + 1);
  return path.basename(file);
}

const SCALARS: Record<string, FieldDescriptorProto_Type> = {
  double: FieldDescriptorProto_Type.DOUBLE,
  float: FieldDescriptorProto_Type.FLOAT,
  int64: FieldDescriptorProto_Type.INT64,
  uint64: FieldDescriptorProto_Type.UINT64,
  int32: FieldDescriptorProto_Type.INT32,
  fixed64: FieldDescriptorProto_Type.FIXED64,
  fixed32: FieldDescriptorProto_Type.FIXED32,
  bool: FieldDescriptorProto_Type.BOOL,
  string: FieldDescriptorProto_Type.STRING,
  bytes: FieldDescriptorProto_Type.BYTES,
  uint32: FieldDescriptorProto_Type.UINT32,
  sfixed32: FieldDescriptorProto_Type.SFIXED32,
  sfixed64: FieldDescriptorProto_Type.SFIXED64,
  sint32: FieldDescriptorProto_Type.SINT32,
  sint64: FieldDescriptorProto_Type.SINT64,
};

/** Field type and type name (fully qualified, leading dot) for a protobufjs type reference. */
function fieldType(
  typeName: string,
  resolved: protobuf.Type | protobuf.Enum | null,
): { type: FieldDescriptorProto_Type; typeName?: string } {
  if (resolved instanceof protobuf.Type)
    return { type: FieldDescriptorProto_Type.MESSAGE, typeName: resolved.fullName };
  if (resolved instanceof protobuf.Enum)
    return { type: FieldDescriptorProto_Type.ENUM, typeName: resolved.fullName };
  const scalar = SCALARS[typeName];
  if (scalar === undefined) throw new Error(`protos: unresolved field type ${typeName}`);
  return { type: scalar };
}

/** protoc's map entry name: `federated_bundles` → `FederatedBundlesEntry`. */
function mapEntryName(field: string): string {
  return field.replace(/(?:^|_)([a-z0-9])/g, (_m, c: string) => c.toUpperCase()) + 'Entry';
}

function messageDescriptor(type: protobuf.Type): DescriptorProto {
  const nestedType: DescriptorProto[] = [];
  const field: FieldDescriptorProto[] = [];
  const oneofs = type.oneofsArray;
  for (const f of type.fieldsArray) {
    f.resolve();
    if (f.map) {
      const entry = mapEntryName(f.name);
      const mf = f as unknown as protobuf.MapField;
      nestedType.push(
        create(DescriptorProtoSchema, {
          name: entry,
          options: create(MessageOptionsSchema, { mapEntry: true }),
          field: [
            create(FieldDescriptorProtoSchema, {
              name: 'key',
              jsonName: 'key',
              number: 1,
              label: FieldDescriptorProto_Label.OPTIONAL,
              ...fieldType(mf.keyType, null),
            }),
            create(FieldDescriptorProtoSchema, {
              name: 'value',
              jsonName: 'value',
              number: 2,
              label: FieldDescriptorProto_Label.OPTIONAL,
              ...fieldType(mf.type, mf.resolvedType),
            }),
          ],
        }),
      );
      field.push(
        create(FieldDescriptorProtoSchema, {
          name: f.name,
          number: f.id,
          label: FieldDescriptorProto_Label.REPEATED,
          type: FieldDescriptorProto_Type.MESSAGE,
          typeName: `${type.fullName}.${entry}`,
        }),
      );
      continue;
    }
    const proto3Optional = (f.options as Record<string, unknown> | undefined)?.['proto3_optional'] === true;
    field.push(
      create(FieldDescriptorProtoSchema, {
        name: f.name,
        number: f.id,
        label: f.repeated ? FieldDescriptorProto_Label.REPEATED : FieldDescriptorProto_Label.OPTIONAL,
        ...fieldType(f.type, f.resolvedType),
        ...(f.partOf ? { oneofIndex: oneofs.indexOf(f.partOf) } : {}),
        ...(proto3Optional ? { proto3Optional: true } : {}),
      }),
    );
  }
  for (const nested of type.nestedArray) {
    if (nested instanceof protobuf.Type) nestedType.push(messageDescriptor(nested));
  }
  return create(DescriptorProtoSchema, {
    name: type.name,
    field,
    nestedType,
    enumType: type.nestedArray.filter((n) => n instanceof protobuf.Enum).map((e) => enumDescriptor(e)),
    oneofDecl: oneofs.map((o) => create(OneofDescriptorProtoSchema, { name: o.name })),
  });
}

function enumDescriptor(e: protobuf.Enum): EnumDescriptorProto {
  return create(EnumDescriptorProtoSchema, {
    name: e.name,
    value: Object.entries(e.values).map(([name, number]) => ({ name, number })),
  });
}

let agentRegistry: FileRegistry | undefined;

/**
 * The registry of everything the agent socket speaks: Workload API, SDS v3 (+ Secret and the SPIFFE
 * validator config for `Any` packing) and gRPC server reflection. Built once per process (~0.3 s).
 */
export function agentFileRegistry(): FileRegistry {
  agentRegistry ??= buildFileRegistry(
    [
      WORKLOAD_PROTO_PATH,
      'envoy/service/secret/v3/sds.proto',
      'envoy/extensions/transport_sockets/tls/v3/secret.proto',
      'envoy/extensions/transport_sockets/tls/v3/tls_spiffe_validator_config.proto',
    ],
    ENVOY_PROTO_INCLUDE_DIRS,
    AGENT_PROTO_ROOTS,
    ['v1', 'v1alpha'].map((v) => ({
      filename: `grpc/reflection/${v}/reflection.proto`,
      source: REFLECTION_PROTO.replace('%PACKAGE%', `grpc.reflection.${v}`),
    })),
  );
  return agentRegistry;
}
