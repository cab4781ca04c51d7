/**
 * Client of the admin API (see ./admin.ts) for the CLI and tests: one POST per call over the unix
 * socket.
 */
import { request } from 'node:http';
import * as grpc from '@grpc/grpc-js';

/** An admin call failed: `code` is the gRPC status code, `status` its name. */
export class AdminCallError extends Error {
  constructor(
    readonly code: number,
    readonly status: string,
    message: string,
  ) {
    super(message);
    this.name = 'AdminCallError';
  }
}

/**
 * Calls admin `method` with `body` on `socketPath`. Resolves with the decoded JSON reply; rejects
 * with AdminCallError (status from the server, or UNAVAILABLE when the socket can't be reached).
 */
export function adminCall<T = Record<string, unknown>>(
  socketPath: string,
  method: string,
  body: object = {},
): Promise<T> {
  const text = JSON.stringify(body);
  return new Promise<T>((resolve, reject) => {
    const req = request(
      {
        socketPath,
        path: `/v1/${method}`,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let doc: Record<string, unknown>;
          try {
            doc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
          } catch {
            reject(
              new AdminCallError(
                grpc.status.INTERNAL,
                'INTERNAL',
                `admin API returned a non-JSON reply (HTTP ${res.statusCode})`,
              ),
            );
            return;
          }
          if (res.statusCode === 200) resolve(doc as T);
          else
            reject(
              new AdminCallError(
                Number(doc['code'] ?? grpc.status.UNKNOWN),
                String(doc['status'] ?? 'UNKNOWN'),
                String(doc['message'] ?? ''),
              ),
            );
        });
        res.on('error', reject);
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) =>
      reject(
        new AdminCallError(
          grpc.status.UNAVAILABLE,
          'UNAVAILABLE',
          `cannot reach the server at ${socketPath}: ${err.code ?? err.message}`,
        ),
      ),
    );
    req.end(text);
  });
}
