/**
 * `trustmesh mesh …`: commands over App Mesh v1beta2 manifests. `mesh validate -f <dir|file…>` checks
 * every object as App Mesh's CRD schemas and admission webhooks would (plus the cross-object rules) and
 * prints each problem as `file:line: <kind>/<ns>/<name>: <field path>: <rule>`. The control plane
 * commands (`controlplane run`, `mesh config-dump`) live in `./controlplane.ts`.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { formatIssue } from '../../mesh/model/index.js';
import { validateManifests } from '../../mesh/sources/index.js';
import { registerControlPlaneCommands } from './controlplane.js';

/** Options of `mesh validate`. */
interface ValidateFlags {
  filename: string[];
  namespace: string;
  warnings: boolean;
}

/** Shows paths under the working directory relative to it, as compilers do. */
function displayPath(file: string): string {
  const rel = path.relative(process.cwd(), file);
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file;
}

/**
 * Validates manifests; resolves with the exit code (0 valid, 1 errors). Output: one line per issue on
 * stdout (errors and, unless disabled, warnings), then a summary line.
 */
async function validate(flags: ValidateFlags): Promise<number> {
  const result = await validateManifests(flags.filename, { defaultNamespace: flags.namespace });
  const issues = result.issues
    .filter((i) => flags.warnings || i.severity === 'error')
    .map((i) => (i.file ? { ...i, file: displayPath(i.file) } : i));
  for (const i of issues) process.stdout.write(`${formatIssue(i)}\n`);
  const errors = issues.filter((i) => i.severity === 'error').length;
  const warnings = issues.length - errors;
  const objects = result.store.list().length;
  process.stdout.write(
    `${errors === 0 ? 'valid' : 'invalid'}: ${result.files.length} file(s), ${objects} object(s), ${errors} error(s), ${warnings} warning(s)\n`,
  );
  return errors === 0 ? 0 : 1;
}

/** Registers the mesh subcommands (and the control plane's) on the root program. */
export function registerMeshCommands(program: Command): void {
  const mesh = program.command('mesh').description('App Mesh v1beta2 manifests: validate, inspect');
  mesh
    .command('validate')
    .description(
      'check manifests as App Mesh admission would; print every error as file:line: object: field: rule',
    )
    .requiredOption('-f, --filename <paths...>', 'manifest files or directories (multi-document YAML)')
    .option('-n, --namespace <ns>', 'namespace for objects without one', 'default')
    .option('--no-warnings', 'print errors only')
    .action(async (flags: ValidateFlags) => {
      process.exitCode = await validate(flags);
    });
  registerControlPlaneCommands(program);
}
