/**
 * Rotation decision (SPIRE rotationutil, reference spiffe.md §b.4): rotate once the remaining
 * lifetime is at most half the lifetime, with ±10 % jitter; a pure function of (now, cert, jitter).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ROTATION_JITTER,
  drawRotationJitter,
  rotationTimeMs,
  shouldRotate,
  Backoff,
} from '../../../src/identity/agent/index.js';
import { cachedSvid, testCa } from './support.js';

describe('rotation', () => {
  test('rows: before / at / after the jittered half-life', async () => {
    const ca = await testCa();
    const leaf = cachedSvid(ca, 'spiffe://example.org/w', 1, 1000);
    const { notBefore, notAfter } = leaf;
    const half = notBefore + (notAfter - notBefore) / 2;
    const rows: Array<[string, number, number, boolean]> = [
      ['just issued', notBefore, 0, false],
      ['1 s before half-life, no jitter', half - 1000, 0, false],
      ['at half-life, no jitter', half, 0, true],
      ['at half-life, jitter −10 % (rotate later)', half, -0.1, false],
      ['at half-life, jitter +10 % (rotate earlier)', half - 1, 0.1, true],
      ['expired', notAfter + 1, -0.1, true],
    ];
    for (const [name, now, jitter, want] of rows) assert.equal(shouldRotate(now, leaf, jitter), want, name);
    assert.equal(rotationTimeMs(leaf, 0), half);
    assert.equal(rotationTimeMs(leaf, 0.1), notAfter - ((notAfter - notBefore) / 2) * 1.1);
  });

  test('jitter stays within ±10 %', () => {
    assert.equal(
      drawRotationJitter(() => 0),
      -ROTATION_JITTER,
    );
    assert.equal(
      drawRotationJitter(() => 0.5),
      0,
    );
    assert.ok(Math.abs(drawRotationJitter(() => 0.999999) - ROTATION_JITTER) < 1e-5);
  });

  test('backoff grows exponentially to its cap and resets', () => {
    const b = new Backoff({ baseMs: 100, maxMs: 1000, random: () => 1 });
    assert.deepEqual(
      [b.next(), b.next(), b.next(), b.next(), b.next(), b.next()],
      [100, 200, 400, 800, 1000, 1000],
    );
    b.reset();
    assert.equal(b.next(), 100);
  });
});
