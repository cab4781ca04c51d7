/**
 * The running runtime's two local HTTP endpoints, both on unix sockets in the state dir:
 *
 * - `podinfo.sock`: the kubelet-like pod view the agent's `k8s` workload attestor asks,
 *   `GET /pods/by-pid/<pid>` → `{ namespace, serviceAccount, podName, podUid, nodeName, labels,
 *   containerName }` or 404. Read-only.
 * - `runtime.sock` (mode 0600, root only): the control API the CLI's `apply`, `delete`, `get`,
 *   `logs`, `exec`, `run`, `status` and `down` commands use. JSON in, JSON out; errors are
 *   `{ error, code }` with status 400/404/500.
 */
import { chmod, rm } from 'node:fs/promises';
import http from 'node:http';
import type { Cluster } from './cluster.js';
import { RuntimeError, NotFoundError } from './errors.js';

/** Handler of one control request: method, path segments, query, parsed JSON body. */
export type ControlHandler = (req: {
  method: string;
  path: string[];
  query: URLSearchParams;
  body: unknown;
}) => Promise<unknown>;

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function listenUnix(server: http.Server, socketPath: string, mode: number): Promise<void> {
  await rm(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  await chmod(socketPath, mode);
}

/** Serves the pod view of `cluster` on `socketPath` (mode 0600: only the root agent reads it). */
export async function servePodInfo(cluster: Cluster, socketPath: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const m = /^\/pods\/by-pid\/(\d+)$/.exec(req.url ?? '');
    if (req.method !== 'GET' || !m) return send(res, 404, { error: 'not found' });
    cluster.podByPid(Number(m[1])).then(
      (hit) => {
        if (!hit) return send(res, 404, { error: `pid ${m[1]} is in no pod` });
        const { pod, container } = hit;
        send(res, 200, {
          namespace: pod.namespace,
          serviceAccount: pod.serviceAccount,
          podName: pod.name,
          podUid: pod.uid,
          nodeName: 'local',
          labels: pod.labels,
          containerName: container.name,
        });
      },
      (err: unknown) => send(res, 500, { error: String(err) }),
    );
  });
  await listenUnix(server, socketPath, 0o600);
  return server;
}

/** Serves the control API on `socketPath` (mode 0600). */
export async function serveControl(handler: ControlHandler, socketPath: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://runtime');
      let body: unknown = undefined;
      try {
        if (chunks.length > 0) body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return send(res, 400, { error: 'request body is not JSON', code: 'TM_ERR_RUNTIME_BAD_REQUEST' });
      }
      handler({
        method: req.method ?? 'GET',
        path: url.pathname.split('/').filter(Boolean),
        query: url.searchParams,
        body,
      }).then(
        (out) => send(res, 200, out ?? {}),
        (err: unknown) => {
          const status = err instanceof NotFoundError ? 404 : err instanceof RuntimeError ? 400 : 500;
          send(res, status, {
            error: err instanceof Error ? err.message : String(err),
            code: err instanceof RuntimeError ? err.code : 'TM_ERR_RUNTIME_INTERNAL',
          });
        },
      );
    });
  });
  await listenUnix(server, socketPath, 0o600);
  return server;
}

/**
 * Calls the control API of the runtime at `socketPath`. Resolves with the JSON answer; rejects
 * with an Error carrying the server's message (and `code`) on a non-200 answer, or with the
 * connection error (ENOENT / ECONNREFUSED when no runtime runs).
 */
export function callControl(
  socketPath: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { socketPath, method, path, headers: { 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            parsed = {};
          }
          if (res.statusCode === 200) return resolve(parsed);
          const e = parsed as { error?: string; code?: string };
          const err = new Error(e.error ?? `runtime answered ${res.statusCode}`) as Error & { code?: string };
          err.code = e.code;
          reject(err);
        });
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}
