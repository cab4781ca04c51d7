/**
 * `spire-server` and `spire-agent` take Go-style single-dash long flags (`-spiffeID`, `-socketPath`).
 * Commander only knows `--long`, so argv is rewritten first: a token `-name` or `-name=value`
 * whose name has two or more characters becomes `--name…`. Single-letter flags (`-n`, `-f`, `-o`)
 * and everything after a bare `--` are left alone.
 */
export function normalizeSingleDashFlags(argv: readonly string[]): string[] {
  const out: string[] = [];
  let passthrough = false;
  for (const arg of argv) {
    if (passthrough) {
      out.push(arg);
      continue;
    }
    if (arg === '--') passthrough = true;
    out.push(/^-[A-Za-z][A-Za-z0-9]+(=.*)?$/s.test(arg) ? `-${arg}` : arg);
  }
  return out;
}
