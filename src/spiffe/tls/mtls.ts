import { X509Certificate } from 'node:crypto';
import * as tls from 'node:tls';
import type { X509BundleSource } from '../bundle.js';
import type { SpiffeId } from '../id.js';
import { verifyX509Svid, type X509Svid } from '../x509svid.js';
import type { Authorizer } from './authorizer.js';
import { TlsPeerError } from './errors.js';

/**
 * Where our own X509-SVID comes from (go-spiffe `x509svid.Source`): a static SVID, the live
 * `X509Source` of the Workload API, the agent's cache. Must return the current SVID; a new object means
 * a new SVID version (rotation).
 */
export interface X509SvidSource {
  getX509Svid(): X509Svid;
}

/** What the TLS helpers need: our SVID and the bundles to verify peers with. */
export type MtlsSource = X509SvidSource & X509BundleSource;

/** A TLS peer that passed X509-SVID verification and the authorizer. */
export interface VerifiedPeer {
  spiffeId: SpiffeId;
  /** leaf first, ending at a root of the peer's trust domain bundle */
  verifiedChain: X509Certificate[];
}

/** Lowest TLS version we negotiate (go-spiffe tlsconfig uses TLS 1.2 as the floor). */
const minVersion: tls.SecureVersion = 'TLSv1.2';

// One SecureContext per SVID version: an SVID object is immutable, so it keys its context.
const contexts = new WeakMap<X509Svid, tls.SecureContext>();
const verifiedPeers = new WeakMap<tls.TLSSocket, VerifiedPeer>();

function currentSvid(source: X509SvidSource): X509Svid {
  try {
    return source.getX509Svid();
  } catch (cause) {
    throw new TlsPeerError('no-svid', 'the X509-SVID source has no SVID to present', { cause });
  }
}

/**
 * The `tls.SecureContext` presenting `svid` (its chain and PKCS#8 key), created once per SVID object and
 * reused for every connection.
 */
export function secureContextForSvid(svid: X509Svid): tls.SecureContext {
  let context = contexts.get(svid);
  if (!context) {
    context = tls.createSecureContext({ key: svid.privateKeyPem(), cert: svid.certChainPem(), minVersion });
    contexts.set(svid, context);
  }
  return context;
}

/**
 * The certificate chain a TLS peer presented, leaf first, as node:crypto certificates (empty when it
 * sent none). Taken from `getPeerCertificate(true)`, which also covers resumed sessions.
 */
export function peerCertificateChain(socket: tls.TLSSocket): X509Certificate[] {
  return chainOf(socket.getPeerCertificate(true));
}

function chainOf(leaf: tls.PeerCertificate | undefined): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<Buffer>();
  // Node links each certificate to its issuer; a self-signed root links to itself.
  for (
    let c = leaf as tls.DetailedPeerCertificate | undefined;
    c?.raw && !seen.has(c.raw);
    c = c.issuerCertificate
  ) {
    seen.add(c.raw);
    chain.push(new X509Certificate(c.raw));
  }
  return chain;
}

