/**
 * The `trustmesh` command. Thin by design: each area registers its own subcommands from
 * `./commands/<area>.ts` and calls into the library folders.
 */
import { Command } from 'commander';
import { normalizeSingleDashFlags } from './flags.js';
import { registerServerCommands } from './commands/server.js';
import { registerAgentCommands } from './commands/agent.js';
import { registerMeshCommands } from './commands/mesh.js';
import { registerProxyCommands } from './commands/proxy.js';
import { registerRuntimeCommands } from './commands/runtime.js';

const program = new Command('trustmesh')
  .description(
    'SPIFFE-secured service mesh: App Mesh v1beta2 manifests, SPIRE-compatible identity, Envoy-compatible data plane',
  )
  .version('0.1.0')
  .showHelpAfterError();

registerServerCommands(program);
registerAgentCommands(program);
registerMeshCommands(program);
registerProxyCommands(program);
registerRuntimeCommands(program);

try {
  await program.parseAsync(normalizeSingleDashFlags(process.argv.slice(2)), { from: 'user' });
} catch (err) {
  process.stderr.write(`trustmesh: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = process.exitCode || 1;
}
