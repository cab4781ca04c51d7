import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  SpiffeError,
  SpiffeId,
  SpiffeIdError,
  TrustDomain,
  assertGeneratableSpiffeId,
  maxSpiffeIdLength,
  type SpiffeIdRule,
} from '../../src/spiffe/index.js';

type Row = [n: number, input: string, verdict: 'valid' | SpiffeIdRule];

// Reference §a.2, every row. Rows 45–47 are valid strings for go-spiffe but yield certificates Go can't parse
// (or break the spec's 255-byte limit); trustmesh rejects them with the certificate-safety rules.
const table: Row[] = [
  [1, 'spiffe://example.org', 'valid'],
  [2, 'spiffe://example.org/ns/default/sa/web', 'valid'],
  [3, 'spiffe://example.org/UPPER/Case', 'valid'],
  [4, 'spiffe://example.org/a.b/c-d/e_f', 'valid'],
  [5, 'spiffe://example.org/.hidden', 'valid'],
  [6, 'spiffe://example.org/...', 'valid'],
  [7, 'spiffe://example.org/9eebccd2-12bf-40a6-b262-65fe0487d453', 'valid'],
  [8, 'spiffe://192.168.1.1/x', 'valid'],
  [9, 'spiffe://my_td/x', 'valid'],
  [10, 'spiffe://td-1.example_2/x', 'valid'],
  [11, 'spiffe://example.org/spire/agent/join_token/abc', 'valid'],
  [12, 'spiffe://example.org/', 'trailing-slash'],
  [13, 'spiffe://example.org/a/', 'trailing-slash'],
  [14, 'spiffe://example.org//', 'empty-segment'],
  [15, 'spiffe://example.org/a//b', 'empty-segment'],
  [16, 'spiffe://example.org/./a', 'dot-segment'],
  [17, 'spiffe://example.org/a/..', 'dot-segment'],
  [18, 'spiffe://Example.org/x', 'td-char'],
  [19, 'SPIFFE://example.org/x', 'wrong-scheme'],
  [20, 'Spiffe://example.org/x', 'wrong-scheme'],
  [21, 'spiffe:/example.org/x', 'wrong-scheme'],
  [22, 'spiffe:example.org/x', 'wrong-scheme'],
  [23, 'https://example.org/x', 'wrong-scheme'],
  [24, 'spiffe://', 'td-missing'],
  [25, 'spiffe:///x', 'td-missing'],
  [26, '', 'empty'],
  [27, 'spiffe://example.org:8080/x', 'td-char'],
  [28, 'spiffe://user@example.org/x', 'td-char'],
  [29, 'spiffe://[::1]/x', 'td-char'],
  [30, 'spiffe://example.org/x?q=1', 'path-char'],
  [31, 'spiffe://example.org/x#frag', 'path-char'],
  [32, 'spiffe://example.org/x%20y', 'path-char'],
  [33, 'spiffe://ex%61mple.org/x', 'td-char'],
  [34, 'spiffe://example.org/a b', 'path-char'],
  [35, 'spiffe://example.org/a:b', 'path-char'],
  [36, 'spiffe://example.org/a@b', 'path-char'],
  [37, 'spiffe://example.org/a~b', 'path-char'],
  [38, 'spiffe://example.org/a+b', 'path-char'],
  [39, 'spiffe://example.org/*', 'path-char'],
  [40, 'spiffe://example.org/ümlaut', 'path-char'],
  [41, ' spiffe://example.org/x', 'wrong-scheme'],
  [42, 'spiffe://example.org/x ', 'path-char'],
  [43, 'spiffe://exa mple.org/x', 'td-char'],
  [44, 'spiffe://example.org\\x', 'td-char'],
  [45, 'spiffe://example.org./x', 'td-trailing-dot'],
  [46, 'spiffe://a..b/x', 'td-empty-label'],
  [47, `spiffe://${'a'.repeat(256)}/x`, 'td-too-long'],
];

describe('SpiffeId.parse: reference §a.2', () => {
  for (const [n, input, verdict] of table) {
    it(`row ${n}: ${JSON.stringify(input.length > 60 ? `${input.slice(0, 40)}…` : input)} → ${verdict}`, () => {
      if (verdict === 'valid') {
        const id = SpiffeId.parse(input);
        assert.equal(id.toString(), input);
        assert.ok(id.equals(SpiffeId.parse(input)));
        return;
      }
      assert.throws(
        () => SpiffeId.parse(input),
        (err: unknown) => {
          assert.ok(err instanceof SpiffeIdError);
          assert.ok(err instanceof SpiffeError);
          assert.equal(err.rule, verdict);
          assert.equal(err.code, `TM_ERR_SPIFFEID_${verdict.toUpperCase().replace(/-/g, '_')}`);
          assert.equal(err.input, input);
          return true;
        },
      );
    });
  }
});

describe('certificate-safety rules', () => {
  it('accepts a 63-byte label and a 255-byte trust domain', () => {
    const label = 'a'.repeat(63);
    const td = [label, label, label, 'b'.repeat(63)].join('.');
    assert.equal(td.length, 255);
    assert.equal(TrustDomain.parse(td).name, td);
  });
  it('rejects a 64-byte label', () => {
    assert.throws(() => SpiffeId.parse(`spiffe://${'a'.repeat(64)}.org/x`), { rule: 'td-label-too-long' });
  });
  it('rejects a leading dot', () => {
    assert.throws(() => TrustDomain.parse('.example.org'), { rule: 'td-empty-label' });
  });
});

