/**
 * `trustmesh server …`: the `spire-server` command set (spiffe.md §g.4), same subcommands, flags and
 * pretty output. `run` starts the daemon; every other command talks to it over the admin socket
 * (`-socketPath`, else env `TRUSTMESH_SERVER_SOCKET`, else /tmp/trustmesh-server/private/api.sock).
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Option, type Command } from 'commander';
import type { AgentInfo, BatchResult, EntryInput, RunFlags } from '../../identity/server/index.js';
import type { EntryMessage } from '../../identity/api/index.js';
import type * as ServerLibNs from '../../identity/server/index.js';
import type * as SpiffeLibNs from '../../spiffe/index.js';

type ServerLib = typeof ServerLibNs;
type SpiffeLib = typeof SpiffeLibNs;

// The library is loaded when a command runs, not when the CLI starts: every `trustmesh` invocation
// registers all areas' commands, and loading the server (grpc, sqlite, pino) costs seconds on a busy host.
const lib = (): Promise<ServerLib> => import('../../identity/server/index.js');
const spiffe = (): Promise<SpiffeLib> => import('../../spiffe/index.js');

/** Admin call on the server's socket (see identity/server admin API). */
async function adminCall<T = Record<string, unknown>>(
  socketPath: string,
  method: string,
  body: object = {},
): Promise<T> {
  return (await lib()).adminCall<T>(socketPath, method, body);
}

/** `type:value` → selector, rejecting malformed ones (spiffe.md §g.1). */
async function selectors(values: string[]): Promise<{ type: string; value: string }[]> {
  const { parseSelector } = await lib();
  return values.map((v) => parseSelector('-selector', v));
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];

/** gRPC status name → the Go code name SPIRE's CLI prints (ALREADY_EXISTS → AlreadyExists). */
function goCodeName(status: string): string {
  return status
    .toLowerCase()
    .split('_')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join('');
}

function utc(unixSeconds: number): string {
  return new Date(unixSeconds * 1000)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' +0000 UTC');
}

function field(label: string, value: string | number): string {
  return `${label.padEnd(24)}: ${value}\n`;
}

/** SPIRE `printEntry` layout (labels padded to column 24), ending with a blank line. */
export function formatEntry(e: Partial<EntryMessage>): string {
  let s = '';
  s += field('Entry ID', e.id || '(none)');
  s += field('SPIFFE ID', e.spiffe_id ?? '');
  s += field('Parent ID', e.parent_id ?? '');
  s += field('Revision', e.revision_number ?? 0);
  if (e.downstream) s += field('Downstream', 'true');
  s += field('X509-SVID TTL', e.x509_svid_ttl ? e.x509_svid_ttl : 'default');
  s += field('JWT-SVID TTL', e.jwt_svid_ttl ? e.jwt_svid_ttl : 'default');
  if (e.expires_at) s += field('Expiration time', utc(e.expires_at));
  for (const sel of e.selectors ?? []) s += field('Selector', `${sel.type}:${sel.value}`);
  for (const f of e.federates_with ?? []) s += field('FederatesWith', f);
  for (const d of e.dns_names ?? []) s += field('DNS name', d);
  if (e.admin) s += field('Admin', 'true');
  if (e.hint) s += field('Hint', e.hint);
  return `${s}\n`;
}

function formatAgent(a: AgentInfo, withSelectors: boolean): string {
  const f = (label: string, v: string): string => `${label.padEnd(18)}: ${v}\n`;
  let s =
    f('SPIFFE ID', a.spiffe_id) +
    f('Attestation type', a.attestation_type) +
    f('Expiration time', utc(a.expires_at));
  s += f('Serial number', a.serial_number) + f('Can re-attest', String(a.can_reattest));
  if (a.banned) s += f('Banned', 'true');
  if (withSelectors) for (const sel of a.selectors) s += f('Selectors', `${sel.type}:${sel.value}`);
  return `${s}\n`;
}

