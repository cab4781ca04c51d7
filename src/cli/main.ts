/**
 * The `trustmesh` command. Thin by design: each area registers its own subcommands from
 * `./commands/<area>.ts` and calls into the library folders.
 *
 * Areas are imported lazily: a sidecar or agent started as `trustmesh proxy run` should not pay
 * for loading the identity server, the mesh compiler and the runtime. Only help and unknown
 * commands load every area.
 */
import { Command } from 'commander';
import { normalizeSingleDashFlags } from './flags.js';

type Register = (program: Command) => void;

const areas: Record<string, () => Promise<Register>> = {
  server: async () => (await import('./commands/server.js')).registerServerCommands,
  agent: async () => (await import('./commands/agent.js')).registerAgentCommands,
  mesh: async () => (await import('./commands/mesh.js')).registerMeshCommands,
  proxy: async () => (await import('./commands/proxy.js')).registerProxyCommands,
  runtime: async () => (await import('./commands/runtime.js')).registerRuntimeCommands,
};

/** Top-level command → the area that registers it. */
const areaOfCommand: Record<string, string> = {
  server: 'server',
  agent: 'agent',
  mesh: 'mesh',
  controlplane: 'mesh',
  proxy: 'proxy',
  ...Object.fromEntries(
    ['up', 'down', 'apply', 'delete', 'get', 'logs', 'exec', 'run', 'status'].map((c) => [c, 'runtime']),
  ),
};

const argv = normalizeSingleDashFlags(process.argv.slice(2));
const program = new Command('trustmesh')
  .description(
    'SPIFFE-secured service mesh: App Mesh v1beta2 manifests, SPIRE-compatible identity, Envoy-compatible data plane',
  )
  .version('0.1.0')
  .showHelpAfterError();

const area = argv[0] === undefined ? undefined : areaOfCommand[argv[0]];
const toLoad = area ? [area] : Object.keys(areas);
for (const name of toLoad) (await areas[name]!())(program);

try {
  await program.parseAsync(argv, { from: 'user' });
} catch (err) {
  process.stderr.write(`trustmesh: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = process.exitCode || 1;
}
