/**
 * The gRPC service of test/proxy/mesh-protocols.test.ts (`test.Echo`), JSON-encoded so no .proto is
 * needed: `Say` (unary) and `Chat` (bidi streaming). Shared by the app (support/mesh-apps.ts) and the
 * test's client.
 */
import type * as grpc from '@grpc/grpc-js';

const json = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): unknown => JSON.parse(b.toString('utf8')),
};
/** Method definitions of `test.Echo`. */
export const echoService = {
  say: {
    path: '/test.Echo/Say',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
  chat: {
    path: '/test.Echo/Chat',
    requestStream: true,
    responseStream: true,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
} satisfies grpc.ServiceDefinition;
