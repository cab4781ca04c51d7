/**
 * Route selection with Envoy's semantics (config/route/v3 RouteConfiguration):
 * virtual host by the Host/:authority header (exact, then longest `*.suffix`, then longest
 * `prefix.*`, then `*`), then the first route whose RouteMatch holds (path specifier on the path
 * without the query string, every header matcher, every query parameter matcher).
 */
import type {
  HeaderMatcherConfig,
  RouteConfigEntry,
  RouteConfiguration,
  VirtualHostConfig,
} from './config.js';
import { matchString } from './verify.js';

/** Request attributes a route matches on. Header names are lowercase. */
export interface RouteRequest {
  method: string;
  /** Path including the query string, as sent (`:path`). */
  path: string;
  authority: string;
  scheme: string;
  headers: Record<string, string | string[] | undefined>;
  /** Content-Type starts with `application/grpc` (computed from `headers` when absent). */
  grpc?: boolean;
}

/** Content-Type value of a gRPC request (gRPC over HTTP/2 spec: `application/grpc[+proto|;…]`). */
export function isGrpc(contentType: string | string[] | undefined): boolean {
  return typeof contentType === 'string' && contentType.startsWith('application/grpc');
}

/** A compiled RouteConfiguration. */
export class RouteTable {
  readonly config: RouteConfiguration;
  readonly #exact = new Map<string, VirtualHostConfig>();
  readonly #suffix: [string, VirtualHostConfig][] = [];
  readonly #prefix: [string, VirtualHostConfig][] = [];
  #any: VirtualHostConfig | undefined;
  readonly #cache = new Map<string, VirtualHostConfig | null>();
  /**
   * The one cluster every request goes to when the table has no per-request feature: a single
   * `*` virtual host with a single `prefix: /` route to one cluster, no header/query/gRPC match,
   * no retry policy, no rewrite, no explicit timeout. Listeners may then proxy HTTP/1.1 at L4.
   */
  readonly fastPathCluster: string | undefined;