interface CommonOpts {
  socketPath?: string;
  output?: 'pretty' | 'json';
}

/** Same default as the server's `socket_path` (identity/server DEFAULT_SOCKET_PATH). */
const DEFAULT_SOCKET_PATH = '/tmp/trustmesh-server/private/api.sock';

function socketOf(o: CommonOpts): string {
  return o.socketPath ?? process.env['TRUSTMESH_SERVER_SOCKET'] ?? DEFAULT_SOCKET_PATH;
}

function fail(message: string): void {
  process.stderr.write(`Error: ${message}\n`);
  process.exitCode = 1;
}

/** Wraps an action: admin errors print as SPIRE does (`Error: rpc error: code = X desc = …`), exit 1. */
function action<O extends CommonOpts>(fn: (o: O) => Promise<void>): (o: O) => Promise<void> {
  return async (o) => {
    try {
      await fn(o);
    } catch (err) {
      const { AdminCallError } = await lib();
      if (err instanceof AdminCallError)
        fail(`rpc error: code = ${goCodeName(err.status)} desc = ${err.message}`);
      else fail(err instanceof Error ? err.message : String(err));
    }
  };
}

function withCommon(cmd: Command, output = true): Command {
  cmd.option('--socketPath <path>', 'Path to the trustmesh server API socket (env TRUSTMESH_SERVER_SOCKET)');
  if (output)
    cmd.addOption(
      new Option('--output <format>', 'Desired output format (pretty, json)')
        .choices(['pretty', 'json'])
        .default('pretty'),
    );
  return cmd;
}

function intFlag(name: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v)) throw new Error(`-${name}: expected an integer, got ${JSON.stringify(v)}`);
  return Number(v);
}

interface EntryFlags extends CommonOpts {
  entryID?: string;
  spiffeID?: string;
  parentID?: string;
  node?: boolean;
  selector: string[];
  x509SVIDTTL?: string;
  jwtSVIDTTL?: string;
  dns: string[];
  federatesWith: string[];
  admin?: boolean;
  downstream?: boolean;
  entryExpiry?: string;
  hint?: string;
  data?: string;
}

function addEntryFlags(cmd: Command): Command {
  return cmd
    .option('--entryID <id>', 'A custom ID for this registration entry (optional)')
    .option('--spiffeID <id>', 'The SPIFFE ID that this record represents')
    .option('--parentID <id>', 'The SPIFFE ID of this record’s parent')
    .option('--node', 'If set, this entry will be applied to matching nodes rather than workloads')
    .option('--selector <type:value>', 'A colon-delimited type:value selector (repeatable)', collect, [])
    .option(
      '--x509SVIDTTL <seconds>',
      'The lifetime, in seconds, for x509-SVIDs issued based on this registration entry',
    )
    .option(
      '--jwtSVIDTTL <seconds>',
      'The lifetime, in seconds, for JWT-SVIDs issued based on this registration entry',
    )
    .option(
      '--dns <name>',
      'A DNS name that will be included in SVIDs issued based on this entry (repeatable)',
      collect,
      [],
    )
    .option('--federatesWith <td>', 'SPIFFE ID of a trust domain to federate with (repeatable)', collect, [])
    .option('--admin', 'If set, the SPIFFE ID in this entry will be granted access to the server admin API')
    .option(
      '--downstream',
      'A boolean value that, when set, indicates that the entry describes a downstream SPIRE server',
    )
    .option(
      '--entryExpiry <epoch>',
      'An expiry, from epoch in seconds, for the resulting registration entry to be pruned',
    )
    .option('--hint <hint>', 'The entry hint, used to disambiguate entries with the same SPIFFE ID')
    .option(
      '--data <file>',
      'Path to a file containing registration JSON (optional). If set to "-", read the JSON from stdin.',
    );
}

