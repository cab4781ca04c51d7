/**
 * `trustmesh agent …`: the `spire-agent` command set. `run` starts the daemon; `api fetch x509`,
 * `api fetch jwt`, `api validate jwt`, `api watch` and `healthcheck` are Workload API clients (our
 * `src/spiffe` client) against the agent socket, with spire-agent's flags and output.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import {
  Agent,
  DEFAULT_AGENT_SOCKET_PATH,
  readAgentConfigFile,
  resolveAgentConfig,
  type AgentRunFlags,
} from '../../identity/agent/index.js';
import { SpiffeId, WorkloadApiClient, certificatesToPem, type X509Context } from '../../spiffe/index.js';

/** `unix:///…` address for a socket path (relative paths resolve against the working directory). */
function socketAddress(socketPath: string): string {
  return `unix://${path.resolve(socketPath)}`;
}

/** Runs `fn` with a client and a deadline; a timeout rejects with a message naming the socket. */
async function withClient<T>(
  socketPath: string,
  timeoutSeconds: number,
  fn: (c: WorkloadApiClient) => Promise<T>,
): Promise<T> {
  const client = new WorkloadApiClient({ address: socketAddress(socketPath) });
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(client),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer from the agent at ${socketPath} within ${timeoutSeconds}s`)),
          timeoutSeconds * 1000,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    client.close();
  }
}

function utc(d: Date | string): string {
  return new Date(d)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, ' +0000 UTC');
}

/** spire-agent's text for an X509 context. */
function printX509Context(ctx: X509Context, elapsedMs: number): void {
  const out: string[] = [`Received ${ctx.svids.length} svid after ${elapsedMs.toFixed(3)}ms`];
  for (const svid of ctx.svids) {
    const leaf = svid.certificates[0]!;
    out.push('', `SPIFFE ID:\t\t${svid.spiffeId.toString()}`);
    if (svid.hint) out.push(`Hint:\t\t\t${svid.hint}`);
    out.push(`SVID Valid After:\t${utc(leaf.validFrom)}`, `SVID Valid Until:\t${utc(leaf.validTo)}`);
    for (const [i, c] of svid.certificates.slice(1).entries()) {
      out.push(
        `Intermediate #${i + 1} Valid After:\t${utc(c.validFrom)}`,
        `Intermediate #${i + 1} Valid Until:\t${utc(c.validTo)}`,
      );
    }
    const bundle = ctx.bundles.getX509BundleForTrustDomain(svid.spiffeId.trustDomain);
    for (const [i, c] of (bundle?.authorities() ?? []).entries()) {
      out.push(
        `CA #${i + 1} Valid After:\t${utc(c.validFrom)}`,
        `CA #${i + 1} Valid Until:\t${utc(c.validTo)}`,
      );
    }
  }
  process.stdout.write(out.join('\n') + '\n');
}

/** `-write dir`: svid.N.pem, svid.N.key, bundle.N.pem (+ federated_bundle.N.M.pem), as spire-agent. */
async function writeX509Context(ctx: X509Context, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [i, svid] of ctx.svids.entries()) {
    await writeFile(path.join(dir, `svid.${i}.pem`), svid.certChainPem(), { mode: 0o644 });
    await writeFile(path.join(dir, `svid.${i}.key`), svid.privateKeyPem(), { mode: 0o600 });
    const bundle = ctx.bundles.getX509BundleForTrustDomain(svid.spiffeId.trustDomain);
    await writeFile(path.join(dir, `bundle.${i}.pem`), certificatesToPem(bundle?.authorities() ?? []), {
      mode: 0o644,
    });
    const federated = ctx.bundles
      .x509Bundles()
      .filter((b) => !b.trustDomain.equals(svid.spiffeId.trustDomain));
    for (const [j, b] of federated.entries()) {
      await writeFile(path.join(dir, `federated_bundle.${i}.${j}.pem`), certificatesToPem(b.authorities()), {
        mode: 0o644,
      });
    }
  }
}

