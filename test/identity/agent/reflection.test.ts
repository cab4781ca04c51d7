/**
 * gRPC server reflection on the agent socket (SPIFFE Workload Endpoint: SHOULD support it), checked
 * at the wire level: requests are hand-encoded, answers decoded with protobufjs' own descriptor
 * types, so nothing of the agent's proto handling is reused on the client side.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import protobuf from 'protobufjs';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import { SvidCache } from '../../../src/identity/agent/index.js';
import { startTestSocket, testCa } from './support.js';

/** Length-delimited field `n` holding `value`. */
function field(n: number, value: string): Buffer {
  const w = protobuf.Writer.create();
  w.uint32((n << 3) | 2).string(value);
  return Buffer.from(w.finish());
}

/** Every length-delimited field of a message: [field number, bytes]. */
function fields(buf: Uint8Array): Array<[number, Uint8Array]> {
  const r = protobuf.Reader.create(buf);
  const out: Array<[number, Uint8Array]> = [];
  while (r.pos < r.len) {
    const tag = r.uint32();
    if ((tag & 7) === 2) out.push([tag >>> 3, r.bytes()]);
    else r.skipType(tag & 7);
  }
  return out;
}

describe('server reflection', () => {
  let sock: Awaited<ReturnType<typeof startTestSocket>>;
  let client: grpc.Client;

  before(async () => {
    const ca = await testCa();
    sock = await startTestSocket(new SvidCache(ca.trustDomain));
    client = new grpc.Client(`unix://${sock.socketPath}`, grpc.credentials.createInsecure());
  });
  after(async () => {
    client.close();
    await sock.close();
  });

  for (const version of ['v1', 'v1alpha']) {
    test(`grpc.reflection.${version}: list services, then the file declaring SpiffeWorkloadAPI`, async () => {
      const call = client.makeBidiStreamRequest(
        `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`,
        (b: Buffer) => b,
        (b: Buffer) => b,
      );
      const answers: Buffer[] = [];
      const done = new Promise<void>((resolve, reject) => {
        call.on('data', (d: Buffer) => answers.push(d));
        call.on('end', resolve);
        call.on('error', reject);
      });
      call.write(field(7, '*'));
      call.write(field(4, 'SpiffeWorkloadAPI'));
      call.end();
      await done;
      assert.equal(answers.length, 2);
      const list = fields(answers[0]!).find(([n]) => n === 6)![1];
      const services = fields(list).map(([, s]) => Buffer.from(fields(s)[0]![1]).toString());
      assert.ok(services.includes('SpiffeWorkloadAPI'), services.join(' '));
      assert.ok(services.includes('envoy.service.secret.v3.SecretDiscoveryService'));
      const fdr = fields(answers[1]!).find(([n]) => n === 4)![1];
      const files = fields(fdr).map(
        ([, b]) =>
          descriptor.FileDescriptorProto.decode(b) as unknown as {
            name: string;
            package?: string;
            service: Array<{ name: string; method: Array<{ name: string }> }>;
            dependency: string[];
          },
      );
      const workload = files.find((f) => f.service.some((s) => s.name === 'SpiffeWorkloadAPI'))!;
      assert.equal(workload.package ?? '', '', 'the Workload API has no proto package');
      assert.deepEqual(
        workload.service[0]!.method.map((m) => m.name),
        [
          'FetchX509SVID',
          'FetchX509Bundles',
          'FetchJWTSVID',
          'FetchJWTBundles',
          'ValidateJWTSVID',
          'FetchWITSVID',
          'FetchWITBundles',
        ],
      );
      for (const dep of workload.dependency)
        assert.ok(
          files.some((f) => f.name === dep),
          `dependency ${dep} is included`,
        );
    });
  }
});