  constructor(config: RouteConfiguration) {
    this.config = config;
    for (const vh of config.virtualHosts) {
      for (const d of vh.domains.map((x) => x.toLowerCase())) {
        if (d === '*') this.#any ??= vh;
        else if (d.startsWith('*')) this.#suffix.push([d.slice(1), vh]);
        else if (d.endsWith('*')) this.#prefix.push([d.slice(0, -1), vh]);
        else if (!this.#exact.has(d)) this.#exact.set(d, vh);
      }
    }
    this.#suffix.sort((a, b) => b[0].length - a[0].length);
    this.#prefix.sort((a, b) => b[0].length - a[0].length);
    this.fastPathCluster = trivialCluster(config);
  }

  /** The virtual host for a Host header value (port kept, then stripped, as Envoy's domains may list both). */
  virtualHost(authority: string): VirtualHostConfig | undefined {
    const cached = this.#cache.get(authority);
    if (cached !== undefined) return cached ?? undefined;
    const host = authority.toLowerCase();
    const colon = host.lastIndexOf(':');
    const bare = colon > 0 && !host.endsWith(']') ? host.slice(0, colon) : host;
    const vh = this.#lookup(host) ?? (bare !== host ? this.#lookup(bare) : undefined) ?? this.#any;
    if (this.#cache.size > 1024) this.#cache.clear();
    this.#cache.set(authority, vh ?? null);
    return vh;
  }

  #lookup(host: string): VirtualHostConfig | undefined {
    const e = this.#exact.get(host);
    if (e) return e;
    for (const [s, vh] of this.#suffix) if (host.endsWith(s) && host.length > s.length) return vh;
    for (const [p, vh] of this.#prefix) if (host.startsWith(p) && host.length > p.length) return vh;
    return undefined;
  }

  /** The first matching route of the request's virtual host, or undefined (Envoy `NR`). */
  route(req: RouteRequest): { vh: VirtualHostConfig; route: RouteConfigEntry } | undefined {
    const vh = this.virtualHost(req.authority);
    if (!vh) return undefined;
    const q = req.path.indexOf('?');
    const path = q < 0 ? req.path : req.path.slice(0, q);
    let query: URLSearchParams | undefined;
    for (const route of vh.routes) {
      const m = route.match;
      const pm = m.path;
      if (pm.kind === 'regex') {
        if (!pm.regex.test(path)) continue;
      } else {
        const p = pm.ignoreCase ? path.toLowerCase() : path;
        if (pm.kind === 'prefix' ? !p.startsWith(pm.value) : p !== pm.value) continue;
      }
      if (m.grpc && !(req.grpc ?? isGrpc(req.headers['content-type']))) continue;
      if (!headersMatch(m.headers, req)) continue;
      if (m.queryParameters.length) {
        query ??= new URLSearchParams(q < 0 ? '' : req.path.slice(q + 1));
        const ok = m.queryParameters.every((qp) => {
          const v = query!.get(qp.name);
          if (v === null) return false;
          return qp.matcher ? matchString(qp.matcher, v) : true;
        });
        if (!ok) continue;
      }
      return { vh, route };
    }
    return undefined;
  }
}

/** Every matcher holds (a loop, not `every`: no closure per route and request). */
function headersMatch(matchers: HeaderMatcherConfig[], req: RouteRequest): boolean {
  for (let i = 0; i < matchers.length; i++) if (!headerMatches(matchers[i]!, req)) return false;
  return true;
}

function trivialCluster(config: RouteConfiguration): string | undefined {
  if (config.virtualHosts.length !== 1) return undefined;
  const vh = config.virtualHosts[0]!;
  if (!vh.domains.includes('*') || vh.routes.length !== 1 || vh.retry) return undefined;
  const r = vh.routes[0]!;
  const m = r.match;
  if (
    m.path.kind !== 'prefix' ||
    m.path.value !== '/' ||
    m.headers.length ||
    m.queryParameters.length ||
    m.grpc
  )
    return undefined;
  const a = r.action;
  if (
    a.kind !== 'route' ||
    a.clusters.length !== 1 ||
    a.retry ||
    a.prefixRewrite !== undefined ||
    a.regexRewrite !== undefined ||
    a.hostRewrite !== undefined ||
    a.timeoutExplicit
  )
    return undefined;
  return a.clusters[0]!.name;
}

function headerValue(name: string, req: RouteRequest): string | undefined {
  switch (name) {
    case ':method':
      return req.method;
    case ':path':
      return req.path;
    case ':authority':
    case 'host':
      return req.authority;
    case ':scheme':
      return req.scheme;
  }
  const v = req.headers[name];
  // Envoy matches repeated headers against their comma-joined value.
  return Array.isArray(v) ? v.join(',') : v;
}

/** Envoy HeaderMatcher semantics, `invert_match` included (an absent header inverts to a match
 * except for present_match, which states presence itself). */
export function headerMatches(h: HeaderMatcherConfig, req: RouteRequest): boolean {
  const v = headerValue(h.name, req);
  let result: boolean;
  const t = h.test;
  if (t.kind === 'present') result = (v !== undefined) === t.present;
  else if (v === undefined) result = false;
  else if (t.kind === 'range') {
    result = /^-?\d+$/.test(v) && BigInt(v) >= t.start && BigInt(v) < t.end;
  } else result = matchString(t.matcher, v);
  return h.invert ? !result : result;
}

/** Picks a cluster of a weighted list with probability weight/total (`random` in [0,1)). */
export function pickWeighted<T extends { weight: number }>(
  items: T[],
  total: number,
  random: () => number = Math.random,
): T {
  if (items.length === 1) return items[0]!;
  let r = random() * total;
  for (const it of items) {
    r -= it.weight;
    if (r < 0) return it;
  }
  return items[items.length - 1]!;
}