/** `-data` JSON (spire.common.RegistrationEntries) → entry inputs. */
function entriesFromData(file: string): EntryInput[] {
  const text = file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`-data: ${file} is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const entries = (doc as { entries?: unknown } | null)?.entries;
  if (!Array.isArray(entries)) throw new Error(`-data: ${file} has no "entries" list`);
  // Field values are validated by the server, which names them; only the shape is checked here.
  return entries.map((e: unknown, i) => {
    if (typeof e !== 'object' || e === null || Array.isArray(e))
      throw new Error(`-data: ${file}: entries[${i}] must be an object`);
    return entryFromDataObject(e as Record<string, unknown>);
  });
}

function entryFromDataObject(e: Record<string, unknown>): EntryInput {
  return {
    id: (e['entry_id'] ?? e['id']) as string | undefined,
    spiffe_id: e['spiffe_id'] as string,
    parent_id: e['parent_id'] as string,
    selectors: e['selectors'] as EntryInput['selectors'],
    x509_svid_ttl: (e['x509_svid_ttl'] ?? e['ttl']) as number | undefined,
    jwt_svid_ttl: e['jwt_svid_ttl'] as number | undefined,
    dns_names: e['dns_names'] as string[] | undefined,
    federates_with: e['federates_with'] as string[] | undefined,
    admin: e['admin'] as boolean | undefined,
    downstream: e['downstream'] as boolean | undefined,
    expires_at: (e['entryExpiry'] ?? e['entry_expiry'] ?? e['expires_at']) as number | undefined,
    hint: e['hint'] as string | undefined,
  };
}

async function entryFromFlags(o: EntryFlags): Promise<EntryInput[]> {
  if (o.data) return entriesFromData(o.data);
  if (o.node && o.parentID) throw new Error('-parentID and -node cannot be used together');
  let parentId = o.parentID;
  if (o.node) {
    if (!o.spiffeID) throw new Error('a SPIFFE ID is required');
    parentId = `${(await spiffe()).SpiffeId.parse(o.spiffeID).trustDomain.idString()}/spire/server`;
  }
  if (!o.spiffeID) throw new Error('a SPIFFE ID is required');
  if (!parentId) throw new Error('a parent ID is required if the node flag is not set');
  if (o.selector.length === 0) throw new Error('at least one selector is required');
  return [
    {
      id: o.entryID,
      spiffe_id: o.spiffeID,
      parent_id: parentId,
      selectors: await selectors(o.selector),
      x509_svid_ttl: intFlag('x509SVIDTTL', o.x509SVIDTTL),
      jwt_svid_ttl: intFlag('jwtSVIDTTL', o.jwtSVIDTTL),
      dns_names: o.dns,
      federates_with: o.federatesWith,
      admin: o.admin,
      downstream: o.downstream,
      expires_at: intFlag('entryExpiry', o.entryExpiry),
      hint: o.hint,
    },
  ];
}

function printBatch(
  verb: 'create' | 'update',
  inputs: EntryInput[],
  results: BatchResult<EntryMessage>[],
  o: CommonOpts,
): void {
  if (o.output === 'json') {
    process.stdout.write(`${JSON.stringify({ results }, null, 2)}\n`);
  } else {
    for (const r of results) {
      if (r.status.code === 0 && r.value) process.stdout.write(formatEntry(r.value));
    }
    for (const [i, r] of results.entries()) {
      if (r.status.code === 0) continue;
      const name = goCodeName(codeName(r.status.code));
      process.stderr.write(
        `Failed to ${verb} the following entry (code: ${name}, msg: ${JSON.stringify(r.status.message)}):\n`,
      );
      process.stderr.write(formatEntry({ ...(inputs[i] as Partial<EntryMessage>), id: inputs[i]?.id ?? '' }));
    }
  }
  if (results.some((r) => r.status.code !== 0)) process.exitCode = 1;
}

const GRPC_CODE_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
];
function codeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? 'UNKNOWN';
}

function pluralize(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

function registerEntry(server: Command): void {
  const entry = server.command('entry').description('Manage registration entries');
  addEntryFlags(withCommon(entry.command('create').description('Creates registration entries'))).action(
    action(async (o: EntryFlags) => {
      const sock = socketOf(o);
      const inputs = await entryFromFlags(o);
      const { results } = await adminCall<{ results: BatchResult<EntryMessage>[] }>(sock, 'entry.create', {
        entries: inputs,
      });
      printBatch('create', inputs, results, o);
    }),
  );
  addEntryFlags(withCommon(entry.command('update').description('Updates registration entries'))).action(
    action(async (o: EntryFlags) => {
      const sock = socketOf(o);
      if (!o.data && !o.entryID) throw new Error('an entry ID is required');
      const inputs = await entryFromFlags(o);
      const { results } = await adminCall<{ results: BatchResult<EntryMessage>[] }>(sock, 'entry.update', {
        entries: inputs,
      });
      printBatch('update', inputs, results, o);
    }),
  );
  withCommon(entry.command('delete').description('Deletes registration entries'))
    .option('--entryID <id>', 'The Registration Entry ID of the record to delete')
    .option('--file <path>', 'Path to a file containing a JSON structure for batch deletion (optional)')
    .action(
      action(async (o: CommonOpts & { entryID?: string; file?: string }) => {
        let ids: string[];
        if (o.file) {
          const doc = JSON.parse(o.file === '-' ? readFileSync(0, 'utf8') : readFileSync(o.file, 'utf8')) as {
            ids?: string[];
          };
          ids = doc.ids ?? [];
        } else if (o.entryID) ids = [o.entryID];
        else throw new Error('an entry ID is required');
        const { results } = await adminCall<{ results: BatchResult<{ id: string }>[] }>(
          socketOf(o),
          'entry.delete',
          { ids },
        );
        if (o.output === 'json') process.stdout.write(`${JSON.stringify({ results }, null, 2)}\n`);
        for (const [i, r] of results.entries()) {
          if (r.status.code === 0) {
            if (o.output !== 'json') process.stdout.write(`Deleted entry with ID: ${ids[i]}\n`);
          } else {
            process.stderr.write(
              `Failed to delete entry with ID ${ids[i]} (code: ${goCodeName(codeName(r.status.code))}, msg: ${JSON.stringify(r.status.message)})\n`,
            );
            process.exitCode = 1;
          }
        }
      }),
    );
  const filterFlags = (cmd: Command): Command =>
    withCommon(cmd)
      .option('--entryID <id>', 'The Entry ID of the records to show')
      .option('--spiffeID <id>', 'The SPIFFE ID of the records to show')
      .option('--parentID <id>', 'The Parent ID of the records to show')
      .option('--selector <type:value>', 'A colon-delimited type:value selector (repeatable)', collect, [])
      .option(
        '--federatesWith <td>',
        'SPIFFE ID of a trust domain an entry is federate with (repeatable)',
        collect,
        [],
      )
      .option(
        '--downstream',
        'A boolean value that, when set, indicates that the entry describes a downstream SPIRE server',
      );
  type FilterFlags = CommonOpts & {
    entryID?: string;
    spiffeID?: string;
    parentID?: string;
    selector: string[];
    federatesWith: string[];
    downstream?: boolean;
  };
  const filterOf = async (o: FilterFlags): Promise<object> => ({
    entry_id: o.entryID,
    spiffe_id: o.spiffeID,
    parent_id: o.parentID,
    selectors: await selectors(o.selector),
    federates_with: o.federatesWith,
    downstream: o.downstream,
  });
  filterFlags(entry.command('show').description('Displays configured registration entries')).action(
    action(async (o: FilterFlags) => {
      const { entries } = await adminCall<{ entries: EntryMessage[] }>(socketOf(o), 'entry.list', {
        filter: await filterOf(o),
      });
      if (o.output === 'json') {
        process.stdout.write(`${JSON.stringify({ entries }, null, 2)}\n`);
        return;
      }
      process.stdout.write(`Found ${pluralize(entries.length, 'entry', 'entries')}\n`);
      for (const e of entries) process.stdout.write(formatEntry(e));
    }),
  );
  filterFlags(entry.command('count').description('Count registration entries')).action(
    action(async (o: FilterFlags) => {
      const { entries } = await adminCall<{ entries: EntryMessage[] }>(socketOf(o), 'entry.list', {
        filter: await filterOf(o),
      });
      if (o.output === 'json') process.stdout.write(`${JSON.stringify({ count: entries.length })}\n`);
      else
        process.stdout.write(`${pluralize(entries.length, 'registration entry', 'registration entries')}\n`);
    }),
  );
}

function bannerFor(id: string): string {
  const stars = '*'.repeat(40);
  return `${stars}\n* ${id}\n${stars}\n`;
}

function registerBundle(server: Command): void {
  const bundle = server.command('bundle').description('Manage the trust bundle and federated bundles');
  const formatOpt = (): Option =>
    new Option('--format <format>', 'The format to show the bundle (pem, spiffe)')
      .choices(['pem', 'spiffe'])
      .default('pem');
  withCommon(bundle.command('show').description('Prints server CA bundle to stdout'))
    .addOption(formatOpt())
    .action(
      action(async (o: CommonOpts & { format: string }) => {
        const b = await adminCall<{ id: string; pem: string; json: string; sequence: number }>(
          socketOf(o),
          'bundle.show',
        );
        if (o.output === 'json') process.stdout.write(`${b.json}\n`);
        else process.stdout.write(o.format === 'spiffe' ? `${b.json}\n` : b.pem);
      }),
    );
  withCommon(bundle.command('list').description('Lists federated bundle data'))
    .option(
      '--id <td>',
      'The trust domain SPIFFE ID of the bundle to show. If not set, all trust bundles are shown',
    )
    .addOption(formatOpt())
    .action(
      action(async (o: CommonOpts & { id?: string; format: string }) => {
        const { bundles } = await adminCall<{ bundles: { id: string; pem: string; json: string }[] }>(
          socketOf(o),
          'bundle.list',
          { id: o.id },
        );
        if (o.output === 'json') {
          process.stdout.write(
            `${JSON.stringify({ bundles: bundles.map((b) => ({ id: b.id, bundle: JSON.parse(b.json) as unknown })) }, null, 2)}\n`,
          );
          return;
        }
        const body = (b: { pem: string; json: string }): string =>
          o.format === 'spiffe' ? `${b.json}\n` : b.pem;
        if (o.id) process.stdout.write(bundles.map(body).join(''));
        else process.stdout.write(bundles.map((b) => bannerFor(b.id) + body(b)).join('\n'));
      }),
    );
  withCommon(bundle.command('set').description('Creates or updates bundle data'))
    .option('--id <td>', 'SPIFFE ID of the trust domain')
    .option('--path <file>', 'Path to the bundle data (else stdin)')
    .addOption(formatOpt())
    .action(
      action(async (o: CommonOpts & { id?: string; path?: string; format: string }) => {
        if (!o.id) throw new Error('id flag is required');
        const data = readFileSync(o.path ?? 0, 'utf8');
        await adminCall(socketOf(o), 'bundle.set', { id: o.id, data, format: o.format });
        if (o.output !== 'json') process.stdout.write('bundle set.\n');
        else process.stdout.write('{}\n');
      }),
    );
  withCommon(bundle.command('delete').description('Deletes bundle data'))
    .option('--id <td>', 'SPIFFE ID of the trust domain')
    .addOption(
      new Option('--mode <mode>', 'Deletion mode')
        .choices(['restrict', 'delete', 'dissociate'])
        .default('restrict'),
    )
    .action(
      action(async (o: CommonOpts & { id?: string; mode: string }) => {
        if (!o.id) throw new Error('id is required');
        await adminCall(socketOf(o), 'bundle.delete', { id: o.id, mode: o.mode });
        process.stdout.write(o.output === 'json' ? '{}\n' : 'bundle deleted.\n');
      }),
    );
  withCommon(bundle.command('count').description('Count bundles')).action(
    action(async (o: CommonOpts) => {
      const { bundles } = await adminCall<{ bundles: unknown[] }>(socketOf(o), 'bundle.list');
      if (o.output === 'json') process.stdout.write(`${JSON.stringify({ count: bundles.length })}\n`);
      else process.stdout.write(`${pluralize(bundles.length, 'bundle', 'bundles')}\n`);
    }),
  );
}

function registerAgent(server: Command): void {
  const agent = server.command('agent').description('Manage attested agents');
  withCommon(agent.command('list').description('Lists attested agents and their SPIFFE IDs'))
    .option('--selector <type:value>', 'A colon-delimited type:value selector (repeatable)', collect, [])
    .option('--attestationType <type>', 'Filter by attestation type')
    .option(
      '--banned <bool>',
      'Filter based on string received, "true": banned agents, "false": not banned agents',
    )
    .action(
      action(async (o: CommonOpts & { selector: string[]; attestationType?: string; banned?: string }) => {
        const filter = {
          attestation_type: o.attestationType,
          banned: o.banned === undefined ? undefined : o.banned === 'true',
          selectors: await selectors(o.selector),
        };
        const { agents } = await adminCall<{ agents: AgentInfo[] }>(socketOf(o), 'agent.list', { filter });
        if (o.output === 'json') {
          process.stdout.write(`${JSON.stringify({ agents }, null, 2)}\n`);
          return;
        }
        if (agents.length === 0) {
          process.stdout.write('No attested agents found\n');
          return;
        }
        process.stdout.write(`Found ${pluralize(agents.length, 'attested agent', 'attested agents')}:\n\n`);
        for (const a of agents) process.stdout.write(formatAgent(a, false));
      }),
    );
  withCommon(agent.command('show').description('Shows the details of an attested agent given its SPIFFE ID'))
    .option('--spiffeID <id>', 'The SPIFFE ID of the agent to show (agent identity)')
    .action(
      action(async (o: CommonOpts & { spiffeID?: string }) => {
        if (!o.spiffeID) throw new Error('a SPIFFE ID is required');
        const { agent: a } = await adminCall<{ agent: AgentInfo }>(socketOf(o), 'agent.show', {
          spiffe_id: o.spiffeID,
        });
        if (o.output === 'json') process.stdout.write(`${JSON.stringify(a, null, 2)}\n`);
        else process.stdout.write(`Found an attested agent given its SPIFFE ID\n\n${formatAgent(a, true)}`);
      }),
    );
  for (const [verb, done] of [
    ['evict', 'Agent evicted successfully'],
    ['ban', 'Agent banned successfully'],
  ] as const) {
    withCommon(
      agent
        .command(verb)
        .description(`${verb === 'evict' ? 'Evicts' : 'Bans'} an attested agent given its SPIFFE ID`),
    )
      .option('--spiffeID <id>', `The SPIFFE ID of the agent to ${verb} (agent identity)`)
      .action(
        action(async (o: CommonOpts & { spiffeID?: string }) => {
          if (!o.spiffeID) throw new Error('a SPIFFE ID is required');
          await adminCall(socketOf(o), `agent.${verb}`, { spiffe_id: o.spiffeID });
          process.stdout.write(o.output === 'json' ? '{}\n' : `${done}\n`);
        }),
      );
  }
  withCommon(agent.command('count').description('Count attested agents')).action(
    action(async (o: CommonOpts) => {
      const { agents } = await adminCall<{ agents: AgentInfo[] }>(socketOf(o), 'agent.list');
      if (o.output === 'json') process.stdout.write(`${JSON.stringify({ count: agents.length })}\n`);
      else process.stdout.write(`${pluralize(agents.length, 'attested agent', 'attested agents')}\n`);
    }),
  );
}

function registerMinting(server: Command): void {
  withCommon(
    server
      .command('token')
      .description('Manage join tokens')
      .command('generate')
      .description('Generates a join token'),
  )
    .option('--spiffeID <id>', 'Additional SPIFFE ID to assign the token owner (optional)')
    .option('--ttl <seconds>', 'Token TTL in seconds', '600')
    .action(
      action(async (o: CommonOpts & { spiffeID?: string; ttl: string }) => {
        const r = await adminCall<{ token: string; expires_at: number }>(socketOf(o), 'token.generate', {
          spiffe_id: o.spiffeID,
          ttl: intFlag('ttl', o.ttl),
        });
        if (o.output === 'json')
          process.stdout.write(`${JSON.stringify({ value: r.token, expires_at: r.expires_at })}\n`);
        else process.stdout.write(`Token: ${r.token}\n`);
        if (!o.spiffeID) process.stderr.write('Warning: Missing SPIFFE ID.\n');
      }),
    );

  withCommon(
    server.command('x509').description('Mint X509-SVIDs').command('mint').description('Mints an X509-SVID'),
  )
    .option('--spiffeID <id>', 'SPIFFE ID of the X509-SVID')
    .option('--ttl <duration>', 'TTL of the X509-SVID (e.g. 1h, or seconds)')
    .option('--dns <name>', 'DNS name that will be included in SVID (repeatable)', collect, [])
    .option('--write <dir>', 'Directory to write output to instead of stdout')
    .action(
      action(async (o: CommonOpts & { spiffeID?: string; ttl?: string; dns: string[]; write?: string }) => {
        if (!o.spiffeID) throw new Error('spiffeID must be specified');
        const { SpiffeId, createCsr, generateKeyPair } = await spiffe();
        const spiffeId = SpiffeId.parse(o.spiffeID);
        const key = generateKeyPair();
        const csr = await createCsr(key, { spiffeId });
        const r = await adminCall<{
          svid_pem: string;
          bundle_pem: string;
          expires_at: number;
          capped: boolean;
        }>(socketOf(o), 'x509.mint', {
          spiffe_id: o.spiffeID,
          csr: csr.toString('base64'),
          ttl: o.ttl === undefined ? undefined : (await lib()).parseDurationSeconds('-ttl', o.ttl),
          dns_names: o.dns,
        });
        const keyPem = key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
        if (r.capped)
          process.stderr.write(
            `X509-SVID lifetime was capped shorter than specified ttl; expires "${new Date(r.expires_at * 1000).toISOString()}"\n`,
          );
        if (o.write) {
          await mkdir(o.write, { recursive: true });
          const svidPath = path.join(o.write, 'svid.pem');
          const keyPath = path.join(o.write, 'key.pem');
          const bundlePath = path.join(o.write, 'bundle.pem');
          await writeFile(svidPath, r.svid_pem, { mode: 0o644 });
          await writeFile(keyPath, keyPem, { mode: 0o600 });
          await writeFile(bundlePath, r.bundle_pem, { mode: 0o644 });
          process.stdout.write(
            `X509-SVID written to ${svidPath}\nPrivate key written to ${keyPath}\nRoot CAs written to ${bundlePath}\n`,
          );
          return;
        }
        if (o.output === 'json') {
          process.stdout.write(
            `${JSON.stringify({ x509_svid: r.svid_pem, private_key: keyPem, root_cas: r.bundle_pem, expires_at: r.expires_at }, null, 2)}\n`,
          );
          return;
        }
        process.stdout.write(
          `X509-SVID:\n${r.svid_pem}\nPrivate key:\n${keyPem}\nRoot CAs:\n${r.bundle_pem}`,
        );
      }),
    );

  withCommon(
    server.command('jwt').description('Mint JWT-SVIDs').command('mint').description('Mints a JWT-SVID'),
  )
    .option('--spiffeID <id>', 'SPIFFE ID of the JWT-SVID')
    .option('--audience <aud>', 'Audience claim that will be included in the SVID (repeatable)', collect, [])
    .option('--ttl <duration>', 'TTL of the JWT-SVID (e.g. 5m, or seconds)')
    .option('--write <file>', 'File to write token to instead of stdout')
    .action(
      action(
        async (o: CommonOpts & { spiffeID?: string; audience: string[]; ttl?: string; write?: string }) => {
          if (!o.spiffeID) throw new Error('spiffeID must be specified');
          if (o.audience.length === 0) throw new Error('at least one audience must be specified');
          const r = await adminCall<{ token: string; expires_at: number }>(socketOf(o), 'jwt.mint', {
            spiffe_id: o.spiffeID,
            audience: o.audience,
            ttl: o.ttl === undefined ? undefined : (await lib()).parseDurationSeconds('-ttl', o.ttl),
          });
          if (o.write) {
            await writeFile(o.write, `${r.token}\n`, { mode: 0o600 });
            process.stdout.write(`JWT-SVID written to ${o.write}\n`);
          } else if (o.output === 'json') process.stdout.write(`${JSON.stringify(r)}\n`);
          else process.stdout.write(`${r.token}\n`);
        },
      ),
    );

  withCommon(server.command('healthcheck').description('Determines server health status'), false)
    .option('--shallow', 'Perform a less stringent health check')
    .option('--verbose', 'Print verbose information')
    .action(async (o: CommonOpts & { shallow?: boolean; verbose?: boolean }) => {
      try {
        await adminCall(socketOf(o), 'healthcheck', { shallow: o.shallow === true });
        process.stdout.write('Server is healthy.\n');
      } catch (err) {
        if (o.verbose) process.stderr.write(`Failed to check health: ${(err as Error).message}\n`);
        process.stderr.write('Server is unhealthy: unable to determine health\n');
        process.exitCode = 1;
      }
    });
}

function registerRun(server: Command): void {
  server
    .command('run')
    .description('Runs the server')
    .option('--config <path>', 'Path to a trustmesh/SPIRE server config file (HCL, YAML or JSON)')
    .option('--trustDomain <td>', 'The trust domain that this server belongs to')
    .option('--dataDir <dir>', 'Directory to store runtime data to')
    .option('--socketPath <path>', 'Path to bind the server API socket to')
    .option('--bindAddress <ip>', 'IP address or DNS name of the server')
    .option('--serverPort <port>', 'Port number of the server')
    .option('--logLevel <level>', 'DEBUG, INFO, WARN or ERROR')
    .action(async (flags: RunFlags) => {
      const { IdentityServer, readConfigFile, resolveServerConfig } = await lib();
      let server: Awaited<ReturnType<typeof IdentityServer.start>>;
      try {
        const file = flags.config ? readConfigFile(flags.config) : {};
        const cfg = resolveServerConfig(file, {
          ...flags,
          socketPath: flags.socketPath ?? (flags.config ? undefined : process.env['TRUSTMESH_SERVER_SOCKET']),
        });
        server = await IdentityServer.start({ config: cfg });
      } catch (err) {
        fail(err instanceof Error ? err.message : String(err));
        return;
      }
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          resolve();
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await server.close();
    });
}

/** Registers `trustmesh server …` on the root program. */
export function registerServerCommands(program: Command): void {
  const server = program
    .command('server')
    .description('SPIRE-compatible identity server: CA, registration entries, node attestation');
  registerRun(server);
  registerEntry(server);
  registerBundle(server);
  registerAgent(server);
  registerMinting(server);
}
