/**
 * A small parser for the HCL subset SPIRE's `server.conf` and `agent.conf` use, so such files load
 * unchanged:
 *
 * ```hcl
 * server { trust_domain = "example.org"  ca_ttl = "24h" }         # blocks, attributes, comments
 * plugins { NodeAttestor "join_token" { plugin_data {} } }        # labelled blocks
 * clusters = { "c" = { service_account_allow_list = ["ns:sa"] } }  # object and list values
 * ```
 *
 * Result: a block `name { … }` becomes `{ name: {…} }`; a labelled block `Kind "label" { … }` becomes
 * `{ Kind: { label: {…} } }` (repeated kinds merge). Values: strings (with `\"`, `\\`, `\n`, `\t`
 * escapes), numbers, `true`/`false`, lists, objects. Not supported (rejected with a
 * {@link HclSyntaxError}): heredocs, interpolation `${…}`, expressions and functions.
 * No maintained HCL parser exists on npm for HCL1's syntax, hence this subset.
 */

import { TrustmeshError } from '../../spiffe/index.js';

/** The input isn't in the supported HCL subset; `line`/`column` are 1-based. */
export class HclSyntaxError extends TrustmeshError {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super('TM_ERR_CONFIG_HCL_SYNTAX', `hcl: line ${line}, column ${column}: ${message}`);
  }
}

type Token =
  | { kind: 'ident' | 'string'; value: string; line: number; column: number }
  | { kind: 'number'; value: number; line: number; column: number }
  | { kind: 'punct'; value: '{' | '}' | '[' | ']' | '=' | ',' | ':'; line: number; column: number }
  | { kind: 'eof'; line: number; column: number };

/** A parsed HCL value. */
export type HclValue = string | number | boolean | HclValue[] | HclObject;
/** A parsed HCL body or object value. */
export interface HclObject {
  [key: string]: HclValue;
}

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const col = (): number => i - lineStart + 1;
  while (i < src.length) {
    const c = src[i]!;
    if (c === '\n') {
      i++;
      line++;
      lineStart = i;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '#' || (c === '/' && src[i + 1] === '/')) {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw new HclSyntaxError('unterminated /* comment', line, col());
      for (let j = i; j < end; j++) {
        if (src[j] === '\n') {
          line++;
          lineStart = j + 1;
        }
      }
      i = end + 2;
    } else if ('{}[]=,:'.includes(c)) {
      tokens.push({ kind: 'punct', value: c as '{', line, column: col() });
      i++;
    } else if (c === '"') {
      const startCol = col();
      let out = '';
      i++;
      for (;;) {
        const d = src[i];
        if (d === undefined || d === '\n') throw new HclSyntaxError('unterminated string', line, startCol);
        if (d === '"') break;
        if (d === '$' && src[i + 1] === '{')
          throw new HclSyntaxError('interpolation is not supported', line, col());
        if (d === '\\') {
          const e = src[i + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '"': '"', '\\': '\\' };
          if (e === undefined || !(e in map))
            throw new HclSyntaxError(`bad escape \\${e ?? ''}`, line, col());
          out += map[e];
          i += 2;
        } else {
          out += d;
          i++;
        }
      }
      i++;
      tokens.push({ kind: 'string', value: out, line, column: startCol });
    } else if (/[0-9-]/.test(c)) {
      const m = /^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(src.slice(i));
      if (!m) throw new HclSyntaxError(`unexpected ${JSON.stringify(c)}`, line, col());
      tokens.push({ kind: 'number', value: Number(m[0]), line, column: col() });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.-]*/.exec(src.slice(i))!;
      tokens.push({ kind: 'ident', value: m[0], line, column: col() });
      i += m[0].length;
    } else if (c === '<' && src[i + 1] === '<') {
      throw new HclSyntaxError('heredocs are not supported', line, col());
    } else {
      throw new HclSyntaxError(`unexpected ${JSON.stringify(c)}`, line, col());
    }
  }
  tokens.push({ kind: 'eof', line, column: col() });
  return tokens;
}

/**
 * Parses HCL text into a plain object (see the module doc for the mapping).
 * Throws {@link HclSyntaxError} naming line and column.
 */
export function parseHcl(src: string): HclObject {
  const tokens = tokenize(src);
  let pos = 0;
  const peek = (): Token => tokens[pos]!;
  const next = (): Token => tokens[pos++]!;
  const fail = (t: Token, msg: string): never => {
    throw new HclSyntaxError(msg, t.line, t.column);
  };
  const describe = (t: Token): string => (t.kind === 'eof' ? 'end of input' : JSON.stringify(t.value));
  const isPunct = (t: Token, v: string): boolean => t.kind === 'punct' && t.value === v;

  function setKey(obj: HclObject, key: string, value: HclValue, t: Token): void {
    if (key in obj) fail(t, `duplicate key ${JSON.stringify(key)}`);
    obj[key] = value;
  }

  function parseValue(): HclValue {
    const t = next();
    if (t.kind === 'string' || t.kind === 'number') return t.value;
    if (t.kind === 'ident' && (t.value === 'true' || t.value === 'false')) return t.value === 'true';
    if (isPunct(t, '[')) {
      const list: HclValue[] = [];
      while (!isPunct(peek(), ']')) {
        list.push(parseValue());
        if (isPunct(peek(), ',')) next();
        else if (!isPunct(peek(), ']')) fail(peek(), `expected "," or "]", found ${describe(peek())}`);
      }
      next();
      return list;
    }
    if (isPunct(t, '{')) return parseBody('}');
    return fail(t, `expected a value, found ${describe(t)}`);
  }

  function parseBody(close: '}' | 'eof'): HclObject {
    const obj: HclObject = {};
    for (;;) {
      const t = next();
      if (close === 'eof' ? t.kind === 'eof' : isPunct(t, '}')) return obj;
      if (isPunct(t, ',')) continue;
      if (t.kind !== 'ident' && t.kind !== 'string') return fail(t, `expected a key, found ${describe(t)}`);
      const key = t.value;
      if (isPunct(peek(), '=') || isPunct(peek(), ':')) {
        next();
        setKey(obj, key, parseValue(), t);
        continue;
      }
      const labels: string[] = [];
      for (let l = peek(); l.kind === 'string' || l.kind === 'ident'; l = peek()) {
        labels.push(l.value);
        next();
      }
      const open = next();
      if (!isPunct(open, '{'))
        fail(open, `expected "=" or "{" after ${JSON.stringify(key)}, found ${describe(open)}`);
      const body = parseBody('}');
      if (labels.length === 0) {
        const existing = obj[key];
        if (existing !== undefined && (typeof existing !== 'object' || Array.isArray(existing))) {
          fail(t, `duplicate key ${JSON.stringify(key)}`);
        }
        obj[key] = { ...((existing as HclObject | undefined) ?? {}), ...body };
        continue;
      }
      let target = obj;
      for (const k of [key, ...labels.slice(0, -1)]) {
        const cur = target[k];
        if (cur === undefined) target[k] = {};
        else if (typeof cur !== 'object' || Array.isArray(cur)) fail(t, `duplicate key ${JSON.stringify(k)}`);
        target = target[k] as HclObject;
      }
      setKey(target, labels[labels.length - 1]!, body, t);
    }
  }

  return parseBody('eof');
}
