/**
 * The workloads of the Workload API benchmark, in a child process of bench/identity/agent.ts (so
 * their work does not share the agent's event loop). Driven over the IPC channel:
 *  - `connect`: one HTTP/2 connection per workload to the agent socket. When a uid is given for a
 *    workload, the connection is made with that effective uid (the process runs as root), so the
 *    kernel's SO_PEERCRED names a distinct caller per workload and the agent attests each one as a
 *    different workload; the effective uid is restored right after the connect() system call.
 *  - `fetch`: every workload fetches in a closed loop (at least `seconds` and `minPerWorkload`
 *    fetches): open FetchX509SVID, wait for the first answer, cancel (what go-spiffe's one-shot
 *    FetchX509SVID does); answers the latencies and the elapsed time.
 *  - `watch`: every workload keeps one FetchX509SVID stream open and reports a digest of its
 *    default SVID on every message.
 */
import { createHash } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import net from 'node:net';
import { createClient, type Client } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import type { DescService } from '@bufbuild/protobuf';
import { workloadApiService } from '../../src/identity/agent/index.js';

/** Messages from the parent. */
export type WorkloadCommand =
  | { cmd: 'connect'; socketPath: string; uids: Array<number | undefined> }
  | { cmd: 'fetch'; seconds: number; minPerWorkload: number }
  | { cmd: 'watch' };

/** Messages to the parent. */
export type WorkloadReport =
  | { connected: number }
  | { fetched: { latenciesMs: number[]; elapsedMs: number; errors: number; firstError?: string } }
  | { update: { workload: number; digest: string } }
  | { watchError: string };

interface SvidResponse {
  svids: Array<{ spiffeId: string; x509Svid: Uint8Array }>;
}

type WorkloadClient = Client<DescService> & {
  fetchX509SVID(
    req: object,
    opts: { headers: Record<string, string>; signal: AbortSignal },
  ): AsyncIterable<SvidResponse>;
};

const HEADERS = { 'workload.spiffe.io': 'true' };
let clients: WorkloadClient[] = [];
const watchers = new AbortController();
// One abort listener per open stream.
setMaxListeners(0, watchers.signal);

function send(r: WorkloadReport): void {
  process.send!(r);
}

/** A unix-socket connection whose SO_PEERCRED carries `uid` (as effective uid at connect time). */
function connectAs(socketPath: string, uid: number | undefined): net.Socket {
  if (uid === undefined) return net.connect(socketPath);
  // connect(2) runs synchronously inside net.connect for a unix socket; the kernel records the
  // credentials there.
  process.seteuid!(uid);
  try {
    return net.connect(socketPath);
  } finally {
    process.seteuid!(0);
  }
}

async function fetchOnce(c: WorkloadClient): Promise<number> {
  const ac = new AbortController();
  const t0 = performance.now();
  try {
    for await (const res of c.fetchX509SVID({}, { headers: HEADERS, signal: ac.signal })) {
      if (res.svids.length === 0) throw new Error('answer without SVIDs');
      return performance.now() - t0;
    }
    throw new Error('stream ended without an answer');
  } finally {
    ac.abort();
  }
}

/**
 * Every workload fetches in a closed loop until `seconds` have passed and it has made at least
 * `minPerWorkload` fetches (`seconds` 0: exactly that many).
 */
async function fetchLoop(seconds: number, minPerWorkload: number): Promise<void> {
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const latenciesMs: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  await Promise.all(
    clients.map(async (c) => {
      for (let n = 0; n < minPerWorkload || performance.now() < end; n++) {
        try {
          latenciesMs.push(await fetchOnce(c));
        } catch (err) {
          errors++;
          firstError ??= (err as Error).message;
        }
      }
    }),
  );
  const elapsedMs = performance.now() - t0;
  latenciesMs.sort((a, b) => a - b);
  send({ fetched: { latenciesMs, elapsedMs, errors, firstError } });
}

function watch(): void {
  clients.forEach(async (c, workload) => {
    try {
      for await (const res of c.fetchX509SVID({}, { headers: HEADERS, signal: watchers.signal })) {
        const digest = createHash('sha256').update(res.svids[0]!.x509Svid).digest('hex');
        send({ update: { workload, digest } });
      }
    } catch (err) {
      if (!watchers.signal.aborted) send({ watchError: (err as Error).message });
    }
  });
}

process.on('message', (m: WorkloadCommand) => {
  if (m.cmd === 'connect') {
    const service = workloadApiService();
    clients = m.uids.map(
      (uid) =>
        createClient(
          service,
          createGrpcTransport({
            baseUrl: 'http://localhost',
            nodeOptions: { createConnection: () => connectAs(m.socketPath, uid) },
          }),
        ) as WorkloadClient,
    );
    send({ connected: clients.length });
  } else if (m.cmd === 'fetch') void fetchLoop(m.seconds, m.minPerWorkload);
  else if (m.cmd === 'watch') watch();
});
process.on('disconnect', () => {
  watchers.abort();
  process.exit(0);
});
