import { isIP } from 'node:net';
import { WorkloadEndpointError } from './errors.js';

/** Environment variable naming the Workload API endpoint (SPIFFE Workload Endpoint §4). */
export const SPIFFE_ENDPOINT_SOCKET = 'SPIFFE_ENDPOINT_SOCKET';

/**
 * A parsed Workload API endpoint: a unix domain socket (absolute filesystem path, percent-decoded) or
 * a TCP address whose host is an IP literal (IPv6 without brackets). `uri` is the input as given.
 */
export type WorkloadEndpoint =
  | { readonly network: 'unix'; readonly path: string; readonly uri: string }
  | { readonly network: 'tcp'; readonly host: string; readonly port: number; readonly uri: string };

// RFC 3986 Appendix B, with the scheme required: scheme, authority (when "//" is present), path,
// query (when "?" is present), fragment (when "#" is present).
const uriPattern = /^([A-Za-z][A-Za-z0-9+.-]*):(?:\/\/([^/?#]*))?([^?#]*)(\?[^#]*)?(#.*)?$/s;

/**
 * Parses a Workload API endpoint address (SPIFFE Workload Endpoint §4, reference spiffe.md §e.4):
 *
 * - `unix:///abs/path.sock` or `unix:/abs/path.sock` (RFC 3986 equivalents): no authority (so
 *   `unix://tmp/agent.sock`, whose host would be `tmp`, is rejected), absolute path;
 * - `tcp://<IP literal>:<port>` (`tcp://127.0.0.1:8000`, `tcp://[::1]:8000`): no DNS names, port
 *   1–65535 mandatory, no path;
 * - never userinfo, query or fragment.
 *
 * @throws {WorkloadEndpointError} whose `rule` names the broken rule.
 */
export function parseWorkloadEndpoint(address: string): WorkloadEndpoint {
  const m = uriPattern.exec(address);
  if (!m) {
    throw new WorkloadEndpointError(
      'not-a-uri',
      address,
      'must be a URI with a scheme, e.g. unix:///path or tcp://ip:port',
    );
  }
  const [, rawScheme = '', authority, path = '', query, fragment] = m;
  if (query !== undefined) throw new WorkloadEndpointError('query', address, 'must not have a query');
  if (fragment !== undefined)
    throw new WorkloadEndpointError('fragment', address, 'must not have a fragment');
  if (authority?.includes('@')) {
    throw new WorkloadEndpointError('userinfo', address, 'must not have user info');
  }
  const scheme = rawScheme.toLowerCase();
  if (scheme === 'unix') return parseUnix(address, authority, path);
  if (scheme === 'tcp') return parseTcp(address, authority, path);
  throw new WorkloadEndpointError('unsupported-scheme', address, 'scheme must be "unix" or "tcp"');
}

function parseUnix(address: string, authority: string | undefined, rawPath: string): WorkloadEndpoint {
  if (authority) {
    throw new WorkloadEndpointError(
      'unix-authority',
      address,
      `unix URI must not have an authority (host ${JSON.stringify(authority)}); use unix:///absolute/path`,
    );
  }
  if (!rawPath.startsWith('/')) {
    throw new WorkloadEndpointError('unix-path-not-absolute', address, 'unix socket path must be absolute');
  }
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch (cause) {
    throw new WorkloadEndpointError(
      'unix-path-invalid',
      address,
      `bad percent-encoding in the path (${String(cause)})`,
    );
  }
  if (path.includes('\0')) {
    throw new WorkloadEndpointError('unix-path-invalid', address, 'unix socket path must not contain NUL');
  }
  return { network: 'unix', path, uri: address };
}

function parseTcp(address: string, authority: string | undefined, path: string): WorkloadEndpoint {
  if (authority === undefined || authority === '') {
    throw new WorkloadEndpointError('tcp-host-not-ip', address, 'tcp URI must be tcp://<IP>:<port>');
  }
  if (path !== '') throw new WorkloadEndpointError('tcp-path', address, 'tcp URI must not have a path');
  let host: string;
  let portText: string | undefined;
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']');
    host = close < 0 ? authority : authority.slice(1, close);
    const rest = close < 0 ? '' : authority.slice(close + 1);
    if (close < 0 || isIP(host) !== 6 || (rest !== '' && !rest.startsWith(':'))) {
      throw new WorkloadEndpointError('tcp-host-not-ip', address, 'tcp host must be an IP address literal');
    }
    portText = rest === '' ? undefined : rest.slice(1);
  } else {
    const colon = authority.lastIndexOf(':');
    host = colon < 0 ? authority : authority.slice(0, colon);
    portText = colon < 0 ? undefined : authority.slice(colon + 1);
    if (isIP(host) !== 4) {
      throw new WorkloadEndpointError(
        'tcp-host-not-ip',
        address,
        `tcp host ${JSON.stringify(host)} must be an IP address literal, not a DNS name`,
      );
    }
  }
  if (portText === undefined || portText === '') {
    throw new WorkloadEndpointError('tcp-port-missing', address, 'tcp URI must include a port');
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new WorkloadEndpointError(
      'tcp-port-invalid',
      address,
      `port ${JSON.stringify(portText)} must be 1-65535`,
    );
  }
  return { network: 'tcp', host, port, uri: address };
}

/**
 * The endpoint to use: `address` when given, else the `SPIFFE_ENDPOINT_SOCKET` variable of `env`
 * (default `process.env`), parsed by {@link parseWorkloadEndpoint}.
 *
 * @throws {WorkloadEndpointError} `not-configured` when neither is set, or the parse rule broken.
 */
export function resolveWorkloadEndpoint(
  address?: string,
  env: NodeJS.ProcessEnv = process.env,
): WorkloadEndpoint {
  const value = address ?? env[SPIFFE_ENDPOINT_SOCKET];
  if (value === undefined || value === '') {
    throw new WorkloadEndpointError(
      'not-configured',
      '',
      `no address given and ${SPIFFE_ENDPOINT_SOCKET} is not set`,
    );
  }
  return parseWorkloadEndpoint(value);
}

/** The `@grpc/grpc-js` target string for an endpoint (`unix:///path`, `ipv4:1.2.3.4:80`, `ipv6:[::1]:80`). */
export function grpcTarget(endpoint: WorkloadEndpoint): string {
  if (endpoint.network === 'unix') return `unix://${endpoint.path}`;
  return isIP(endpoint.host) === 6
    ? `ipv6:[${endpoint.host}]:${endpoint.port}`
    : `ipv4:${endpoint.host}:${endpoint.port}`;
}
