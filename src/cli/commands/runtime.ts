/**
 * The runtime's commands: `up`, `down`, `apply`, `delete`, `get`, `logs`, `exec`, `run`,
 * `status`. `up` runs in the foreground; the others talk to it over `<state-dir>/runtime.sock`.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import Table from 'cli-table3';
import { stringify as toYaml } from 'yaml';
import {
  DEFAULT_STATE_DIR,
  LocalRuntime,
  NotRunningError,
  StateFile,
  callControl,
  cleanupHost,
  controlSocketPath,
  loadManifests,
  type Manifest,
  type RuntimeStatus,
} from '../../runtime/index.js';

interface StateDirOption {
  stateDir: string;
}

function selfArgv(): string[] {
  return [process.execPath, ...process.execArgv, process.argv[1]!];
}

/** Calls the running runtime; a missing/refusing socket becomes {@link NotRunningError}. */
async function call(stateDir: string, method: string, path: string, body?: unknown): Promise<unknown> {
  try {
    return await callControl(controlSocketPath(stateDir), method, path, body);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ECONNREFUSED') throw new NotRunningError(stateDir, { cause: err });
    throw err;
  }
}

/** The trust domain named by the manifests' SDS secret names (`spiffe://<td>/…`), if any. */
function trustDomainOf(docs: readonly Manifest[]): string | undefined {
  const m = /"secretName":"spiffe:\/\/([^/"]+)/.exec(JSON.stringify(docs));
  return m?.[1];
}

/** Parses `30s`, `5m`, `1h` or a number of seconds. */
function parseSeconds(text: string): number {
  const m = /^(\d+)(s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`--svid-ttl: expected a duration like 30s, 5m or 1h, got "${text}"`);
  return Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
}

function table(head: string[], rows: (string | number)[][]): string {
  const t = new Table({
    head,
    chars: {
      top: '',
      'top-mid': '',
      'top-left': '',
      'top-right': '',
      bottom: '',
      'bottom-mid': '',
      'bottom-left': '',
      'bottom-right': '',
      left: '',
      'left-mid': '',
      mid: '',
      'mid-mid': '',
      right: '',
      'right-mid': '',
      middle: '  ',
    },
    style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 },
  });
  t.push(...rows.map((r) => r.map(String)));
  return `${t.toString()}\n`;
}