describe('message names the input and the rule', () => {
  it('matches the issue text', () => {
    assert.throws(() => SpiffeId.parse('spiffe://Example.org/x'), {
      name: 'SpiffeIdError',
      message:
        '"spiffe://Example.org/x": trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores',
    });
  });
});

describe('character sets, every byte value', () => {
  const tdChars = /[a-z0-9._-]/;
  const pathChars = /[a-zA-Z0-9._-]/;
  for (let b = 0; b < 256; b++) {
    const c = String.fromCharCode(b);
    if (c === '/') continue;
    it(`byte 0x${b.toString(16).padStart(2, '0')}`, () => {
      const inTd = () => SpiffeId.parse(`spiffe://a${c}b/x`);
      const inPath = () => SpiffeId.parse(`spiffe://td/a${c}b`);
      if (tdChars.test(c) && c !== '.') assert.doesNotThrow(inTd);
      else if (c !== '.') assert.throws(inTd, { rule: 'td-char' });
      if (pathChars.test(c)) assert.doesNotThrow(inPath);
      else assert.throws(inPath, { rule: 'path-char' });
    });
  }
});

describe('TrustDomain', () => {
  it('parses a bare name and full IDs (bundle-map keys)', () => {
    for (const s of ['example.org', 'spiffe://example.org', 'spiffe://example.org/anything']) {
      const td = TrustDomain.parse(s);
      assert.equal(td.name, 'example.org');
      assert.equal(td.idString(), 'spiffe://example.org');
      assert.equal(td.toString(), 'example.org');
      assert.ok(td.equals(TrustDomain.parse('example.org')));
      assert.ok(td.id().isTrustDomainId());
    }
  });
  for (const [s, rule] of [
    ['spiffe:/example.org', 'wrong-scheme'],
    ['Example.org', 'td-char'],
    ['spiffe://example.org/', 'trailing-slash'],
    ['', 'td-missing'],
  ] as const) {
    it(`rejects ${JSON.stringify(s)} (${rule})`, () => {
      assert.throws(() => TrustDomain.parse(s), { rule });
    });
  }
});

describe('SpiffeId builders', () => {
  const td = TrustDomain.parse('example.org');
  it('fromPath and fromSegments share the validator', () => {
    assert.equal(SpiffeId.fromPath(td, '/ns/web').toString(), 'spiffe://example.org/ns/web');
    assert.equal(SpiffeId.fromSegments(td, 'ns', 'web').toString(), 'spiffe://example.org/ns/web');
    assert.throws(() => SpiffeId.fromPath(td, 'ns'), { rule: 'path-not-absolute' });
    assert.throws(() => SpiffeId.fromSegments(td, '..'), { rule: 'dot-segment' });
    assert.throws(() => SpiffeId.fromSegments(td, 'a/b'), { rule: 'path-char' });
  });
  it('memberOf, equals, case-sensitive paths', () => {
    const id = SpiffeId.parse('spiffe://example.org/A');
    assert.ok(id.memberOf(td));
    assert.ok(!id.memberOf(TrustDomain.parse('other.org')));
    assert.ok(!id.equals(SpiffeId.parse('spiffe://example.org/a')));
    assert.equal(JSON.stringify({ id }), '{"id":"spiffe://example.org/A"}');
  });
});

// SPIFFE-ID §2 (reference §a.1 "Total length"): implementations MUST accept IDs of at least 2048
// bytes and SHOULD NOT generate longer ones; go-spiffe parses any length.
describe('SPIFFE ID length', () => {
  const td = TrustDomain.parse('example.org');
  /** An ID of exactly `bytes` bytes in example.org. */
  const idOf = (bytes: number) =>
    `spiffe://example.org/${'a'.repeat(bytes - 'spiffe://example.org/'.length)}`;

  it('parse accepts 2048 bytes and, like go-spiffe, longer IDs from elsewhere', () => {
    assert.equal(maxSpiffeIdLength, 2048);
    for (const n of [2048, 2049, 8192]) assert.equal(SpiffeId.parse(idOf(n)).toString().length, n);
  });

  it('builders generate up to 2048 bytes and refuse 2049 (too-long)', () => {
    const path = (n: number) => idOf(n).slice(td.idString().length);
    assert.equal(SpiffeId.fromPath(td, path(2048)).toString(), idOf(2048));
    assert.equal(SpiffeId.fromSegments(td, path(2048).slice(1)).toString(), idOf(2048));
    assert.throws(() => SpiffeId.fromPath(td, path(2049)), {
      rule: 'too-long',
      code: 'TM_ERR_SPIFFEID_TOO_LONG',
    });
    assert.throws(() => SpiffeId.fromSegments(td, 'x', path(2049 - 2).slice(1)), { rule: 'too-long' });
  });

  it('assertGeneratableSpiffeId: the gate SVID minting and registration use', () => {
    const ok = SpiffeId.parse(idOf(2048));
    assert.equal(assertGeneratableSpiffeId(ok), ok);
    assert.throws(
      () => assertGeneratableSpiffeId(SpiffeId.parse(idOf(2049))),
      (err: unknown) =>
        err instanceof SpiffeIdError &&
        err.rule === 'too-long' &&
        err.message.length < 400 &&
        /2048 bytes/.test(err.message),
    );
  });
});
