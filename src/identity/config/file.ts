/**
 * Reading a daemon's config file (identity server and agent alike): `.yaml`/`.yml`/`.json` as YAML,
 * anything else as SPIRE-style HCL, so both daemons read the same dialects the same way.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { TrustmeshError } from '../../spiffe/index.js';
import { parseHcl } from './hcl.js';

/**
 * A config file that can't be read or doesn't parse. `reason` says which and why, starting with the
 * file name; `cause` holds the file system error, the {@link HclSyntaxError} or the YAML error.
 * Each daemon reports it as its own config error for the `-config` flag.
 */
export class ConfigFileError extends TrustmeshError {
  constructor(
    readonly file: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super('TM_ERR_CONFIG_FILE', `config: ${reason}`, options);
  }
}

/**
 * Reads and parses `file` (YAML by extension, else HCL). Returns the document as parsed (any JSON
 * value; the caller checks its shape).
 * @throws ConfigFileError
 */
export function readConfigDocument(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigFileError(file, `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return ['.yaml', '.yml', '.json'].includes(extname(file).toLowerCase())
      ? parseYaml(text)
      : parseHcl(text);
  } catch (err) {
    throw new ConfigFileError(file, `${file}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The keys of a config document that its reader does not read, dotted (`health_checks`,
 * `server.ratelimit`): top-level keys outside `topLevel`, and keys of the `section` block outside
 * `sectionKeys`. SPIRE refuses such keys ("Unknown configuration detected"); the daemons name them
 * in a warning, as some are SPIRE keys trustmesh does not implement.
 */
export function unreadKeys(
  doc: Record<string, unknown>,
  topLevel: ReadonlySet<string>,
  section: string,
  sectionKeys: ReadonlySet<string>,
): string[] {
  const block = doc[section];
  const inner =
    typeof block === 'object' && block !== null && !Array.isArray(block) ? Object.keys(block) : [];
  return [
    ...Object.keys(doc).filter((k) => !topLevel.has(k)),
    ...inner.filter((k) => !sectionKeys.has(k)).map((k) => `${section}.${k}`),
  ];
}
