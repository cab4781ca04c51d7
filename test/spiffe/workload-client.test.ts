import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { SpiffeId, TrustDomain } from '../../src/spiffe/index.js';
import {
  loadWorkloadApi,
  watchBackoffMs,
  WorkloadApiClient,
  WorkloadApiError,
  WorkloadEndpointError,
  X509Source,
  type X509Context,
  type X509SvidResponseMessage,
} from '../../src/spiffe/workload/index.js';
import { FakeWorkloadApi, TestCa } from '../support/fake-workload-api.js';

/** Values pushed by callbacks, awaited one at a time (fails after `timeoutMs`, never hangs the suite). */
function queue<T>() {
  const items: T[] = [];
  const waiters: ((v: T) => void)[] = [];
  return {
    push(v: T): void {
      const w = waiters.shift();
      if (w) w(v);
      else items.push(v);
    },
    next(timeoutMs = 15_000): Promise<T> {
      if (items.length > 0) return Promise.resolve(items.shift() as T);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`nothing arrived within ${timeoutMs} ms`)),
          timeoutMs,
        );
        waiters.push((v) => {
          clearTimeout(timer);
          resolve(v);
        });
      });
    },
    get size(): number {
      return items.length;
    },
  };
}

const waitUntil = async (cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const callsOf = (fake: FakeWorkloadApi, method: string): number =>
  fake.calls.filter((c) => c.method === method).length;

describe('Workload API client against a fake SpiffeWorkloadAPI on a unix socket', () => {
  let ca: TestCa;
  let federated: TestCa;
  let fake: FakeWorkloadApi;
  const clients: { close(): void }[] = [];
  const client = (o: ConstructorParameters<typeof WorkloadApiClient>[0] = {}): WorkloadApiClient => {
    const c = new WorkloadApiClient({ address: fake.address, backoffStepMs: 50, ...o });
    clients.push(c);
    return c;
  };
  const x509Message = (...paths: string[]): X509SvidResponseMessage => ({
    svids: paths.map((p, i) => ca.x509Svid(p, { hint: `hint-${i}` })),
    crl: [],
    federated_bundles: { [federated.trustDomain.idString()]: federated.bundleDer() },
  });

  before(async () => {
    ca = await TestCa.create('example.org');
    federated = await TestCa.create('partner.test');
    fake = await FakeWorkloadApi.start();
  });
  beforeEach(() => {
    fake.calls.length = 0;
    fake.skipHeaderCheck = false;
  });
  after(() => {
    for (const c of clients) c.close();
    fake.close();
  });

  it('fetchX509Context: SVIDs (default first), keys, hints and bundles, with the security header', async () => {
    fake.x509 = x509Message('/web', '/db');
    const ctx = await client().fetchX509Context();
    assert.deepEqual(
      ctx.svids.map((s) => [s.spiffeId.toString(), s.hint]),
      [
        ['spiffe://example.org/web', 'hint-0'],
        ['spiffe://example.org/db', 'hint-1'],
      ],
    );
    const leaf = ctx.svids[0]!.certificates[0]!;
    assert.ok(leaf.checkPrivateKey(ctx.svids[0]!.privateKey), 'the key matches the leaf');
    assert.ok(ctx.bundles.getX509BundleForTrustDomain(ca.trustDomain)?.hasAuthority(ca.cert));
    assert.ok(ctx.bundles.getX509BundleForTrustDomain(federated.trustDomain)?.hasAuthority(federated.cert));
    assert.deepEqual(fake.calls, [{ method: 'FetchX509SVID', header: ['true'] }]);
  });

  it('the fake refuses a call without the header, so the client passing proves it sends it', async () => {
    fake.x509 = x509Message('/web');
    const { Client } = loadWorkloadApi();
    const raw = new Client(fake.address, grpc.credentials.createInsecure());
    clients.push(raw);
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      const call = raw.FetchX509SVID({}, new grpc.Metadata());
      call.on('data', () => assert.fail('answered without the header'));
      call.on('error', resolve);
    });
    assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
    assert.equal(err.details, 'security header missing from request');
    const wrongCase = new grpc.Metadata();
    wrongCase.set('workload.spiffe.io', 'True');
    const caseErr = await new Promise<grpc.ServiceError>((resolve) => {
      const call = raw.FetchX509SVID({}, wrongCase);
      call.on('data', () => assert.fail('answered with a wrong-case header value'));
      call.on('error', resolve);
    });
    assert.equal(caseErr.code, grpc.status.INVALID_ARGUMENT, 'the value is case-sensitive');

    const c = client();
    await c.fetchX509Context();
    await c.fetchX509Bundles();
    fake.jwtSvids = async (audience) => ({
      svids: [{ spiffe_id: 'spiffe://example.org/web', svid: await ca.jwtSvid('/web', audience), hint: '' }],
    });
    await c.fetchJwtSvid({ audience: ['a'] });
    await c.fetchJwtBundles();
    assert.deepEqual(
      fake.calls.slice(0, 2).map((call) => call.header),
      [[], ['True']],
    );
    assert.deepEqual(
      fake.calls.slice(2).map((call) => [call.method, call.header]),
      [
        ['FetchX509SVID', ['true']],
        ['FetchX509Bundles', ['true']],
        ['FetchJWTSVID', ['true']],
        ['FetchJWTBundles', ['true']],
      ],
    );
  });

  it('surfaces gRPC errors as WorkloadApiError with the status code', async () => {
    fake.x509 = { code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' };
    await assert.rejects(
      client().fetchX509Context(),
      (err: unknown) =>
        err instanceof WorkloadApiError &&
        err.rule === 'rpc-failed' &&
        err.grpcCode === grpc.status.PERMISSION_DENIED &&
        err.message.includes('no identity issued'),
    );
  });

  it('rejects a message whose SVID breaks the rules (key not matching the leaf)', async () => {
    const good = ca.x509Svid('/web');
    const other = ca.x509Svid('/other');
    fake.x509 = { svids: [{ ...good, x509_svid_key: other.x509_svid_key }], crl: [], federated_bundles: {} };
    await assert.rejects(
      client().fetchX509Context(),
      (err: unknown) => err instanceof WorkloadApiError && err.rule === 'invalid-response',
    );
    const broken: [string, X509SvidResponseMessage][] = [
      ['no SVIDs', { svids: [], crl: [], federated_bundles: {} }],
      [
        'spiffe_id not the certificate’s',
        { svids: [{ ...good, spiffe_id: 'spiffe://example.org/db' }], crl: [], federated_bundles: {} },
      ],
      ['empty spiffe_id', { svids: [{ ...good, spiffe_id: '' }], crl: [], federated_bundles: {} }],
      ['empty bundle', { svids: [{ ...good, bundle: Buffer.alloc(0) }], crl: [], federated_bundles: {} }],
      [
        'garbage chain',
        { svids: [{ ...good, x509_svid: Buffer.from('nope') }], crl: [], federated_bundles: {} },
      ],
      [
        'bad federated key',
        { svids: [good], crl: [], federated_bundles: { 'spiffe://Bad TD': federated.bundleDer() } },
      ],
    ];
    for (const [what, message] of broken) {
      fake.x509 = message;
      await assert.rejects(
        client().fetchX509Context(),
        (err: unknown) => err instanceof WorkloadApiError && err.rule === 'invalid-response',
        what,
      );
    }
    // An empty federated bundle is tolerated (go-spiffe #288).
    fake.x509 = { svids: [good], crl: [], federated_bundles: { 'spiffe://partner.test': Buffer.alloc(0) } };
    const ctx = await client().fetchX509Context();
    assert.equal(ctx.bundles.getX509BundleForTrustDomain(federated.trustDomain)?.authorities().length, 0);
  });

  it('fetchX509Bundles: every trust domain, DER roots', async () => {
    fake.x509Bundles = {
      crl: [],
      bundles: { 'spiffe://example.org': ca.bundleDer(), 'spiffe://partner.test': federated.bundleDer() },
    };
    const set = await client().fetchX509Bundles();
    assert.deepEqual(
      set
        .trustDomains()
        .map((td) => td.name)
        .sort(),
      ['example.org', 'partner.test'],
    );
    assert.ok(
      set.getX509BundleForTrustDomain(TrustDomain.parse('partner.test'))?.hasAuthority(federated.cert),
    );
  });

  it('watchX509Context: rotation pushed on the stream reaches onUpdate', async () => {
    fake.x509 = x509Message('/web');
    const updates = queue<X509Context>();
    const errors = queue<WorkloadApiError>();
    const watcher = client().watchX509Context(updates.push, errors.push);
    const first = await updates.next();
    fake.pushX509(x509Message('/web'));
    const second = await updates.next();
    const serial = (ctx: X509Context): string =>
      (ctx.svids[0]!.certificates[0] as X509Certificate).serialNumber;
    assert.notEqual(serial(first), serial(second), 'a new certificate arrived');
    assert.equal(second.svids[0]!.spiffeId.toString(), 'spiffe://example.org/web');
    watcher.close();
    await waitUntil(() => fake.openX509Streams === 0, 'the server to see the stream closed');
    assert.equal(errors.size, 0);
  });

  it('watchX509Context: a bad message is reported and skipped; the stream goes on', async () => {
    fake.x509 = x509Message('/web');
    const updates = queue<X509Context>();
    const errors = queue<WorkloadApiError>();
    const watcher = client().watchX509Context(updates.push, errors.push);
    await updates.next();
    fake.pushX509({ svids: [], crl: [], federated_bundles: {} });
    assert.equal((await errors.next()).rule, 'invalid-response');
    fake.pushX509(x509Message('/db'));
    assert.equal((await updates.next()).svids[0]!.spiffeId.toString(), 'spiffe://example.org/db');
    assert.equal(callsOf(fake, 'FetchX509SVID'), 1, 'no reconnect was needed');
    watcher.close();
  });

  it('watchX509Context: reconnects with backoff after the server restarts', async () => {
    fake.x509 = x509Message('/web');
    const updates = queue<X509Context>();
    const errors = queue<WorkloadApiError>();
    const watcher = client().watchX509Context(updates.push, errors.push);
    await updates.next();
    fake.stop();
    const err = await errors.next();
    // grpc-js reports a server shutdown as CANCELLED or UNAVAILABLE; either way the watch retries.
    assert.equal(err.rule, 'rpc-failed');
    assert.notEqual(err.grpcCode, grpc.status.INVALID_ARGUMENT);
    fake.x509 = x509Message('/after-restart');
    await fake.listen();
    let ctx = await updates.next(10_000);
    assert.equal(ctx.svids[0]!.spiffeId.toString(), 'spiffe://example.org/after-restart');
    fake.pushX509(x509Message('/pushed'));
    ctx = await updates.next();
    assert.equal(ctx.svids[0]!.spiffeId.toString(), 'spiffe://example.org/pushed');
    watcher.close();
  });

  it('watchX509Context: PermissionDenied is retried, InvalidArgument stops the watch for good', async () => {
    fake.x509 = { code: grpc.status.PERMISSION_DENIED, details: 'no identity issued' };
    const updates = queue<X509Context>();
    const errors = queue<WorkloadApiError>();
    const watcher = client().watchX509Context(updates.push, errors.push);
    assert.equal((await errors.next()).grpcCode, grpc.status.PERMISSION_DENIED);
    assert.equal((await errors.next()).grpcCode, grpc.status.PERMISSION_DENIED, 'retried after the backoff');
    fake.x509 = x509Message('/web');
    await updates.next();
    fake.failX509({ code: grpc.status.INVALID_ARGUMENT, details: 'security header missing from request' });
    assert.equal((await errors.next()).grpcCode, grpc.status.INVALID_ARGUMENT);
    const calls = callsOf(fake, 'FetchX509SVID');
    // Many backoff steps (50 ms each) pass: a live watch would have reconnected by now.
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(callsOf(fake, 'FetchX509SVID'), calls, 'no reconnect after InvalidArgument');
    assert.equal(errors.size, 0);
    watcher.close();
  });

  it('watch backoff is linear, 1 s steps, capped at 30 s', () => {
    assert.deepEqual(
      [1, 2, 3, 29, 30, 31, 100].map((n) => watchBackoffMs(n)),
      [1000, 2000, 3000, 29_000, 30_000, 30_000, 30_000],
    );
  });

  it('fetchJwtSvid: token for the audience; checks sub, aud and exp like go-spiffe', async () => {
    const requests: [string[], string][] = [];
    fake.jwtSvids = async (audience, spiffeId) => {
      requests.push([audience, spiffeId]);
      return {
        svids: [
          { spiffe_id: 'spiffe://example.org/web', svid: await ca.jwtSvid('/web', audience), hint: 'h' },
        ],
      };
    };
    const c = client();
    const svid = await c.fetchJwtSvid({
      audience: ['api', 'db'],
      spiffeId: SpiffeId.parse('spiffe://example.org/web'),
    });
    assert.equal(svid.spiffeId.toString(), 'spiffe://example.org/web');
    assert.deepEqual(svid.audience, ['api', 'db']);
    assert.equal(svid.hint, 'h');
    assert.ok(svid.expiresAt.getTime() > Date.now());
    assert.deepEqual(requests, [[['api', 'db'], 'spiffe://example.org/web']]);

    await assert.rejects(
      c.fetchJwtSvid({ audience: [] }),
      (err: unknown) => err instanceof WorkloadApiError && err.rule === 'bad-request',
    );
    assert.equal(requests.length, 1, 'an empty audience never reaches the server');

    fake.jwtSvids = async () => ({
      svids: [{ spiffe_id: 'spiffe://example.org/web', svid: await ca.jwtSvid('/web', ['other']), hint: '' }],
    });
    await assert.rejects(
      c.fetchJwtSvid({ audience: ['api'] }),
      (err: unknown) =>
        err instanceof WorkloadApiError && err.rule === 'invalid-response' && /audience/.test(err.message),
    );
    const tomorrow = client({ now: () => Date.now() + 86_400_000 });
    fake.jwtSvids = async (audience) => ({
      svids: [{ spiffe_id: 'spiffe://example.org/web', svid: await ca.jwtSvid('/web', audience), hint: '' }],
    });
    await assert.rejects(
      tomorrow.fetchJwtSvid({ audience: ['api'] }),
      (err: unknown) =>
        err instanceof WorkloadApiError && err.rule === 'invalid-response' && /expired/.test(err.message),
    );
    fake.jwtSvids = () => new Promise(() => {}); // never answers
    await assert.rejects(
      c.fetchJwtSvid({ audience: ['api'], timeoutMs: 200 }),
      (err: unknown) => err instanceof WorkloadApiError && err.rule === 'timeout',
    );
    fake.jwtSvids = async () => ({
      svids: [{ spiffe_id: 'spiffe://example.org/db', svid: await ca.jwtSvid('/web', ['api']), hint: '' }],
    });
    await assert.rejects(
      c.fetchJwtSvid({ audience: ['api'] }),
      (err: unknown) => err instanceof WorkloadApiError && err.rule === 'invalid-response',
    );
  });

  it('fetchJwtBundles and validateJwtSvid', async () => {
    fake.jwtBundles = { bundles: { 'spiffe://example.org': Buffer.from(ca.jwtBundle().toJwks()) } };
    fake.validationBundle = ca.jwtBundle();
    const c = client();
    const set = await c.fetchJwtBundles();
    assert.ok(set.getJwtBundleForTrustDomain(ca.trustDomain)?.findKey(ca.jwtKid));

    const token = await ca.jwtSvid('/web', ['api']);
    const validated = await c.validateJwtSvid(token, 'api');
    assert.equal(validated.spiffeId.toString(), 'spiffe://example.org/web');
    assert.equal(validated.claims.sub, 'spiffe://example.org/web');
    assert.deepEqual(validated.claims.aud, ['api']);
    await assert.rejects(
      c.validateJwtSvid(token, 'not-the-audience'),
      (err: unknown) =>
        err instanceof WorkloadApiError &&
        err.rule === 'rpc-failed' &&
        err.grpcCode === grpc.status.INVALID_ARGUMENT,
    );
  });

  it('uses SPIFFE_ENDPOINT_SOCKET when no address is given', async () => {
    fake.x509 = x509Message('/env');
    const saved = process.env.SPIFFE_ENDPOINT_SOCKET;
    process.env.SPIFFE_ENDPOINT_SOCKET = fake.address;
    try {
      const c = new WorkloadApiClient();
      clients.push(c);
      assert.equal((await c.fetchX509Svid()).spiffeId.toString(), 'spiffe://example.org/env');
    } finally {
      if (saved === undefined) delete process.env.SPIFFE_ENDPOINT_SOCKET;
      else process.env.SPIFFE_ENDPOINT_SOCKET = saved;
    }
  });

  it('talks to a tcp://<ip>:<port> endpoint too', async () => {
    const tcp = await FakeWorkloadApi.start({ network: 'tcp' });
    try {
      tcp.x509 = x509Message('/over-tcp');
      const c = new WorkloadApiClient({ address: tcp.address });
      clients.push(c);
      assert.match(tcp.address, /^tcp:\/\/127\.0\.0\.1:\d+$/);
      assert.equal((await c.fetchX509Svid()).spiffeId.toString(), 'spiffe://example.org/over-tcp');
      assert.deepEqual(tcp.calls, [{ method: 'FetchX509SVID', header: ['true'] }]);
    } finally {
      tcp.close();
    }
  });

  it('rejects bad options up front', () => {
    assert.throws(
      () => new WorkloadApiClient({ address: fake.address, backoffStepMs: 0 }),
      (err: unknown) => err instanceof WorkloadApiError && err.rule === 'bad-request',
    );
    assert.throws(
      () => new WorkloadApiClient({ address: 'unix://tmp/agent.sock' }),
      (err: unknown) => err instanceof WorkloadEndpointError && err.rule === 'unix-authority',
    );
  });

  it('a closed client refuses calls', async () => {
    const c = client();
    c.close();
    await assert.rejects(
      c.fetchX509Context(),
      (err: unknown) => err instanceof WorkloadApiError && err.rule === 'closed',
    );
  });

  it('X509Source: ready after the first update, follows rotation, closes', async () => {
    fake.x509 = x509Message('/web');
    const source = await X509Source.create({ address: fake.address, backoffStepMs: 50 });
    try {
      const first = source.getX509Svid();
      assert.equal(first.spiffeId.toString(), 'spiffe://example.org/web');
      assert.ok(source.getX509BundleForTrustDomain(ca.trustDomain)?.hasAuthority(ca.cert));
      const updated = new Promise<X509Context>((resolve) => source.once('update', resolve));
      fake.pushX509(x509Message('/web'));
      const ctx = await updated;
      assert.equal(source.getX509Svid(), ctx.svids[0]);
      assert.notEqual(source.getX509Svid(), first);
    } finally {
      source.close();
    }
    assert.throws(
      () => source.getX509Svid(),
      (err: unknown) => err instanceof WorkloadApiError && err.rule === 'closed',
    );
    await waitUntil(() => fake.openX509Streams === 0, 'the source to close its stream');
  });

  it('X509Source: create() rejects a bad address', async () => {
    await assert.rejects(
      X509Source.create({ address: 'tcp://agent.local:8081' }),
      (err: unknown) => err instanceof WorkloadEndpointError && err.rule === 'tcp-host-not-ip',
    );
  });

  it('X509Source: create() fails when the server says InvalidArgument', async () => {
    fake.x509 = { code: grpc.status.INVALID_ARGUMENT, details: 'security header missing from request' };
    await assert.rejects(
      X509Source.create({ address: fake.address, backoffStepMs: 50 }),
      (err: unknown) => err instanceof WorkloadApiError && err.grpcCode === grpc.status.INVALID_ARGUMENT,
    );
  });
});
