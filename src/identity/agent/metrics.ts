/**
 * Agent metrics (prom-client, one registry per agent): SVIDs cached, rotations, workload attestation
 * latency, open Workload API / SDS streams. Served at `/metrics` when `telemetry.Prometheus` is set.
 */
import http from 'node:http';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The agent's metric set. */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly svidsCached: Gauge;
  readonly rotations: Counter;
  readonly attestationSeconds: Histogram;
  readonly streams: Gauge;

  /** `svidCount` is read at scrape time. */
  constructor(svidCount: () => number) {
    this.svidsCached = new Gauge({
      name: 'trustmesh_agent_svids_cached',
      help: 'X509-SVIDs held in the agent cache',
      registers: [this.registry],
      collect() {
        this.set(svidCount());
      },
    });
    this.rotations = new Counter({
      name: 'trustmesh_agent_svid_rotations_total',
      help: 'workload X509-SVIDs re-issued (rotation or entry change)',
      registers: [this.registry],
    });
    this.attestationSeconds = new Histogram({
      name: 'trustmesh_agent_workload_attestation_seconds',
      help: 'workload attestation latency',
      labelNames: ['result'],
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [this.registry],
    });
    this.streams = new Gauge({
      name: 'trustmesh_agent_streams',
      help: 'open Workload API and SDS streams',
      registers: [this.registry],
    });
  }

  /** Serves `GET /metrics` on host:port; resolves with the bound port. Close the returned server. */
  async listen(host: string, port: number): Promise<{ server: http.Server; port: number }> {
    const server = http.createServer((req, res) => {
      if (req.url !== '/metrics') {
        res.writeHead(404).end();
        return;
      }
      void this.registry.metrics().then((body) => {
        res.writeHead(200, { 'content-type': this.registry.contentType }).end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(port, host, resolve));
    const addr = server.address();
    return { server, port: typeof addr === 'object' && addr ? addr.port : port };
  }
}
