/**
 * Load generators, run on core 0 (with the upstream): wrk (HTTP/1.1 closed loop, latency percentiles)
 * and h2load (HTTP/2 with multiplexed streams, or HTTP/1.1 at a fixed rate). Each run is bounded by
 * its duration plus a 30 s kill timeout.
 */
import { execFileSync } from 'node:child_process';

/** One load run's outcome. Latencies in µs; a generator that does not report one leaves it NaN. */
export interface LoadResult {
  rps: number;
  p50Us: number;
  p90Us: number;
  p99Us: number;
  /** mean request time (h2load reports no percentiles) */
  meanUs: number;
  /** 2xx/3xx responses */
  ok: number;
  /** other responses plus socket errors, failed and timed-out requests */
  errors: number;
}

/** A configured load generator: `run` drives 127.0.0.1:`port` for `seconds`. */
export interface Load {
  /** the generator and its settings, for the figures' conditions */
  conditions: Record<string, unknown>;
  run(port: number, seconds: number): LoadResult;
}

function latencyUs(s: string | undefined): number {
  const m = /([\d.]+)(us|ms|s)/.exec(s ?? '');
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v : m[2] === 'ms' ? v * 1000 : v * 1e6;
}

function pinned(tool: string, args: string[], seconds: number): string {
  return execFileSync('taskset', ['-c', '0', tool, ...args], {
    encoding: 'utf8',
    timeout: (seconds + 30) * 1000,
  });
}

/**
 * wrk, one thread, `connections` keep-alive connections; with `close`, every request carries
 * `Connection: close`, so each request is a new client connection.
 */
export function wrk(connections: number, close = false): Load {
  return {
    conditions: { load: 'wrk -t1', connections, ...(close ? { client: 'Connection: close' } : {}) },
    run(port, seconds) {
      const args = ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency'];
      if (close) args.push('-H', 'Connection: close');
      const out = pinned('wrk', [...args, `http://127.0.0.1:${port}/`], seconds);
      const total = Number(/(\d+) requests in/.exec(out)?.[1] ?? 0);
      const bad = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      return {
        rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? 0),
        p50Us: latencyUs(/\s50%\s+(\S+)/.exec(out)?.[1]),
        p90Us: latencyUs(/\s90%\s+(\S+)/.exec(out)?.[1]),
        p99Us: latencyUs(/\s99%\s+(\S+)/.exec(out)?.[1]),
        meanUs: latencyUs(/Latency\s+(\S+)/.exec(out)?.[1]),
        ok: total - bad,
        errors: bad + (sock ? sock.slice(1).reduce((s, x) => s + Number(x), 0) : 0),
      };
    },
  };
}

/**
 * h2load, one thread. HTTP/2 over cleartext with prior knowledge (`clients` connections ×
 * `streams` concurrent streams), or with `h1` HTTP/1.1 keep-alive; `rpsPerClient` makes it an open
 * loop at a fixed rate.
 */
export function h2load(opts: {
  clients: number;
  streams?: number;
  h1?: boolean;
  rpsPerClient?: number;
}): Load {
  const { clients, streams = 1, h1 = false, rpsPerClient } = opts;
  return {
    conditions: {
      load: `h2load -t1${h1 ? ' --h1' : ' (h2c prior knowledge)'}`,
      connections: clients,
      ...(h1 ? {} : { streams_per_connection: streams }),
      ...(rpsPerClient ? { rate: `${rpsPerClient * clients} req/s` } : {}),
    },
    run(port, seconds) {
      const args = ['-t1', `-c${clients}`, `-m${streams}`, `-D${seconds}`];
      if (h1) args.push('--h1');
      if (rpsPerClient) args.push(`--rps=${rpsPerClient}`);
      const out = pinned('h2load', [...args, `http://127.0.0.1:${port}/`], seconds);
      const req = /(\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
      const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/
        .exec(out)
        ?.slice(1)
        .map(Number) ?? [0, 0, 0, 0];
      const ok = codes[0]! + codes[1]!;
      const time = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
      return {
        rps: Number(/finished in [\d.]+\w*, ([\d.]+) req\/s/.exec(out)?.[1] ?? 0),
        p50Us: NaN,
        p90Us: NaN,
        p99Us: NaN,
        meanUs: latencyUs(time?.[3]),
        ok,
        errors: codes[2]! + codes[3]! + (req ? req.slice(1).reduce((n, x) => n + Number(x), 0) : 0),
      };
    },
  };
}
