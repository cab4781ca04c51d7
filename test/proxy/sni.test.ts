/**
 * Filter chain match on what the tls_inspector reads from the ClientHello (Envoy FilterChainMatch):
 * `server_names` (exact beats wildcard, longer wildcard beats shorter) and `application_protocols`
 * (ALPN), with a chain without criteria as the fallback. A ClientHello split over TCP segments is
 * read whole before the chain is picked.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import tls from 'node:tls';
import { Duplex } from 'node:stream';
import { makePki, type TestPki } from './support/pki.js';
import { certSecret, hcm, startProxy, vhost, type ProxyProcess } from './support/envoy.js';

let dir: string;
let pki: TestPki;
let proxy: ProxyProcess;
let port: number;

const DOWN = 'type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext';

/** A TLS filter chain answering every request with `body`. */
function chain(body: string, match: Record<string, unknown>): Record<string, unknown> {
  return {
    name: body,
    filter_chain_match: match,
    transport_socket: {
      name: 'envoy.transport_sockets.tls',
      typed_config: {
        '@type': DOWN,
        common_tls_context: { tls_certificate_sds_secret_configs: [{ name: 'server' }] },
      },
    },
    filters: [
      hcm(body.replace(/[^a-z]/g, '_'), [
        vhost(
          'all',
          ['*'],
          [{ match: { prefix: '/' }, direct_response: { status: 200, body: { inline_string: body } } }],
        ),
      ]),
    ],
  };
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tm-proxy-sni-'));
  pki = await makePki(dir);
  proxy = await startProxy(dir, 'sni', {
    static_resources: {
      secrets: [certSecret('server', pki.b.cert, pki.b.key)],
      listeners: [
        {
          name: 'sni',
          address: { socket_address: { address: '127.0.0.1', port_value: 0 } },
          filter_chains: [
            chain('wildcard', { server_names: ['*.example.org'] }),
            chain('deeper-wildcard', { server_names: ['*.b.example.org'] }),
            chain('exact', { server_names: ['api.example.org', 'www.example.org'] }),
            chain('alpn', { application_protocols: ['http/1.1'] }),
            chain('default', {}),
          ],
        },
      ],
    },
  });
  port = proxy.listeners.sni!;
});

after(async () => {
  await proxy?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** GET / over TLS; resolves with the body of the chain that answered. */
function ask(o: { servername?: string; alpn?: string[]; socket?: Duplex }): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: '127.0.0.1',
      port,
      rejectUnauthorized: false,
      ...(o.servername ? { servername: o.servername } : {}),
      ...(o.alpn ? { ALPNProtocols: o.alpn } : {}),
      ...(o.socket ? { socket: o.socket } : {}),
    });
    let data = '';
    s.on('secureConnect', () => s.write('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'));
    s.on('data', (d: Buffer) => (data += d.toString()));
    s.on('error', reject);
    s.on('close', () => resolve(data.slice(data.indexOf('\r\n\r\n') + 4)));
  });
}

test('server_names: exact beats wildcard, the longer wildcard beats the shorter', async () => {
  assert.equal(await ask({ servername: 'api.example.org' }), 'exact');
  assert.equal(await ask({ servername: 'WWW.Example.org' }), 'exact', 'SNI is case-insensitive');
  assert.equal(await ask({ servername: 'x.example.org' }), 'wildcard');
  assert.equal(await ask({ servername: 'x.y.example.org' }), 'wildcard', 'a wildcard spans labels');
  assert.equal(await ask({ servername: 'x.b.example.org' }), 'deeper-wildcard');
});

test('no server_names match: application_protocols, then the chain without criteria', async () => {
  assert.equal(await ask({ servername: 'example.org', alpn: ['http/1.1'] }), 'alpn');
  assert.equal(await ask({ servername: 'other.test' }), 'default');
  assert.equal(await ask({}), 'default', 'no SNI, no ALPN');
});

test('a ClientHello split over two TCP segments is read whole before matching', async () => {
  const raw = net.connect(port, '127.0.0.1');
  raw.setNoDelay(true);
  await new Promise((r) => raw.once('connect', r));
  let first = true;
  // Writes the first flight (the ClientHello) in two parts, the second after a pause.
  const split = new Duplex({
    write(chunk: Buffer, _enc, cb) {
      if (!first) return raw.write(chunk, cb);
      first = false;
      raw.write(chunk.subarray(0, 20));
      setTimeout(() => raw.write(chunk.subarray(20), cb), 100);
    },
    read() {},
    final(cb) {
      raw.end();
      cb();
    },
  });
  raw.on('data', (d: Buffer) => split.push(d));
  raw.on('end', () => split.push(null));
  raw.on('close', () => split.destroy());
  assert.equal(await ask({ servername: 'api.example.org', socket: split }), 'exact');
});