function verifyPeerChain(
  chain: X509Certificate[],
  bundles: X509BundleSource,
  authorizer: Authorizer,
  now: Date | undefined,
): VerifiedPeer {
  if (chain.length === 0) throw new TlsPeerError('no-peer-certificate', 'the peer presented no certificate');
  let peer: VerifiedPeer;
  try {
    peer = verifyX509Svid(chain, bundles, now ? { now } : undefined);
  } catch (cause) {
    throw new TlsPeerError('svid-verification', `peer certificate rejected: ${(cause as Error).message}`, {
      cause,
    });
  }
  try {
    authorizer(peer.spiffeId, peer.verifiedChain);
  } catch (cause) {
    if (cause instanceof TlsPeerError) throw cause;
    throw new TlsPeerError(
      'unauthorized',
      `peer ${peer.spiffeId.toString()} refused: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  return peer;
}

/**
 * Checks the peer of an established TLS connection: its chain must verify as an X509-SVID against the
 * bundle of its own trust domain (X509-SVID §5, `verifyX509Svid`: chain, URI SAN, leaf constraints,
 * validity at `now`), then `authorizer` must accept its SPIFFE ID. On success the result is also
 * remembered for {@link getVerifiedPeer}.
 *
 * @param now - verification time; default the current time.
 * @throws {TlsPeerError} `no-peer-certificate`, `svid-verification` (cause: the X509SvidError) or
 *   `unauthorized` (cause: what the authorizer threw).
 */
export function verifyTlsPeer(
  socket: tls.TLSSocket,
  bundles: X509BundleSource,
  authorizer: Authorizer,
  now?: Date,
): VerifiedPeer {
  const peer = verifyPeerChain(peerCertificateChain(socket), bundles, authorizer, now);
  verifiedPeers.set(socket, peer);
  return peer;
}

/** The peer verified on `socket` by the helpers here, or undefined when it wasn't (yet). */
export function getVerifiedPeer(socket: tls.TLSSocket): VerifiedPeer | undefined {
  return verifiedPeers.get(socket);
}

/**
 * `node:tls` server options presenting the source's current X509-SVID and requesting a client
 * certificate. Node's own verification is off (`rejectUnauthorized: false`, it can't check SPIFFE
 * rules); peers are checked by {@link enforceMtls}, which MUST be applied to the server built from these
 * options ({@link createMtlsServer} does both). `base` adds other options (ALPN, timeouts, …).
 *
 * @throws {TlsPeerError} `no-svid` when the source has no SVID.
 */
export function createMtlsServerOptions(source: X509SvidSource, base: tls.TlsOptions = {}): tls.TlsOptions {
  const svid = currentSvid(source);
  return {
    ...base,
    key: svid.privateKeyPem(),
    cert: svid.certChainPem(),
    minVersion: base.minVersion ?? minVersion,
    requestCert: true,
    rejectUnauthorized: false,
  };
}

/**
 * Makes `server` (a `tls.Server`, or an https / http2 secure server built on it, created with
 * {@link createMtlsServerOptions}) enforce SPIFFE mTLS:
 *
 * - every handshake presents the source's current SVID: when it has rotated, the server's secure
 *   context is rebuilt before the next connection is wrapped (once per SVID version);
 * - every client is checked with {@link verifyTlsPeer} before any `'secureConnection'` listener sees
 *   it; a refused client is destroyed and reported as `'tlsClientError'` with a {@link TlsPeerError}.
 *
 * Returns the server.
 */
export function enforceMtls<S extends tls.Server>(
  server: S,
  source: MtlsSource,
  authorizer: Authorizer,
  base: tls.TlsOptions = {},
): S {
  // Unknown until the first connection refreshes it: the server's options may hold an older SVID.
  let presented: X509Svid | undefined;
  server.prependListener('connection', () => {
    let svid: X509Svid;
    try {
      svid = source.getX509Svid();
    } catch {
      return; // keep presenting the last SVID; peers will judge its validity
    }
    if (svid === presented) return;
    presented = svid;
    server.setSecureContext({
      ...base,
      key: svid.privateKeyPem(),
      cert: svid.certChainPem(),
      minVersion: base.minVersion ?? minVersion,
      ticketKeys: server.getTicketKeys(),
    });
  });
  const emit = server.emit.bind(server) as (event: string | symbol, ...args: unknown[]) => boolean;
  server.emit = ((event: string | symbol, ...args: unknown[]): boolean => {
    if (event === 'secureConnection') {
      const socket = args[0] as tls.TLSSocket;
      try {
        verifyTlsPeer(socket, source, authorizer);
      } catch (err) {
        socket.destroy();
        return emit('tlsClientError', err, socket);
      }
    }
    return emit(event, ...args);
  }) as S['emit'];
  return server;
}

/**
 * A `tls.Server` doing SPIFFE mTLS with the source's SVID (rotating) and admitting only clients whose
 * X509-SVID verifies and that `authorizer` accepts (see {@link enforceMtls}). `onSecureConnection` and
 * every `'secureConnection'` listener only ever see accepted clients; {@link getVerifiedPeer} gives the
 * client's SPIFFE ID. Refusals are emitted as `'tlsClientError'`.
 *
 * @throws {TlsPeerError} `no-svid` when the source has no SVID.
 */
export function createMtlsServer(
  source: MtlsSource,
  authorizer: Authorizer,
  base: tls.TlsOptions = {},
  onSecureConnection?: (socket: tls.TLSSocket) => void,
): tls.Server {
  const server = enforceMtls(
    tls.createServer(createMtlsServerOptions(source, base)),
    source,
    authorizer,
    base,
  );
  if (onSecureConnection) server.on('secureConnection', onSecureConnection);
  return server;
}

/**
 * `node:tls` client options presenting the source's current X509-SVID (its cached secure context).
 * Node's verification is off (`rejectUnauthorized: false`). `checkServerIdentity` runs the SPIFFE
 * check, but Node only calls it after its own chain verification succeeded, which it can't for SPIFFE
 * roots, so the check MUST also run on `'secureConnect'` — {@link connectMtls} does that. Build the
 * options per connection so rotation is picked up (cheap: the context is cached).
 *
 * @throws {TlsPeerError} `no-svid` when the source has no SVID.
 */
export function createMtlsClientOptions(
  source: MtlsSource,
  authorizer: Authorizer,
  base: tls.ConnectionOptions = {},
): tls.ConnectionOptions {
  return {
    ...base,
    secureContext: secureContextForSvid(currentSvid(source)),
    rejectUnauthorized: false,
    checkServerIdentity: (_host, cert) => {
      try {
        verifyPeerChain(chainOf(cert), source, authorizer, undefined);
        return undefined;
      } catch (err) {
        return err as Error;
      }
    },
  };
}

/**
 * Opens a SPIFFE mTLS connection (`tls.connect` with {@link createMtlsClientOptions} and `options`:
 * host/port or path, ALPN, …) and resolves once the server's X509-SVID verified against its trust
 * domain's bundle and `authorizer` accepted it. Otherwise the socket is destroyed and the promise
 * rejects: {@link TlsPeerError} for a refused server, the socket error for network/TLS failures.
 */
export function connectMtls(
  source: MtlsSource,
  authorizer: Authorizer,
  options: tls.ConnectionOptions,
): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect(createMtlsClientOptions(source, authorizer, options));
    const onError = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      try {
        verifyTlsPeer(socket, source, authorizer);
      } catch (err) {
        socket.destroy();
        reject(err as Error);
        return;
      }
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
