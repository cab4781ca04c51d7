/**
 * Raw HTTP/1.1 over a plain TCP socket, for the codec tests: bytes go out exactly as written, so
 * malformed requests reach the proxy unchanged.
 */
import net from 'node:net';

/**
 * Connects to 127.0.0.1:`port` and sends `bytes` (a string, or segments written one per tick so
 * they arrive as separate TCP segments); resolves with everything received (latin1) until the
 * peer closes or `ms` milliseconds pass. Never rejects: a reset resolves with what arrived before.
 */
export function sendRaw(port: number, bytes: string | string[], ms = 2000): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      if (typeof bytes === 'string') s.write(bytes);
      else {
        const next = (i: number): void => {
          if (i < bytes.length && !s.destroyed) s.write(bytes[i]!, () => setImmediate(next, i + 1));
        };
        next(0);
      }
    });
    let out = '';
    s.setEncoding('latin1').on('data', (d: string) => (out += d));
    s.on('close', () => resolve(out));
    s.on('error', () => resolve(out));
    setTimeout(() => s.destroy(), ms).unref();
  });
}

/** Status codes of every response in a raw answer, in order. */
export function statuses(answer: string): number[] {
  return [...answer.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
}
