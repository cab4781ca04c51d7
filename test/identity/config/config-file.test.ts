/**
 * identity/config, shared by the server and the agent: the SPIRE HCL subset (values, syntax errors
 * with their line) and reading a config file as YAML or HCL by its extension.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  ConfigFileError,
  HclSyntaxError,
  parseHcl,
  readConfigDocument,
} from '../../../src/identity/config/index.js';

describe('parseHcl', () => {
  test('object values with quoted keys, numbers, escapes', () => {
    assert.deepEqual(parseHcl('a = { "c-1" = { l = ["x:y", "z"] }, n = 3 }\ns = "q\\"t"'), {
      a: { 'c-1': { l: ['x:y', 'z'] }, n: 3 },
      s: 'q"t',
    });
  });
  test('labelled blocks of an agent.conf', () => {
    assert.deepEqual(
      parseHcl('plugins {\n  WorkloadAttestor "unix" { plugin_data { discover_workload_path = false } }\n}'),
      { plugins: { WorkloadAttestor: { unix: { plugin_data: { discover_workload_path: false } } } } },
    );
  });
  const bad: [string, string, number][] = [
    ['missing value', 'a = \n}', 2],
    ['unterminated string', 'a = "x', 1],
    ['interpolation', 'a = "${x}"', 1],
    ['duplicate key', 'a = 1\na = 2', 2],
    ['stray brace', 'server {\n a = 1\n', 3],
  ];
  for (const [name, src, line] of bad) {
    test(`rejects ${name} with its line`, () => {
      assert.throws(
        () => parseHcl(src),
        (e: unknown) =>
          e instanceof HclSyntaxError && e.line === line && e.code === 'TM_ERR_CONFIG_HCL_SYNTAX',
      );
    });
  }
});

describe('readConfigDocument', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tm-config-file-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  test('.yaml/.yml/.json are YAML, anything else HCL', () => {
    const want = { agent: { trust_domain: 'example.org' } };
    assert.deepEqual(readConfigDocument(file('a.yaml', 'agent: {trust_domain: example.org}\n')), want);
    assert.deepEqual(readConfigDocument(file('a.json', JSON.stringify(want))), want);
    assert.deepEqual(readConfigDocument(file('a.conf', 'agent { trust_domain = "example.org" }\n')), want);
  });

  test('unreadable and unparseable files are ConfigFileErrors naming the file', () => {
    const missing = path.join(dir, 'missing.conf');
    assert.throws(
      () => readConfigDocument(missing),
      (e: unknown) =>
        e instanceof ConfigFileError && e.file === missing && e.reason.startsWith(`cannot read ${missing}`),
    );
    const broken = file('broken.conf', 'agent {\n  trust_domain = \n}\n');
    assert.throws(
      () => readConfigDocument(broken),
      (e: unknown) =>
        e instanceof ConfigFileError &&
        e.reason.startsWith(`${broken}: hcl: line 3`) &&
        e.cause instanceof HclSyntaxError,
    );
  });
});
