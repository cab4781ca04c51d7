/**
 * HTTP client of a pod-info source (the local runtime's pod view). Protocol:
 * `GET <base>/pods/by-pid/<pid>` → 200 with JSON
 * `{ namespace, serviceAccount, podName, podUid, nodeName, labels: {k: v}, containerName }`,
 * or 404 when the pid (and its ancestors) is in no pod. `<base>` is `http://host:port[/prefix]` or
 * `unix:///abs/path.sock` (HTTP/1.1 over a unix socket).
 */
import { Agent, request, type Dispatcher } from 'undici';
import { PodInfoError } from '../errors.js';
import type { PodInfo, PodInfoSource } from './types.js';

/** Options of {@link HttpPodInfoSource}. */
export interface HttpPodInfoSourceOptions {
  /** `http://127.0.0.1:PORT` or `unix:///path/to.sock` (agent config key `pod_info_url`) */
  url: string;
  /** per-request timeout (ms; default 2000) */
  timeoutMs?: number;
}

/** See the module docstring. Call {@link HttpPodInfoSource.close} to release connections. */
export class HttpPodInfoSource implements PodInfoSource {
  readonly #origin: string;
  readonly #prefix: string;
  readonly #dispatcher: Dispatcher;
  readonly #timeoutMs: number;

  constructor(options: HttpPodInfoSourceOptions) {
    this.#timeoutMs = options.timeoutMs ?? 2000;
    const url = new URL(options.url);
    if (url.protocol === 'unix:') {
      if (url.host !== '')
        throw new Error(`pod_info_url ${options.url}: unix URLs need an absolute path (unix:///…)`);
      this.#dispatcher = new Agent({ connect: { socketPath: url.pathname } });
      this.#origin = 'http://localhost';
      this.#prefix = '';
    } else if (url.protocol === 'http:') {
      this.#dispatcher = new Agent();
      this.#origin = url.origin;
      this.#prefix = url.pathname.replace(/\/$/, '');
    } else {
      throw new Error(`pod_info_url ${options.url}: expected http:// or unix://`);
    }
  }

  async podForPid(pid: number): Promise<PodInfo | undefined> {
    let res;
    try {
      res = await request(`${this.#origin}${this.#prefix}/pods/by-pid/${pid}`, {
        dispatcher: this.#dispatcher,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
    } catch (err) {
      throw new PodInfoError(pid, 'request failed', { cause: err });
    }
    if (res.statusCode === 404) {
      await res.body.dump();
      return undefined;
    }
    if (res.statusCode !== 200) {
      await res.body.dump();
      throw new PodInfoError(pid, `expected 200 or 404, got ${res.statusCode}`);
    }
    return parsePodInfo(pid, await res.body.json());
  }

  /** Closes pooled connections. */
  async close(): Promise<void> {
    await this.#dispatcher.close();
  }
}

/** Validates the JSON shape of a pod-info answer. Throws {@link PodInfoError} naming the bad field. */
export function parsePodInfo(pid: number, body: unknown): PodInfo {
  if (typeof body !== 'object' || body === null)
    throw new PodInfoError(pid, 'the answer is not a JSON object');
  const o = body as Record<string, unknown>;
  const str = (k: string): string => {
    const v = o[k];
    if (typeof v !== 'string') throw new PodInfoError(pid, `field ${k}: expected a string`);
    return v;
  };
  const labels = o['labels'] ?? {};
  if (
    typeof labels !== 'object' ||
    labels === null ||
    Object.values(labels).some((v) => typeof v !== 'string')
  ) {
    throw new PodInfoError(pid, 'field labels: expected an object of strings');
  }
  return {
    namespace: str('namespace'),
    serviceAccount: str('serviceAccount'),
    podName: str('podName'),
    podUid: str('podUid'),
    nodeName: str('nodeName'),
    containerName: str('containerName'),
    labels: labels as Record<string, string>,
  };
}
