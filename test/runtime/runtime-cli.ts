/**
 * The runtime's commands alone (`up --network-only`, `get`, `exec`, `run`, `down`, …), without
 * the other areas' commands, so the pod network can be tested on its own.
 */
import { Command } from 'commander';
import { registerRuntimeCommands } from '../../src/cli/commands/runtime.js';

const program = new Command('trustmesh').showHelpAfterError();
registerRuntimeCommands(program);
try {
  await program.parseAsync(process.argv.slice(2), { from: 'user' });
} catch (err) {
  process.stderr.write(`trustmesh: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = process.exitCode || 1;
}
