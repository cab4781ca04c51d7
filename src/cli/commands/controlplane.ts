/**
 * `trustmesh controlplane run -f <dir|file…> [--listen host:port|unix:///path]` serves the compiled
 * mesh over Envoy ADS and follows manifest edits live; `trustmesh mesh config-dump --node <id> -f …`
 * prints what a node would receive, in the shape of Envoy's admin `/config_dump`.
 */
import type { Command } from 'commander';
import { pino } from 'pino';
import {
  ControlPlane,
  UnknownNodeError,
  compileNode,
  configDump,
  type CompileIssue,
  type CompileReport,
} from '../../mesh/compile/index.js';
import { formatIssue, type ValidationIssue } from '../../mesh/model/index.js';
import { ManifestWatcher, ResourceStore, readManifests } from '../../mesh/sources/index.js';
import { XdsServer, type JsonObject } from '../../mesh/xds/index.js';

/** Flags of `controlplane run`. */
interface RunFlags {
  filename: string[];
  listen: string;
  namespace: string;
  apiListeners?: boolean;
  logLevel: string;
}

/** Flags of `mesh config-dump`. */
interface DumpFlags {
  filename: string[];
  node: string;
  namespace: string;
  apiListeners?: boolean;
}

function formatCompileIssue(i: CompileIssue): string {
  return [i.nodeId, i.severity === 'warning' ? 'warning' : undefined, i.object, i.path, i.message]
    .filter((p) => p !== undefined)
    .join(': ');
}

function printIssues(issues: readonly ValidationIssue[], compileIssues: readonly CompileIssue[] = []): void {
  for (const i of issues) process.stderr.write(`${formatIssue(i)}\n`);
  for (const i of compileIssues) process.stderr.write(`${formatCompileIssue(i)}\n`);
}

/**
 * Runs the control plane until SIGINT/SIGTERM. Prints `xds listening on <address>` on stdout once
 * serving; manifest and compile problems go to stderr (file:line: object: field: rule), logs to stderr.
 */
async function run(flags: RunFlags): Promise<void> {
  const logger = pino({ level: flags.logLevel, base: { component: 'controlplane' } }, pino.destination(2));
  const store = new ResourceStore({ parse: { defaultNamespace: flags.namespace } });
  const { watcher, report } = await ManifestWatcher.start(flags.filename, store, {
    defaultNamespace: flags.namespace,
  });
  printIssues(report.issues);
  const controlPlane = new ControlPlane({
    source: store,
    compile: { apiListeners: flags.apiListeners === true },
    logger,
  });
  let lastReported = '';
  const reportCompile = (r: CompileReport) => {
    // The same unresolved reference would otherwise repeat on every edit.
    const text = JSON.stringify([
      r.meshIssues.map((i) => formatIssue(i)),
      r.compileIssues.map(formatCompileIssue),
    ]);
    if (text !== lastReported) printIssues(r.meshIssues, r.compileIssues);
    lastReported = text;
  };
  controlPlane.on('compiled', reportCompile);
  watcher.on('reload', (r) => printIssues(r.issues));
  watcher.on('error', (err) => logger.warn({ err }, 'manifest reload failed; serving the last good mesh'));
  const first = controlPlane.start();
  const server = new XdsServer({ cache: controlPlane.cache, logger });
  const address = await server.listen(flags.listen);
  process.stdout.write(`xds listening on ${address} (${first.nodes.length} nodes)\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  controlPlane.close();
  await watcher.close();
  await server.close();
}

/** Prints a node's config dump; exit code 1 when the node is unknown. */
async function dump(flags: DumpFlags): Promise<number> {
  const read = await readManifests(flags.filename);
  const store = new ResourceStore({ parse: { defaultNamespace: flags.namespace } });
  const applied = store.apply(read.documents);
  const state = store.snapshot();
  printIssues([...read.issues, ...applied.issues, ...state.issues].filter((i) => i.severity === 'error'));
  try {
    const config = compileNode(state, flags.node, { apiListeners: flags.apiListeners === true });
    printIssues([], config.issues);
    const out: JsonObject = configDump(config);
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return 0;
  } catch (err) {
    if (err instanceof UnknownNodeError) {
      process.stderr.write(`trustmesh: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/**
 * Registers `controlplane run`, and `config-dump` under the `mesh` command (created here if no other
 * part registered it first).
 */
export function registerControlPlaneCommands(program: Command): void {
  const controlplane = program
    .command('controlplane')
    .description('the mesh control plane: App Mesh v1beta2 manifests → Envoy xDS v3 (ADS)');
  controlplane
    .command('run')
    .description('serve the compiled mesh over ADS, following manifest edits live')
    .requiredOption('-f, --filename <paths...>', 'manifest files or directories (watched)')
    .option('--listen <address>', 'host:port, [v6]:port or unix:///path', '127.0.0.1:15010')
    .option('-n, --namespace <ns>', 'namespace for objects without one', 'default')
    .option('--api-listeners', 'also serve gRPC API listeners <service>:<port> for proxyless gRPC clients')
    .option('--log-level <level>', 'pino log level', 'info')
    .action(async (flags: RunFlags) => run(flags));
  const mesh =
    program.commands.find((c) => c.name() === 'mesh') ??
    program.command('mesh').description('App Mesh v1beta2 manifests');
  mesh
    .command('config-dump')
    .description("print the Envoy config a proxy node gets, as Envoy's /config_dump")
    .requiredOption(
      '--node <id>',
      'mesh/<mesh>/virtualNode/<vn awsName> or mesh/<mesh>/virtualGateway/<vg awsName>',
    )
    .requiredOption('-f, --filename <paths...>', 'manifest files or directories')
    .option('-n, --namespace <ns>', 'namespace for objects without one', 'default')
    .option('--api-listeners', 'include gRPC API listeners for proxyless clients')
    .action(async (flags: DumpFlags) => {
      process.exitCode = await dump(flags);
    });
}
