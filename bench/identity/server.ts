/**
 * Identity server benchmark (run by bench/run.ts; `--quick` shortens it). Prints measurement lines.
 *
 * 1. X509-SVID signing rate through the real path — agent → gRPC/TLS → BatchNewX509Svid (CSR parse
 *    and signature check, authorization, DER template, ECDSA P-256) — against a server in a separate
 *    process, compared with the raw `crypto.sign` P-256 rate measured in this run.
 * 2. Entry sync cost: one agent authorized for N entries (10k; 100k without --quick), full paged
 *    SyncAuthorizedEntries (median of 3 rounds, `--quick` 2: wall time, the server process's CPU
 *    time and the bytes it wrote, i.e. TLS records on the wire, from /proc) and an incremental sync
 *    after one change (single shot: it is one call after one change).
 */
import { generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createCsr, generateKeyPair } from '../../src/spiffe/index.js';
import { loadAgentApi, type AgentClient } from '../../src/identity/api/index.js';
import { adminCall } from '../../src/identity/server/index.js';
import { bytesWritten, cpuMicros } from '../lib/proc.js';
import { emit, median } from '../lib/report.js';
import { startBenchServer, type BenchServer } from './server-process.js';

const quick = process.argv.includes('--quick');

/** ops/s of `fn` over `ms` milliseconds (after a short warm-up). */
async function rate(ms: number, fn: () => Promise<number> | number): Promise<number> {
  const warm = Date.now() + Math.min(300, ms / 4);
  while (Date.now() < warm) await fn();
  let n = 0;
  const start = process.hrtime.bigint();
  const end = Date.now() + ms;
  while (Date.now() < end) n += await fn();
  return n / (Number(process.hrtime.bigint() - start) / 1e9);
}

