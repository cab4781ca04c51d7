/**
 * Envoy's admin endpoint (port 9901 by default, ENVOY_ADMIN_ACCESS_PORT), in Envoy's formats:
 * `/ready` (200 `LIVE`, 503 otherwise), `/server_info` (`state`), `/clusters`
 * (`<cluster>::<host:port>::health_flags::healthy`), `/certs`, `/stats` (`name: value`;
 * `?filter=<regex>`, `?format=json|prometheus`), `/stats/prometheus`, `/config_dump`, `/listeners`.
 */
import http from 'node:http';
import type net from 'node:net';

/** What the admin endpoint reads from the proxy. */
export interface AdminSource {
  state(): 'PRE_INITIALIZING' | 'INITIALIZING' | 'LIVE';
  serverInfo(): Record<string, unknown>;
  clustersText(): string;
  clustersJson(): unknown;
  certs(): unknown;
  statsText(filter?: RegExp): string;
  statsJson(): unknown;
  statsPrometheus(): string;
  configDump(): unknown;
  listenersText(): string;
  listenersJson(): unknown;
}

/** Starts the admin server; resolves with the server once bound. Close it with `server.close()`. */
export function startAdmin(source: AdminSource, address: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    const send = (status: number, body: string, type = 'text/plain; charset=UTF-8'): void => {
      res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    const json = (v: unknown): void => send(200, JSON.stringify(v, null, 2) + '\n', 'application/json');
    const wantsJson = url.searchParams.get('format') === 'json';
    try {
      switch (url.pathname) {
        case '/ready': {
          const st = source.state();
          send(st === 'LIVE' ? 200 : 503, `${st}\n`);
          return;
        }
        case '/server_info':
          json(source.serverInfo());
          return;
        case '/clusters':
          if (wantsJson) json(source.clustersJson());
          else send(200, source.clustersText());
          return;
        case '/certs':
          json(source.certs());
          return;
        case '/stats': {
          if (url.searchParams.get('format') === 'prometheus') {
            send(200, source.statsPrometheus(), 'text/plain; version=0.0.4');
            return;
          }
          if (wantsJson) {
            json(source.statsJson());
            return;
          }
          const f = url.searchParams.get('filter');
          let re: RegExp | undefined;
          try {
            re = f ? new RegExp(f) : undefined;
          } catch {
            send(400, `Invalid regex: ${f}\n`);
            return;
          }
          send(200, source.statsText(re));
          return;
        }
        case '/stats/prometheus':
          send(200, source.statsPrometheus(), 'text/plain; version=0.0.4');
          return;
        case '/config_dump':
          json(source.configDump());
          return;
        case '/listeners':
          if (wantsJson) json(source.listenersJson());
          else send(200, source.listenersText());
          return;
        case '/':
          send(
            200,
            [
              '/ready',
              '/server_info',
              '/clusters',
              '/certs',
              '/stats',
              '/stats/prometheus',
              '/config_dump',
              '/listeners',
            ].join('\n') + '\n',
          );
          return;
        default:
          send(
            404,
            'invalid path. admin commands are: /ready /server_info /clusters /certs /stats /stats/prometheus /config_dump /listeners\n',
          );
      }
    } catch (err) {
      send(500, `${err instanceof Error ? err.message : String(err)}\n`);
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: address, port }, () => {
      server.removeListener('error', reject);
      resolve(server);
    });
  });
}

/** The bound port of a server. */
export function boundPort(server: net.Server): number {
  const a = server.address();
  return a && typeof a === 'object' ? a.port : 0;
}
