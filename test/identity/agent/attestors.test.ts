/**
 * Workload attestors: the pod-info HTTP client (TCP and unix socket, 404, malformed answers), the
 * k8s selectors it yields, the unix attestor on a real process under uid nobody, and the pid-reuse
 * guard (start time from /proc).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  HttpPodInfoSource,
  K8sAttestor,
  PodInfoError,
  UnixAttestor,
  WorkloadAttestationError,
  assertPeerUnchanged,
  processStartTime,
  selectorString,
  type PodInfo,
} from '../../../src/identity/agent/index.js';

const POD: PodInfo = {
  namespace: 'prod',
  serviceAccount: 'web-sa',
  podName: 'web-7d9f',
  podUid: '0b5c6f1e-0000-4000-8000-000000000001',
  nodeName: 'node-1',
  labels: { app: 'web', 'app.kubernetes.io/version': 'v1' },
  containerName: 'app',
};

describe('pod-info source and k8s attestor', () => {
  let dir: string;
  let tcp: http.Server;
  let unix: http.Server;
  let tcpUrl: string;
  const handler: http.RequestListener = (req, res) => {
    if (req.url === '/pods/by-pid/100')
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(POD));
    else if (req.url === '/pods/by-pid/200') res.writeHead(200).end(JSON.stringify({ namespace: 7 }));
    else if (req.url === '/pods/by-pid/300') res.writeHead(500).end();
    else res.writeHead(404).end();
  };

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'tm-podinfo-'));
    tcp = http.createServer(handler);
    unix = http.createServer(handler);
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    await new Promise<void>((r) => unix.listen(path.join(dir, 'pods.sock'), r));
    tcpUrl = `http://127.0.0.1:${(tcp.address() as { port: number }).port}`;
  });

  after(async () => {
    await new Promise((r) => tcp.close(r));
    await new Promise((r) => unix.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  test('http:// and unix:/// sources answer the pod of a pid, or undefined on 404', async () => {
    for (const url of [tcpUrl, `unix://${path.join(dir, 'pods.sock')}`]) {
      const src = new HttpPodInfoSource({ url });
      try {
        assert.deepEqual(await src.podForPid(100), POD);
        assert.equal(await src.podForPid(999), undefined);
      } finally {
        await src.close();
      }
    }
  });

  test('malformed answers and server errors are PodInfoError', async () => {
    const src = new HttpPodInfoSource({ url: tcpUrl });
    try {
      await assert.rejects(
        src.podForPid(200),
        (e: unknown) => e instanceof PodInfoError && /field namespace/.test(e.message),
      );
      await assert.rejects(
        src.podForPid(300),
        (e: unknown) => e instanceof PodInfoError && /500/.test(e.message),
      );
    } finally {
      await src.close();
    }
  });

  test('k8s selectors; a pid in no pod has none; a failing source is an attestation error', async () => {
    const src = new HttpPodInfoSource({ url: tcpUrl });
    const k8s = new K8sAttestor(src);
    const peer = (pid: number) => ({ pid, uid: 0, gid: 0, startTime: '1' });
    try {
      assert.deepEqual((await k8s.attest(peer(100))).map(selectorString).sort(), [
        'k8s:container-name:app',
        'k8s:node-name:node-1',
        'k8s:ns:prod',
        'k8s:pod-label:app.kubernetes.io/version:v1',
        'k8s:pod-label:app:web',
        'k8s:pod-name:web-7d9f',
        'k8s:pod-uid:0b5c6f1e-0000-4000-8000-000000000001',
        'k8s:sa:web-sa',
      ]);
      assert.deepEqual(await k8s.attest(peer(999)), []);
      await assert.rejects(k8s.attest(peer(300)), WorkloadAttestationError);
    } finally {
      await src.close();
    }
  });
});

describe('unix attestor and pid-reuse guard', () => {
  test(
    'selectors of a process running as nobody',
    { skip: process.getuid!() === 0 ? false : 'needs root' },
    async () => {
      const child = spawn('/bin/sleep', ['30'], { uid: 65534, gid: 65534 });
      try {
        await new Promise((r) => child.once('spawn', r));
        const peer = {
          pid: child.pid!,
          uid: 65534,
          gid: 65534,
          startTime: await processStartTime(child.pid!),
        };
        const selectors = (await new UnixAttestor().attest(peer)).map(selectorString);
        for (const s of ['unix:uid:65534', 'unix:gid:65534', 'unix:user:nobody', 'unix:group:nogroup']) {
          assert.ok(selectors.includes(s), `${s} in ${selectors.join(' ')}`);
        }
        const exe = selectors.find((s) => s.startsWith('unix:path:'));
        assert.match(exe ?? '', /^unix:path:\/.*sleep$/);
        assert.ok(selectors.some((s) => /^unix:sha256:[0-9a-f]{64}$/.test(s)));
        await assertPeerUnchanged(peer);
      } finally {
        child.kill();
      }
    },
  );

  test('workloads of one binary attested at once all get its sha256; a vanished one is refused', async () => {
    const children = Array.from({ length: 8 }, () => spawn('/bin/sleep', ['30']));
    try {
      await Promise.all(children.map((c) => new Promise((r) => c.once('spawn', r))));
      const expected = createHash('sha256')
        .update(await readFile('/bin/sleep'))
        .digest('hex');
      const attestor = new UnixAttestor();
      const peers = await Promise.all(
        children.map(async (c) => ({
          pid: c.pid!,
          uid: 0,
          gid: 0,
          startTime: await processStartTime(c.pid!),
        })),
      );
      const gone = { pid: 2 ** 22 + 1, uid: 0, gid: 0, startTime: '1' };
      const results = await Promise.allSettled([...peers, gone].map((p) => attestor.attest(p)));
      for (const r of results.slice(0, -1)) {
        assert.equal(r.status, 'fulfilled');
        assert.ok(r.value.some((s) => selectorString(s) === `unix:sha256:${expected}`));
      }
      const last = results.at(-1)!;
      assert.ok(last.status === 'rejected' && last.reason instanceof WorkloadAttestationError);
      // The shared hash outlives the failed attestation.
      const again = await attestor.attest(peers[0]!);
      assert.ok(again.some((s) => selectorString(s) === `unix:sha256:${expected}`));
    } finally {
      for (const c of children) c.kill();
    }
  });

  test('a pid whose start time changed, or whose process is gone, is refused', async () => {
    const child = spawn('/bin/sleep', ['30']);
    await new Promise((r) => child.once('spawn', r));
    const startTime = await processStartTime(child.pid!);
    assert.match(startTime ?? '', /^\d+$/);
    await assert.rejects(
      assertPeerUnchanged({ pid: child.pid!, uid: 0, gid: 0, startTime: String(Number(startTime) + 1) }),
      /reused/,
    );
    child.kill();
    await new Promise((r) => child.once('exit', r));
    await new Promise((r) => setImmediate(r));
    await assert.rejects(
      assertPeerUnchanged({ pid: child.pid!, uid: 0, gid: 0, startTime }),
      WorkloadAttestationError,
    );
  });
});
