/**
 * Runs the `proxy` subcommands exactly as `trustmesh` registers them, without loading the other
 * areas (the benchmark measures the proxy alone). Usage: `node --import tsx bench/dataplane/proxy.ts proxy run …`.
 */
import { Command } from 'commander';
import { registerProxyCommands } from '../../src/cli/commands/proxy.js';

const program = new Command('trustmesh');
registerProxyCommands(program);
try {
  await program.parseAsync(process.argv.slice(2), { from: 'user' });
} catch (err) {
  process.stderr.write(`trustmesh: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
