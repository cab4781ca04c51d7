import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getPeerCredentials, getOriginalDestination, socketFd } from '../../src/native/index.js';

test('SO_PEERCRED reports the pid and uid of a child process connecting over a unix socket', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tm-peercred-'));
  const path = join(dir, 's.sock');
  try {
    let listening!: Promise<unknown>;
    const accepted = new Promise<net.Socket>((resolve) => {
      const server = net.createServer((s) => {
        server.close();
        resolve(s);
      });
      server.listen(path);
      listening = once(server, 'listening');
    });
    // The child connects once: the socket must be bound before it starts, however slow the machine.
    await listening;
    const child = spawn(
      process.execPath,
      ['-e', `const s=require('net').connect(${JSON.stringify(path)});s.on('data',()=>s.end());`],
      { stdio: 'ignore' },
    );
    const sock = await accepted;
    const fd = socketFd(sock);
    assert.ok(fd !== undefined);
    const cred = getPeerCredentials(fd);
    assert.equal(cred.pid, child.pid);
    assert.equal(cred.uid, process.getuid!());
    assert.equal(cred.gid, process.getgid!());
    sock.end('bye');
    await new Promise((r) => child.on('exit', r));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('getsockopt errors are thrown with a code, not a crash', () => {
  assert.throws(() => getPeerCredentials(987654), { code: 'EBADF' });
  assert.throws(() => getOriginalDestination(987654), { code: 'EBADF' });
  assert.throws(() => getPeerCredentials('x' as unknown as number), TypeError);
});

const isRoot = process.getuid?.() === 0;

test(
  'SO_ORIGINAL_DST reports the address an iptables REDIRECT rewrote',
  { skip: !isRoot && 'needs root for ip netns and iptables' },
  async () => {
    const ns = `tm-odst-${process.pid}`;
    execFileSync('ip', ['netns', 'add', ns]);
    try {
      execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      execFileSync('ip', [
        'netns',
        'exec',
        ns,
        'iptables',
        '-t',
        'nat',
        '-A',
        'OUTPUT',
        '-p',
        'tcp',
        '-d',
        '127.0.0.9',
        '--dport',
        '8080',
        '-j',
        'REDIRECT',
        '--to-ports',
        '15001',
      ]);
      // A server inside the namespace accepts the redirected connection and prints SO_ORIGINAL_DST.
      const script = `
      import net from 'node:net';
      import { getOriginalDestination, socketFd } from ${JSON.stringify(new URL('../../src/native/index.ts', import.meta.url).pathname)};
      const server = net.createServer((s) => { console.log(JSON.stringify(getOriginalDestination(socketFd(s)))); s.destroy(); server.close(); });
      server.listen(15001, '0.0.0.0', () => { net.connect(8080, '127.0.0.9').on('error', () => {}); });
    `;
      const out = execFileSync(
        'ip',
        ['netns', 'exec', ns, process.execPath, '--import', 'tsx', '--input-type=module', '-e', script],
        { encoding: 'utf8', timeout: 60_000 },
      );
      assert.deepEqual(JSON.parse(out.trim()), { address: '127.0.0.9', port: 8080, family: 'IPv4' });
    } finally {
      execFileSync('ip', ['netns', 'del', ns]);
    }
  },
);