/** Registers `agent run`, `agent api …` and `agent healthcheck` on the root program. */
export function registerAgentCommands(program: Command): void {
  const agent = program
    .command('agent')
    .description('the identity agent (spire-agent): Workload API + SDS on a unix socket');

  agent
    .command('run')
    .description('run the agent daemon')
    .option('--config <file>', 'agent.conf (SPIRE HCL; .yaml/.json also accepted)')
    .option('--trustDomain <td>', 'trust domain (overrides agent.trust_domain)')
    .option('--serverAddress <host>', 'identity server address')
    .option('--serverPort <port>', 'identity server port')
    .option('--socketPath <path>', `Workload API + SDS socket (default ${DEFAULT_AGENT_SOCKET_PATH})`)
    .option('--dataDir <dir>', 'data directory')
    .option('--joinToken <token>', 'join token for node attestation')
    .option('--trustBundle <file>', 'PEM CA certificates to verify the server with at bootstrap')
    .option('--insecureBootstrap', 'trust the server on first contact (development only)')
    .option('--logLevel <level>', 'DEBUG, INFO, WARN or ERROR')
    .action(async (flags: AgentRunFlags) => {
      const file = flags.config ? await readAgentConfigFile(flags.config) : {};
      const cwd = flags.config ? path.dirname(path.resolve(flags.config)) : process.cwd();
      const config = resolveAgentConfig(file, flags, cwd);
      const log = pino({ level: config.logLevel, base: { component: 'agent' } }, pino.destination(2));
      const running = await Agent.start(config, { log });
      const stop = (signal: string) => {
        log.info({ signal }, 'agent stopping');
        void running.close().then(() => process.exit(0));
      };
      process.once('SIGINT', () => stop('SIGINT'));
      process.once('SIGTERM', () => stop('SIGTERM'));
    });

  const api = agent.command('api').description('Workload API client commands');
  const fetch = api.command('fetch').description('fetch SVIDs from the Workload API');

  fetch
    .command('x509')
    .description('fetch X509-SVIDs and bundles')
    .option('--socketPath <path>', 'agent socket', DEFAULT_AGENT_SOCKET_PATH)
    .option('--write <dir>', 'write svid.N.pem, svid.N.key and bundle.N.pem to this directory')
    .option('--timeout <seconds>', 'give up after this long', '5')
    .action(async (o: { socketPath: string; write?: string; timeout: string }) => {
      const started = performance.now();
      const ctx = await withClient(o.socketPath, Number(o.timeout), (c) => c.fetchX509Context());
      printX509Context(ctx, performance.now() - started);
      if (o.write) await writeX509Context(ctx, o.write);
    });

  fetch
    .command('jwt')
    .description('fetch JWT-SVIDs for an audience')
    .requiredOption('--audience <aud>', 'comma-separated audience values')
    .option('--spiffeID <id>', 'only this SPIFFE ID')
    .option('--socketPath <path>', 'agent socket', DEFAULT_AGENT_SOCKET_PATH)
    .option('--timeout <seconds>', 'give up after this long', '5')
    .action(async (o: { audience: string; spiffeID?: string; socketPath: string; timeout: string }) => {
      const audience = o.audience.split(',').filter(Boolean);
      const { svid, bundles } = await withClient(o.socketPath, Number(o.timeout), async (c) => ({
        svid: await c.fetchJwtSvid({
          audience,
          ...(o.spiffeID ? { spiffeId: SpiffeId.parse(o.spiffeID) } : {}),
        }),
        bundles: await c.fetchJwtBundles(),
      }));
      const out = [`token(${svid.spiffeId.toString()}):`, `\t${svid.token}`];
      for (const b of bundles.jwtBundles())
        out.push(`bundle(${b.trustDomain.idString()}):`, `\t${b.toJwks()}`);
      process.stdout.write(out.join('\n') + '\n');
    });

  api
    .command('validate')
    .description('validate a token')
    .command('jwt')
    .description('validate a JWT-SVID through the Workload API')
    .requiredOption('--audience <aud>', 'expected audience')
    .requiredOption('--svid <token>', 'the JWT-SVID')
    .option('--socketPath <path>', 'agent socket', DEFAULT_AGENT_SOCKET_PATH)
    .option('--timeout <seconds>', 'give up after this long', '5')
    .action(async (o: { audience: string; svid: string; socketPath: string; timeout: string }) => {
      const res = await withClient(o.socketPath, Number(o.timeout), (c) =>
        c.validateJwtSvid(o.svid, o.audience),
      );
      process.stdout.write(
        `SVID is valid.\nSPIFFE ID : ${res.spiffeId.toString()}\nClaims    : ${JSON.stringify(res.claims)}\n`,
      );
    });

  api
    .command('watch')
    .description('print every X509 context update until interrupted')
    .option('--socketPath <path>', 'agent socket', DEFAULT_AGENT_SOCKET_PATH)
    .action(async (o: { socketPath: string }) => {
      const client = new WorkloadApiClient({ address: socketAddress(o.socketPath) });
      let last = performance.now();
      await new Promise<void>((resolve, reject) => {
        const watch = client.watchX509Context(
          (ctx) => {
            printX509Context(ctx, performance.now() - last);
            last = performance.now();
          },
          (err) => process.stderr.write(`watch: ${err.message}\n`),
        );
        const stop = () => {
          watch.close();
          client.close();
          resolve();
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        void reject;
      });
    });

  agent
    .command('healthcheck')
    .description('check that the agent answers on its socket')
    .option('--socketPath <path>', 'agent socket', DEFAULT_AGENT_SOCKET_PATH)
    .option('--shallow', 'only check that the socket accepts connections')
    .option('--verbose', 'say why the check failed')
    .action(async (o: { socketPath: string; shallow?: boolean; verbose?: boolean }) => {
      try {
        await withClient(o.socketPath, 5, async (c) => {
          try {
            await c.fetchX509Context();
          } catch (err) {
            // The agent answered; a caller without an identity is still a healthy agent (as spire-agent).
            if (
              (err as { code?: unknown }).code === 7 ||
              /PermissionDenied|no identity issued/i.test(String(err))
            )
              return;
            if (o.shallow && !/ECONNREFUSED|ENOENT|no answer/i.test(String(err))) return;
            throw err;
          }
        });
        process.stdout.write('Agent is healthy.\n');
      } catch (err) {
        process.stderr.write(
          `Agent is unhealthy: ${o.verbose ? (err as Error).message : 'unable to determine health'}\n`,
        );
        process.exitCode = 1;
      }
    });
}