function unary<Res>(client: AgentClient, method: string, req: unknown): Promise<Res> {
  return new Promise((resolve, reject) =>
    (client as unknown as Record<string, (r: unknown, cb: (e: Error | null, v: Res) => void) => void>)[
      method
    ]!.call(client, req, (e, v) => (e ? reject(e) : resolve(v))),
  );
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tm-bench-server-'));
  const server = await startBenchServer(dir);
  const clients: AgentClient[] = [];
  try {
    await run(server, clients);
  } finally {
    for (const c of clients) c.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Wall time, server CPU time (ms) and bytes the server wrote (TLS on the wire) during one call. */
interface Cost {
  ms: number;
  cpuMs: number;
  bytes: number;
}

async function serverCost(pid: number, fn: () => Promise<unknown>): Promise<Cost> {
  const [cpu0, bytes0, t0] = [cpuMicros(pid), bytesWritten(pid), performance.now()];
  await fn();
  const ms = performance.now() - t0;
  return { ms, cpuMs: (cpuMicros(pid) - cpu0) / 1000, bytes: bytesWritten(pid) - bytes0 };
}

async function run(server: BenchServer, clients: AgentClient[]): Promise<void> {
  const { socketPath } = server;
  const secs = quick ? 1500 : 4000;
  // Raw sign rate: the ceiling for one core.
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const tbs = Buffer.alloc(400, 7);
  const raw = await rate(secs, () => (sign('sha256', tbs, privateKey), 1));
  emit({ name: 'x509-svid signing', variant: 'raw crypto.sign P-256', unit: 'signatures/s', value: raw });

  // An agent with one entry, over the real agent API.
  const port = server.agentApiPort;
  const { token } = await adminCall<{ token: string }>(socketPath, 'token.generate', {});
  const bundle = await adminCall<{ pem: string }>(socketPath, 'bundle.show', {});
  const { Client } = loadAgentApi();
  const check = { checkServerIdentity: () => undefined };
  const anon = new Client(
    `127.0.0.1:${port}`,
    grpc.credentials.createSsl(Buffer.from(bundle.pem), null, null, check),
  );
  clients.push(anon);
  const agentKey = generateKeyPair();
  const att = await unary<{ spiffe_id: string; cert_chain: Buffer[] }>(anon, 'AttestAgent', {
    attestation_type: 'join_token',
    payload: Buffer.from(token),
    csr: await createCsr(agentKey),
  });
  const certPem = att.cert_chain
    .map(
      (d) =>
        `-----BEGIN CERTIFICATE-----\n${d.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`,
    )
    .join('');
  const keyPem = agentKey.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  const agent = new Client(
    `127.0.0.1:${port}`,
    grpc.credentials.createSsl(Buffer.from(bundle.pem), Buffer.from(keyPem), Buffer.from(certPem), check),
  );
  clients.push(agent);
  const created = await adminCall<{ results: { value: { id: string } }[] }>(socketPath, 'entry.create', {
    entries: [
      {
        spiffe_id: 'spiffe://bench.test/w',
        parent_id: att.spiffe_id,
        selectors: [{ type: 'unix', value: 'uid:1' }],
      },
    ],
  });
  const entryId = created.results[0]!.value.id;
  const batch = 50;
  const csrs = await Promise.all(
    Array.from({ length: batch }, async () => Buffer.from(await createCsr(generateKeyPair()))),
  );
  const params = csrs.map((csr) => ({ entry_id: entryId, csr }));
  // Two requests in flight keep the server busy while the client decodes.
  let signed = 0;
  let cpuAtStart = 0;
  const svidRate = await rate(secs, async () => {
    if (signed === 0) cpuAtStart = cpuMicros(server.pid);
    const rs = await Promise.all(
      [0, 1].map(() =>
        unary<{ results: { status: { code: number } }[] }>(agent, 'BatchNewX509Svid', { params }),
      ),
    );
    const n = rs.reduce((k, r) => k + r.results.filter((x) => x.status.code === 0).length, 0);
    signed += n;
    return n;
  });
  const serverCpuSeconds = (cpuMicros(server.pid) - cpuAtStart) / 1e6;
  emit({
    name: 'x509-svid signing',
    variant: 'BatchNewX509Svid (gRPC/TLS, CSR → SVID)',
    unit: 'signatures/s',
    value: svidRate,
    ratio_to: 'raw crypto.sign P-256',
    conditions: { batch, server: 'separate process', inFlight: 2 },
  });
  // Per core: SVIDs per second of the server's own CPU time (it idles while the client decodes).
  emit({
    name: 'x509-svid signing',
    variant: 'BatchNewX509Svid per server CPU second',
    unit: 'signatures/s',
    value: signed / serverCpuSeconds,
    ratio_to: 'raw crypto.sign P-256',
    conditions: {
      batch,
      server: 'separate process',
      inFlight: 2,
      serverCpuSeconds: Math.round(serverCpuSeconds * 10) / 10,
    },
  });

  // Entry sync.
  for (const n of quick ? [10_000] : [10_000, 100_000]) {
    const parent = `spiffe://bench.test/sync-parent-${n}`;
    await adminCall(socketPath, 'entry.create', {
      entries: [
        { spiffe_id: parent, parent_id: att.spiffe_id, selectors: [{ type: 'unix', value: `parent:${n}` }] },
      ],
    });
    for (let i = 0; i < n; i += 1000) {
      const entries = Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({
        spiffe_id: `spiffe://bench.test/ns/n${i + j}/sa/s${i + j}`,
        parent_id: parent,
        selectors: [
          { type: 'k8s', value: `ns:n${i + j}` },
          { type: 'k8s', value: `sa:s${i + j}` },
          { type: 'k8s', value: 'container-name:app' },
          { type: 'k8s', value: `pod-label:app:a${i + j}` },
        ],
      }));
      await adminCall(socketPath, 'entry.create', { entries });
    }
    const fullSync = async (): Promise<{ count: number; revision: number }> => {
      let pageToken = '';
      let count = 0;
      let revision: number;
      do {
        const r = await unary<{ entries: unknown[]; next_page_token: string; revision: number }>(
          agent,
          'SyncAuthorizedEntries',
          {
            since_revision: 0,
            page_token: pageToken,
          },
        );
        count += r.entries.length;
        revision = r.revision;
        pageToken = r.next_page_token;
      } while (pageToken);
      return { count, revision };
    };
    const rounds = quick ? 2 : 3;
    const full: Cost[] = [];
    let last = { count: 0, revision: 0 };
    for (let i = 0; i < rounds; i++) {
      const cost = await serverCost(server.pid, async () => (last = await fullSync()));
      full.push(cost);
    }
    const cond = { entriesReturned: last.count, reps: rounds, server: 'separate process, /proc' };
    const figure = (what: string, unit: string, k: keyof Cost, scale = 1): void =>
      emit({
        name: `entry sync (full, paged 1000): ${what}`,
        variant: `${n} entries`,
        unit,
        value: median(full.map((c) => c[k])) * scale,
        conditions: cond,
      });
    figure('time', 'ms', 'ms');
    figure('server CPU', 'ms', 'cpuMs');
    figure('bytes sent by the server', 'MB', 'bytes', 1 / 2 ** 20);
    figure('bytes per entry', 'B', 'bytes', 1 / last.count);
    await adminCall(socketPath, 'entry.create', {
      entries: [
        {
          spiffe_id: `spiffe://bench.test/late-${n}`,
          parent_id: parent,
          selectors: [{ type: 'unix', value: 'late:1' }],
        },
      ],
    });
    const t1 = process.hrtime.bigint();
    const inc = await unary<{ entries: unknown[] }>(agent, 'SyncAuthorizedEntries', {
      since_revision: last.revision,
    });
    emit({
      name: 'entry sync (incremental, 1 change)',
      variant: `${n} entries`,
      unit: 'ms',
      value: Number(process.hrtime.bigint() - t1) / 1e6,
      conditions: { entriesReturned: inc.entries.length },
    });
  }
}

await main();
