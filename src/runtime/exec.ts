/**
 * Host commands (`ip`, `iptables-restore`, `curl`) run to completion, with typed failures.
 */
import { execFile } from 'node:child_process';
import { CommandFailedError } from './errors.js';

/** Output of a finished command. */
export interface CommandResult {
  stdout: string;
  stderr: string;
  /** Exit code (0 on success; null when killed by a signal). */
  code: number | null;
}

/**
 * Runs `argv` (no shell) and resolves with its output. Throws {@link CommandFailedError} on a
 * non-zero exit, unless `allowFailure` is set (then resolves with the output anyway).
 */
export function run(
  argv: readonly string[],
  options: { input?: string; allowFailure?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  const [cmd, ...args] = argv;
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd!,
      args,
      { encoding: 'utf8', maxBuffer: 64 << 20, env: options.env ?? process.env },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        if (err && !options.allowFailure) {
          reject(new CommandFailedError(argv, code, stderr || err.message));
          return;
        }
        resolve({ stdout, stderr, code });
      },
    );
    // A command that exits without reading its input must not crash us with EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(options.input ?? '');
  });
}

/** argv prefix that runs a command inside network namespace `netns` (or on the host when null). */
export function inNetns(netns: string | null, argv: readonly string[]): string[] {
  return netns === null ? [...argv] : ['ip', 'netns', 'exec', netns, ...argv];
}

/**
 * GETs `http://127.0.0.1:<port><urlPath>` with curl inside network namespace `netns`, waiting at
 * most `maxTimeS` seconds. Resolves with the body, or with the 3-digit status alone when
 * `statusOnly` (`000` when nothing answered); never rejects for an HTTP or connection failure.
 */
export async function curlLocal(
  netns: string,
  port: number,
  urlPath: string,
  options: { maxTimeS: number; statusOnly?: boolean },
): Promise<string> {
  const output = options.statusOnly ? ['-o', '/dev/null', '-w', '%{http_code}'] : [];
  const url = `http://127.0.0.1:${port}${urlPath}`;
  const argv = ['curl', '-s', ...output, '--max-time', String(options.maxTimeS), url];
  return (await run(inNetns(netns, argv), { allowFailure: true })).stdout;
}

/**
 * Loads iptables rules with `iptables-restore --noflush` (in `netns`, or on the host), so only
 * the chains named in `rules` are touched: each `:CHAIN - [0:0]` line flushes that chain.
 */
export async function iptablesRestore(netns: string | null, rules: string): Promise<void> {
  await run(inNetns(netns, ['iptables-restore', '--noflush']), { input: rules });
}
