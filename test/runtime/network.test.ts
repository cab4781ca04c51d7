/**
 * The pod network end to end (needs root): `up --network-only` runs a Deployment of two
 * replicas behind a Service; a throwaway pod reaches both through the ClusterIP by name; a
 * Service without endpoints refuses; `apply` scales; a killed runtime is cleaned up by the next
 * `up`; `down` leaves no netns, veth, bridge, iptables chain or /etc/netns entry behind.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { repoRoot } from '../support/cli.js';

const isRoot = process.getuid?.() === 0;
const cli = [process.execPath, '--import', 'tsx', path.join(repoRoot, 'test/runtime/runtime-cli.ts')];
const work = mkdtempSync(path.join(tmpdir(), 'tm-net-'));
const stateDir = path.join(work, 'state');
const manifests = path.join(work, 'manifests');
const bridge = `tmn${process.pid.toString(36)}`.slice(0, 15);
const common = ['--state-dir', stateDir];
const children: ChildProcess[] = [];

/** Runs the runtime CLI to completion. */
function tm(args: string[]): { code: number; out: string } {
  try {
    const out = execFileSync(cli[0]!, [...cli.slice(1), args[0]!, ...common, ...args.slice(1)], {
      cwd: repoRoot,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return { code: 0, out };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, out: `${e.stdout}${e.stderr}` };
  }
}

/** Starts `up` in the background; resolves with the child once it printed "• up:". */
function up(): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(
    cli[0]!,
    [
      ...cli.slice(1),
      'up',
      '--network-only',
      '--bridge',
      bridge,
      '--cidr',
      '198.19.0.0/16',
      ...common,
      manifests,
    ],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (text += d.toString()));
  return new Promise((resolve, reject) => {
    // Generous: a loaded CI machine needs several seconds for tsx alone, then netns set-up per pod.
    const timer = setTimeout(() => reject(new Error(`up did not finish:\n${text}`)), 90_000);
    const check = () => {
      if (text.includes('• up:')) {
        clearTimeout(timer);
        resolve({ child, output: () => text });
      }
    };
    child.stdout!.on('data', check);
    child.on('exit', () => {
      clearTimeout(timer);
      reject(new Error(`up exited:\n${text}`));
    });
  });
}

function writeManifests(replicas: number): void {
  writeFileSync(
    path.join(manifests, 'app.yaml'),
    `apiVersion: v1
kind: Namespace
metadata: {name: net}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo, namespace: net}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
        - name: echo
          image: local/echo
          ports: [{containerPort: 8080, name: http}]
          env:
            - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
            - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: net}
spec:
  selector: {app: echo}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: none, namespace: net}
spec:
  ports: [{port: 80}]
`,
  );
}

function leftovers(): string[] {
  const found: string[] = [];
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (/\.net\b/.test(netns)) found.push(`netns: ${netns}`);
  if (execFileSync('ip', ['link', 'show'], { encoding: 'utf8' }).includes(bridge))
    found.push(`bridge ${bridge}`);
  if (execFileSync('iptables-save', { encoding: 'utf8' }).includes(`-${bridge}`))
    found.push('iptables chains');
  if (existsSync('/etc/netns') && readdirSync('/etc/netns').some((n) => n.endsWith('.net')))
    found.push('/etc/netns entries');
  return found;
}

after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (isRoot && existsSync(stateDir)) tm(['down']);
  rmSync(work, { recursive: true, force: true });
});

test(
  'pods, Services and teardown of the local pod network',
  { skip: isRoot ? false : 'needs root (network namespaces)', timeout: 300_000 },
  async () => {
    execFileSync('mkdir', ['-p', manifests]);
    writeFileSync(
      path.join(manifests, 'images.yaml'),
      `local/echo:\n  command: [python3, -c, "import http.server,os\\nclass H(http.server.BaseHTTPRequestHandler):\\n  def do_GET(s):\\n    b=(os.environ['POD_NAME']+' '+os.environ['POD_IP']).encode(); s.send_response(200); s.send_header('content-length',str(len(b))); s.end_headers(); s.wfile.write(b)\\nhttp.server.HTTPServer(('0.0.0.0',8080),H).serve_forever()"]\n`,
    );
    writeManifests(2);
    const first = await up();

    const pods = tm(['get', 'pods', '-n', 'net', '-o', 'json']);
    const items = (
      JSON.parse(pods.out) as { items: { metadata: { name: string }; status: { podIP: string } }[] }
    ).items;
    assert.equal(items.length, 2, pods.out);

    // Both replicas answer through the ClusterIP, each with its own downward-API name and IP. A pod
    // is ready once its process runs (no readiness probe), which can be before python listens, so
    // curl retries refused connections for a while instead of the test assuming python is fast.
    const seen = new Set<string>();
    for (let i = 0; i < 16 && seen.size < 2; i++) {
      const r = tm([
        'run',
        `c${i}`,
        '--rm',
        '-n',
        'net',
        '--',
        'curl',
        '-s',
        '--connect-timeout',
        '5',
        '--retry',
        '30',
        '--retry-connrefused',
        '--retry-delay',
        '1',
        '-m',
        '60',
        'http://echo/',
      ]);
      assert.equal(r.code, 0, r.out);
      seen.add(r.out.trim());
    }
    assert.deepEqual([...seen].sort(), items.map((p) => `${p.metadata.name} ${p.status.podIP}`).sort());

    // A Service without selector has an address but no endpoints: no HTTP response ever comes back.
    // Which of curl's failures that is (7 refused, 28 timed out…) depends on timing, so only the
    // outcome is asserted.
    const none = tm([
      'run',
      'nobody',
      '--rm',
      '--',
      'curl',
      '-s',
      '-w',
      'status=%{http_code}',
      '-m',
      '3',
      'http://none.net.svc.cluster.local/',
    ]);
    assert.notEqual(none.code, 0, none.out);
    assert.match(none.out, /status=000/, 'no HTTP response from a Service without endpoints');

    // The pod's hosts file names every Service.
    const hosts = tm(['exec', 'echo', '-n', 'net', '--', 'cat', '/etc/hosts']);
    assert.match(hosts.out, /echo\.net\.svc\.cluster\.local echo\.net\.svc echo\.net echo/);

    // apply scales the Deployment down.
    writeManifests(1);
    tm(['apply', '-f', manifests]);
    const scaled = JSON.parse(tm(['get', 'pods', '-n', 'net', '-o', 'json']).out) as { items: unknown[] };
    assert.equal(scaled.items.length, 1);

    // A crashed runtime: the next `up` removes what it left, then `down` removes everything.
    first.child.kill('SIGKILL');
    await new Promise((r) => first.child.once('exit', r));
    const second = await up();
    assert.match(second.output(), /cleaned up a previous run/);
    const down = tm(['down']);
    assert.equal(down.code, 0, down.out);
    await new Promise((r) => (second.child.exitCode !== null ? r(null) : second.child.once('exit', r)));
    assert.deepEqual(leftovers(), []);
  },
);
