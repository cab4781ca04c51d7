/**
 * The proxy's stats store, with Envoy's stat names (`listener.0.0.0.0_15000.ssl.handshake`,
 * `cluster.<name>.upstream_rq_2xx`, …) and Envoy's admin text and Prometheus formats.
 *
 * Hot paths hold the {@link Counter} objects they bump, so counting is a field increment, never a
 * map lookup per request.
 */

/** A monotonically increasing counter (Envoy counter). */
export interface Counter {
  value: number;
}

/** A gauge (Envoy gauge): current value that goes up and down. */
export interface Gauge {
  value: number;
}

/** Name → counter/gauge registry. Names are Envoy's dotted stat names. */
export class Stats {
  readonly #counters = new Map<string, Counter>();
  readonly #gauges = new Map<string, Gauge>();

  /** The counter named `name`, created at 0 on first use. */
  counter(name: string): Counter {
    let c = this.#counters.get(name);
    if (!c) this.#counters.set(name, (c = { value: 0 }));
    return c;
  }

  /** The gauge named `name`, created at 0 on first use. */
  gauge(name: string): Gauge {
    let g = this.#gauges.get(name);
    if (!g) this.#gauges.set(name, (g = { value: 0 }));
    return g;
  }

  /** Current value of a counter or gauge, or undefined when it was never created. */
  get(name: string): number | undefined {
    return this.#counters.get(name)?.value ?? this.#gauges.get(name)?.value;
  }

  /** A scope that prefixes names (`scope('cluster.x.')`). */
  scope(prefix: string): StatsScope {
    return new StatsScope(this, prefix);
  }

  /** Envoy's `/stats` text format: `name: value` lines sorted by name. `filter` is a regex. */
  toText(filter?: RegExp): string {
    const lines: string[] = [];
    for (const [n, c] of [...this.#counters, ...this.#gauges])
      if (!filter || filter.test(n)) lines.push(`${n}: ${c.value}`);
    lines.sort();
    return lines.join('\n') + (lines.length ? '\n' : '');
  }

  /** Envoy's `/stats?format=json` shape: `{stats: [{name, value}]}`. */
  toJson(): { stats: { name: string; value: number }[] } {
    const stats = [...this.#counters, ...this.#gauges].map(([name, c]) => ({ name, value: c.value }));
    stats.sort((a, b) => (a.name < b.name ? -1 : 1));
    return { stats };
  }

  /**
   * Envoy's `/stats/prometheus`: names prefixed `envoy_`, dots → underscores, with Envoy's tag
   * extraction for the two tags runbooks use (`envoy_cluster_name`, `envoy_listener_address`).
   */
  toPrometheus(): string {
    const groups = new Map<string, { type: string; samples: string[] }>();
    const add = (name: string, value: number, type: string): void => {
      let metric = name;
      let labels = '';
      let m = /^cluster\.([^.]+)\.(.*)$/.exec(name);
      if (m) {
        metric = `cluster.${m[2]}`;
        labels = `envoy_cluster_name="${m[1]}"`;
      } else if ((m = /^listener\.(\d+\.\d+\.\d+\.\d+_\d+)\.(.*)$/.exec(name))) {
        metric = `listener.${m[2]}`;
        labels = `envoy_listener_address="${m[1]}"`;
      } else if ((m = /^http\.([^.]+)\.(.*)$/.exec(name))) {
        metric = `http.${m[2]}`;
        labels = `envoy_http_conn_manager_prefix="${m[1]}"`;
      }
      const prom = `envoy_${metric.replace(/[^a-zA-Z0-9_]/g, '_')}`;
      let g = groups.get(prom);
      if (!g) groups.set(prom, (g = { type, samples: [] }));
      g.samples.push(`${prom}${labels ? `{${labels}}` : ''} ${value}`);
    };
    for (const [n, c] of this.#counters) add(n, c.value, 'counter');
    for (const [n, g] of this.#gauges) add(n, g.value, 'gauge');
    const out: string[] = [];
    for (const [name, g] of [...groups].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      out.push(`# TYPE ${name} ${g.type}`, ...g.samples);
    }
    return out.join('\n') + '\n';
  }
}

/** A prefix view of {@link Stats}. */
export class StatsScope {
  constructor(
    readonly stats: Stats,
    readonly prefix: string,
  ) {}
  /** Counter `<prefix><name>`. */
  counter(name: string): Counter {
    return this.stats.counter(this.prefix + name);
  }
  /** Gauge `<prefix><name>`. */
  gauge(name: string): Gauge {
    return this.stats.gauge(this.prefix + name);
  }
}

/** Envoy's TLS stats of a listener or a cluster (`<scope>ssl.*`). */
export interface SslStats {
  handshake: Counter;
  sessionReused: Counter;
  noCertificate: Counter;
  failVerifyNoCert: Counter;
  failVerifySan: Counter;
  failVerifyError: Counter;
  connectionError: Counter;
}

/** Creates the `ssl.*` counters under `scope`. */
export function sslStats(scope: StatsScope): SslStats {
  return {
    handshake: scope.counter('ssl.handshake'),
    sessionReused: scope.counter('ssl.session_reused'),
    noCertificate: scope.counter('ssl.no_certificate'),
    failVerifyNoCert: scope.counter('ssl.fail_verify_no_cert'),
    failVerifySan: scope.counter('ssl.fail_verify_san'),
    failVerifyError: scope.counter('ssl.fail_verify_error'),
    connectionError: scope.counter('ssl.connection_error'),
  };
}
