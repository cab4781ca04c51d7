/**
 * Runs the `trustmesh` CLI from source, as a real child process (tsx, so no build step is needed).
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** Absolute path of the repository root. */
export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** argv prefix that runs the CLI from source: `[node, --import, tsx, src/cli/main.ts]`. */
export function trustmeshArgv(): string[] {
  return [process.execPath, '--import', 'tsx', `${repoRoot}src/cli/main.ts`];
}

/** Starts `trustmesh <args…>` as a child process (stdio piped unless overridden). */
export function spawnTrustmesh(args: readonly string[], options: SpawnOptions = {}): ChildProcess {
  const [cmd, ...prefix] = trustmeshArgv();
  return spawn(cmd!, [...prefix, ...args], { cwd: repoRoot, stdio: 'pipe', ...options });
}

/** Runs `trustmesh <args…>` to completion; resolves with exit code, stdout and stderr. */
export function runTrustmesh(
  args: readonly string[],
  options: SpawnOptions & { input?: string } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawnTrustmesh(args, options);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    if (options.input !== undefined) child.stdin?.end(options.input);
    else child.stdin?.end();
  });
}
