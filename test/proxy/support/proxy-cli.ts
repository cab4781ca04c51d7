/**
 * Runs the `proxy` subcommands exactly as `trustmesh` registers them, without loading the other
 * areas' commands (so a proxy test does not depend on unrelated work in progress in the tree).
 * Usage: `node --import tsx test/proxy/support/proxy-cli.ts proxy run …`.
 */
import { Command } from 'commander';
import { registerProxyCommands } from '../../../src/cli/commands/proxy.js';

const program = new Command('trustmesh');
registerProxyCommands(program);
try {
  await program.parseAsync(process.argv.slice(2), { from: 'user' });
} catch (err) {
  process.stderr.write(`trustmesh: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
