/**
 * Prometheus metrics (prom-client) on an optional HTTP port (`telemetry { Prometheus { host port } }`):
 * registration entries, attested agents, SVIDs signed, CA expiry, datastore call latency.
 */
import { createServer } from 'node:http';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { DataStore } from './datastore/types.js';
import type { IdentityService } from './service.js';

/** A running metrics listener. */
export interface Metrics {
  port: number;
  close(): Promise<void>;
}

/**
 * Wraps every DataStore method so its duration lands in the histogram
 * `trustmesh_server_datastore_call_seconds{method}`. Returns a DataStore with the same behaviour.
 */
export function instrumentDataStore(store: DataStore, registry: Registry): DataStore {
  const hist = new Histogram({
    name: 'trustmesh_server_datastore_call_seconds',
    help: 'Datastore call latency in seconds',
    labelNames: ['method'],
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
    registers: [registry],
  });
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || prop === 'transaction' || prop === 'close') {
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      }
      return (...args: unknown[]) => {
        const end = hist.startTimer({ method: String(prop) });
        try {
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        } finally {
          end();
        }
      };
    },
  });
}

/** Registers the server gauges and serves `GET /metrics` on `host:port` (0 = ephemeral). */
export async function startMetrics(o: {
  registry: Registry;
  service: IdentityService;
  host: string;
  port: number;
}): Promise<Metrics> {
  const { registry, service } = o;
  new Gauge({
    name: 'trustmesh_server_registration_entries',
    help: 'Registration entries stored',
    registers: [registry],
    collect() {
      this.set(service.index.size);
    },
  });
  new Gauge({
    name: 'trustmesh_server_attested_agents',
    help: 'Attested agents (banned included)',
    registers: [registry],
    collect() {
      this.set(service.store.listAgents().length);
    },
  });
  new Gauge({
    name: 'trustmesh_server_ca_expiry_seconds',
    help: 'Unix time (seconds) at which the active X509 CA expires',
    registers: [registry],
    collect() {
      this.set(service.ca.active().notAfter);
    },
  });
  const signed = new Counter({
    name: 'trustmesh_server_svids_signed_total',
    help: 'SVIDs signed, by kind',
    labelNames: ['kind'],
    registers: [registry],
  });
  let lastX509 = 0;
  let lastJwt = 0;
  const syncCounters = (): void => {
    signed.inc({ kind: 'x509' }, service.stats.x509SvidsSigned - lastX509);
    signed.inc({ kind: 'jwt' }, service.stats.jwtSvidsSigned - lastJwt);
    lastX509 = service.stats.x509SvidsSigned;
    lastJwt = service.stats.jwtSvidsSigned;
  };
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    syncCounters();
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : o.port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