function age(iso: string | undefined): string {
  if (!iso) return '';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

interface PodObject extends Manifest {
  status: {
    phase: string;
    podIP: string;
    startTime: string;
    containerStatuses: { name: string; ready: boolean; restartCount: number }[];
  };
}

function printObjects(kind: string, items: Manifest[]): string {
  if (kind === 'Pod') {
    return table(
      ['NAMESPACE', 'NAME', 'READY', 'STATUS', 'RESTARTS', 'IP', 'AGE'],
      (items as PodObject[]).map((p) => {
        const cs = p.status.containerStatuses;
        return [
          p.metadata.namespace ?? '',
          p.metadata.name,
          `${cs.filter((c) => c.ready).length}/${cs.length}`,
          p.status.phase,
          cs.reduce((a, c) => a + c.restartCount, 0),
          p.status.podIP,
          age(p.status.startTime),
        ];
      }),
    );
  }
  if (kind === 'Service') {
    return table(
      ['NAMESPACE', 'NAME', 'TYPE', 'CLUSTER-IP', 'PORT(S)', 'ENDPOINTS'],
      items.map((s) => {
        const spec = s.spec as { clusterIP: string; ports?: { port: number; protocol?: string }[] };
        const eps = (s['status'] as { endpoints: { ip: string; port: number }[] }).endpoints;
        return [
          s.metadata.namespace ?? '',
          s.metadata.name,
          'ClusterIP',
          spec.clusterIP,
          (spec.ports ?? []).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`).join(','),
          eps.map((e) => `${e.ip}:${e.port}`).join(',') || '<none>',
        ];
      }),
    );
  }
  if (kind === 'Deployment') {
    return table(
      ['NAMESPACE', 'NAME', 'READY'],
      items.map((d) => {
        const st = d['status'] as { replicas: number; readyReplicas: number };
        return [d.metadata.namespace ?? '', d.metadata.name, `${st.readyReplicas}/${st.replicas}`];
      }),
    );
  }
  return table(
    ['NAMESPACE', 'NAME', 'ARN'],
    items.map((o) => {
      const spec = (o.spec ?? {}) as { awsName?: string };
      const ns = o.metadata.namespace;
      const arn = o.apiVersion.startsWith('appmesh')
        ? `${o.kind}/${spec.awsName ?? (o.kind === 'Mesh' ? o.metadata.name : o.kind === 'VirtualService' ? `${o.metadata.name}.${ns}` : `${o.metadata.name}_${ns}`)}`
        : '';
      return [ns ?? '', o.metadata.name, arn];
    }),
  );
}

interface Placement {
  name: string;
  namespace: string;
  netns: string;
  containers: { name: string; logFile: string; uid: number; cwd?: string }[];
}

function pickContainer(p: Placement, name: string | undefined) {
  const c = name
    ? p.containers.find((x) => x.name === name)
    : (p.containers.find((x) => x.name !== 'envoy') ?? p.containers[0]);
  if (!c)
    throw new Error(
      `container "${name}" is not in pod ${p.name} (has ${p.containers.map((x) => x.name).join(', ')})`,
    );
  return c;
}

/** Runs argv in the pod's network namespace (as the container's uid), attached to our stdio. */
function execIn(p: Placement, container: Placement['containers'][number], argv: string[]): Promise<number> {
  const priv =
    container.uid !== 0
      ? ['setpriv', `--reuid=${container.uid}`, `--regid=${container.uid}`, '--clear-groups', '--']
      : [];
  const child = spawn('ip', ['netns', 'exec', p.netns, ...priv, ...argv], {
    stdio: 'inherit',
    cwd: container.cwd,
  });
  return new Promise((resolve) => {
    child.on('error', () => resolve(127));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
}

/** Registers the runtime subcommands on the root program. */
export function registerRuntimeCommands(program: Command): void {
  const stateDirOpt = ['--state-dir <dir>', 'state directory of the runtime', DEFAULT_STATE_DIR] as const;

  program
    .command('up')
    .description(
      'run Kubernetes + App Mesh manifests locally, with STRICT mTLS between pods (foreground; Ctrl-C tears down)',
    )
    .argument(
      '<paths...>',
      'manifest files or directories (a directory may hold images.yaml and register.sh)',
    )
    .option('--trust-domain <td>', "trust domain (default: the one the manifests' SDS secret names use)")
    .option('--cluster-name <name>', 'cluster name for k8s_sat node attestation', 'k8s-cluster')
    .option(...stateDirOpt)
    .option(
      '--cidr <cidr>',
      'address range: pods in the lower half, Service IPs in the upper half',
      '198.18.0.0/15',
    )
    .option('--bridge <name>', 'host bridge name', 'tm0')
    .option('--svid-ttl <duration>', 'X509-SVID TTL of workloads (e.g. 30s, 1h)', '1h')
    .addOption(
      new Option(
        '--network-only',
        'pods and Services only: no identity, control plane or sidecars',
      ).hideHelp(),
    )
    .action(
      async (
        paths: string[],
        o: StateDirOption & {
          trustDomain?: string;
          clusterName: string;
          cidr: string;
          bridge: string;
          svidTtl: string;
          networkOnly?: boolean;
        },
      ) => {
        const log = (line: string) => process.stdout.write(`${line}\n`);
        const manifests = await loadManifests(paths);
        const rt = await LocalRuntime.up({
          paths,
          trustDomain: o.trustDomain ?? trustDomainOf(manifests.docs) ?? 'trustmesh.local',
          clusterName: o.clusterName,
          stateDir: o.stateDir,
          cidr: o.cidr,
          bridge: o.bridge,
          svidTtlSeconds: parseSeconds(o.svidTtl),
          selfArgv: selfArgv(),
          log,
          withMesh: !o.networkOnly,
        });
        log(`• up: ${rt.cluster.pods.size} pods. Try, in another shell:`);
        const front = [...rt.cluster.services.values()].find((s) => s.manifest.metadata.name === 'front');
        if (front) {
          const host = `front.${front.manifest.metadata.namespace}.svc.cluster.local:8080`;
          log(`    npx trustmesh run curler --rm -- curl -s -H "color_header: blue" ${host}`);
          log(`    npx trustmesh run curler --rm -- curl -s -H "color_header: green" ${host}`);
        }
        log(
          '    npx trustmesh get pods -A   ·   npx trustmesh status   ·   npx trustmesh down (or Ctrl-C here)',
        );
        const stop = () => void rt.down();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await rt.closed;
        process.removeListener('SIGINT', stop);
        process.removeListener('SIGTERM', stop);
      },
    );

  program
    .command('down')
    .description('stop the running runtime and remove everything it created (also after a crash)')
    .option(...stateDirOpt)
    .action(async (o: StateDirOption) => {
      try {
        await call(o.stateDir, 'POST', '/down');
      } catch (err) {
        if (!(err instanceof NotRunningError)) throw err;
        const removed = await cleanupHost(StateFile.open(o.stateDir));
        process.stdout.write(
          removed.length > 0 ? `removed ${removed.join(', ')}\n` : 'nothing to tear down\n',
        );
        return;
      }
      const sock = controlSocketPath(o.stateDir);
      // Wait for the runtime to finish its teardown (its control socket goes away with it).
      for (let i = 0; i < 300; i++) {
        try {
          await callControl(sock, 'GET', '/get/ns');
        } catch {
          break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      process.stdout.write('down\n');
    });

  for (const verb of ['apply', 'delete'] as const) {
    program
      .command(verb)
      .description(`${verb} manifests on the running runtime`)
      .requiredOption('-f, --filename <paths...>', 'manifest files or directories')
      .option(...stateDirOpt)
      .action(async (o: StateDirOption & { filename: string[] }) => {
        const m = await loadManifests(o.filename);
        const r = (await call(o.stateDir, 'POST', `/${verb}`, { docs: m.docs, images: [...m.images] })) as {
          lines: string[];
        };
        for (const line of r.lines) process.stdout.write(`${line}\n`);
      });
  }

  program
    .command('get')
    .description(
      'list objects: pods, svc, deployments, ns, meshes, virtualnodes, virtualservices, virtualrouters, …',
    )
    .argument('<resource>')
    .argument('[name]')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-A, --all-namespaces', 'all namespaces')
    .option('-o, --output <format>', 'yaml or json')
    .option(...stateDirOpt)
    .action(
      async (
        resource: string,
        name: string | undefined,
        o: StateDirOption & { namespace: string; allNamespaces?: boolean; output?: string },
      ) => {
        const ns = o.allNamespaces ? 'all' : o.namespace;
        const r = (await call(
          o.stateDir,
          'GET',
          `/get/${encodeURIComponent(resource)}${name ? `/${encodeURIComponent(name)}` : ''}?namespace=${encodeURIComponent(ns)}`,
        )) as { kind: string; items: Manifest[] };
        if (o.output === 'json')
          process.stdout.write(
            `${JSON.stringify(name && r.items.length === 1 ? r.items[0] : { items: r.items }, null, 2)}\n`,
          );
        else if (o.output === 'yaml')
          process.stdout.write(toYaml(name && r.items.length === 1 ? r.items[0] : { items: r.items }));
        else if (r.items.length === 0)
          process.stdout.write(
            `No resources found${o.allNamespaces ? '' : ` in ${o.namespace} namespace`}.\n`,
          );
        else process.stdout.write(printObjects(r.kind, r.items));
      },
    );

  program
    .command('logs')
    .description("print a container's output")
    .argument('<pod>', 'pod name (or a deployment name: its only pod)')
    .option('-c, --container <name>', 'container (default: the first that is not envoy)')
    .option('-f, --follow', 'keep printing new output')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option(...stateDirOpt)
    .action(
      async (
        pod: string,
        o: StateDirOption & { container?: string; follow?: boolean; namespace: string },
      ) => {
        const p = (await call(o.stateDir, 'GET', `/pod/${o.namespace}/${pod}`)) as Placement;
        const c = pickContainer(p, o.container);
        if (!o.follow) {
          process.stdout.write(await readFile(c.logFile, 'utf8').catch(() => ''));
          return;
        }
        const tail = spawn('tail', ['-n', '+1', '-F', c.logFile], { stdio: 'inherit' });
        await new Promise((r) => tail.on('exit', r));
      },
    );

  program
    .command('exec')
    .description("run a command inside a pod's network namespace (as the container's user)")
    .argument('<pod>')
    .argument('<command...>')
    .option('-c, --container <name>', 'container (default: the first that is not envoy)')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option(...stateDirOpt)
    .action(
      async (pod: string, argv: string[], o: StateDirOption & { container?: string; namespace: string }) => {
        const p = (await call(o.stateDir, 'GET', `/pod/${o.namespace}/${pod}`)) as Placement;
        process.exitCode = await execIn(p, pickContainer(p, o.container), argv);
      },
    );

  program
    .command('run')
    .description(
      'start a throwaway pod without sidecar (like `kubectl run`); with --rm, run the command attached and delete the pod',
    )
    .argument('<name>')
    .argument('<command...>')
    .option('--rm', 'run attached, then delete the pod')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option(...stateDirOpt)
    .action(async (name: string, argv: string[], o: StateDirOption & { rm?: boolean; namespace: string }) => {
      const p = (await call(o.stateDir, 'POST', '/run', {
        name,
        argv,
        namespace: o.namespace,
        attach: !!o.rm,
      })) as Placement;
      if (!o.rm) {
        process.stdout.write(`pod/${p.name} created\n`);
        return;
      }
      try {
        process.exitCode = await execIn(p, p.containers[0]!, argv);
      } finally {
        await call(o.stateDir, 'DELETE', `/pod/${o.namespace}/${p.name}`);
      }
    });

  program
    .command('status')
    .description('pods, SVIDs with their expiry, and mesh edges with TLS handshake counts')
    .option('-o, --output <format>', 'json')
    .option(...stateDirOpt)
    .action(async (o: StateDirOption & { output?: string }) => {
      const s = (await call(o.stateDir, 'GET', '/status')) as RuntimeStatus;
      if (o.output === 'json') {
        process.stdout.write(`${JSON.stringify(s, null, 2)}\n`);
        return;
      }
      process.stdout.write(`trust domain ${s.trustDomain}\n\nPODS\n${printObjects('Pod', s.pods)}\nSVIDS\n`);
      process.stdout.write(
        table(
          ['POD', 'SPIFFE ID', 'EXPIRES IN'],
          s.svids.map((v) => [
            `${v.namespace}/${v.pod}`,
            v.spiffeIds.join(' ') || '<none>',
            v.secondsLeft === undefined ? '' : `${v.secondsLeft}s`,
          ]),
        ),
      );
      process.stdout.write(
        `\nMESH EDGES\n${table(
          ['FROM', 'CLUSTER', 'TLS MODE', 'HANDSHAKES', 'FAILURES', 'RESULT', 'HEALTH'],
          s.edges.map((e) => [
            e.from,
            e.cluster,
            e.tlsMode,
            e.handshakes,
            e.failures,
            e.lastHandshake,
            e.health,
          ]),
        )}`,
      );
    });
}
