/**
 * What the peers' modules share: a running two-hop data plane (a "variant") and the hop designs the
 * scenarios compare. Every variant does client → A (plain) → B (mTLS, TLS 1.3, the bench's SVIDs)
 * → upstream nginx, with both proxies pinned to core 1.
 */
import type { BenchCerts } from './certs.js';

/**
 * The hop design of a scenario:
 * - `http`: HTTP/1.1 keep-alive on every hop (A keeps a pool of mTLS connections to B);
 * - `close`: no keep-alive on any hop: each client request is a new connection, and A opens a new
 *   mTLS connection to B for it (TLS session resumption as each proxy does by default);
 * - `h2`: HTTP/2 cleartext (prior knowledge) into A, HTTP/2 over mTLS (ALPN h2) from A to B where
 *   the proxy can originate it, HTTP/1.1 keep-alive from B to the upstream;
 * - `tcp`: L4 proxying of the same bytes: one A → B mTLS connection per client connection.
 */
export type HopDesign = 'http' | 'close' | 'h2' | 'tcp';

/** A running variant: where the client connects and which processes do the two hops. */
export interface Variant {
  name: string;
  /** A's plaintext port (or the upstream's, for the direct path) */
  port: number;
  /** the proxy processes (empty for the direct path) */
  pids: number[];
  /** proxy roles each process plays (2: one process serves both A and B) */
  hopsPerProcess: 1 | 2;
  /** what the variant checks of its peer, and any deviation from the scenario's hop design */
  conditions: Record<string, unknown>;
}

/** Everything a peer module needs to start a variant. */
export interface VariantContext {
  /** scratch directory of this run (configs, pid files, logs) */
  dir: string;
  /** repository root (cwd of the children) */
  root: string;
  certs: BenchCerts;
  /** the upstream's HTTP/1.1 port */
  upstreamPort: number;
}

/** What HAProxy and nginx verify: they cannot match a URI SAN without Lua/njs (performance.md §4). */
export const CHAIN_ONLY = {
  peer_check: 'chain + DNS SAN localhost only (no SPIFFE ID: needs Lua/njs)',
} as const;
