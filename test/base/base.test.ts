import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  closestWords,
  DEFAULT_PROVIDERS,
  didYouMean,
  editDistance,
  fieldPath,
  isProviderName,
  median,
  messageOf,
  PROVIDER_NAMES,
  quantile,
  seededRandom,
  seededUint32,
  shuffled,
} from '../../src/base/index.js';

describe('text', () => {
  it('edit distance', () => {
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(editDistance('', 'abc')).toBe(3);
    expect(editDistance('same', 'same')).toBe(0);
  });

  it('edit distance is a metric on short words', () => {
    const word = fc.string({ maxLength: 8 });
    fc.assert(
      fc.property(word, word, word, (a, b, c) => {
        expect(editDistance(a, b)).toBe(editDistance(b, a));
        expect(editDistance(a, c)).toBeLessThanOrEqual(editDistance(a, b) + editDistance(b, c));
        expect(editDistance(a, b) === 0).toBe(a === b);
      }),
    );
  });

  it('did-you-mean: a typo, an abbreviation, or nothing', () => {
    const signals = ['battery.percent', 'battery.charging', 'thermal.cpuC'];
    expect(didYouMean('battery.percnt', signals)).toBe('battery.percent');
    expect(didYouMean('Battery.Charging', signals)).toBe('battery.charging');
    expect(didYouMean('battery.pct', signals)).toBe('battery.percent');
    expect(didYouMean('gpu.utilization', signals)).toBeUndefined();
  });

  it('closest words, ties in alphabetical order', () => {
    expect(closestWords('blok.1', ['block.1', 'block.10', 'head', 'block.0'], 2)).toEqual(['block.1', 'block.0']);
  });
});

describe('field paths', () => {
  it('dots identifiers, brackets indices and other keys', () => {
    expect(fieldPath(['stitches', 4, 'route', 1, 'stitchLayer'])).toBe('stitches[4].route[1].stitchLayer');
    expect(fieldPath(['pieces', 'ti.block.0', 'sha256'])).toBe('pieces["ti.block.0"].sha256');
    expect(fieldPath([])).toBe('');
  });
});

describe('statistics', () => {
  it('median of odd and even lengths, NaN when empty', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('nearest-rank quantile is one of the values and monotone in q', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ noNaN: true, min: -1e6, max: 1e6 }), { minLength: 1 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (xs, q) => {
          expect(xs).toContain(quantile(xs, q));
          expect(quantile(xs, q)).toBeLessThanOrEqual(quantile(xs, Math.min(1, q + 0.1)));
        },
      ),
    );
    expect(quantile([], 0.5)).toBeNaN();
  });
});

describe('seeded random', () => {
  it('is mulberry32: the same sequence for the same seed', () => {
    // Pinned: every generated weight, demo package and test fixture depends on this sequence.
    const next = seededUint32(1);
    expect([next(), next(), next()]).toEqual([2693262067, 11749833, 2265367787]);
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 100 }, a);
    expect(Array.from({ length: 100 }, b)).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
  });

  it('shuffles deterministically into a permutation', () => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    expect(shuffled(items, 3)).toEqual(shuffled(items, 3));
    expect([...shuffled(items, 3)].sort((a, b) => a - b)).toEqual(items);
    expect(shuffled(items, 3)).not.toEqual(shuffled(items, 4));
  });
});

describe('messages and providers', () => {
  it('messageOf', () => {
    expect(messageOf(new Error('boom'))).toBe('boom');
    expect(messageOf('plain')).toBe('plain');
    expect(messageOf(42)).toBe('42');
  });

  it('one provider list', () => {
    expect(DEFAULT_PROVIDERS.every(isProviderName)).toBe(true);
    expect(PROVIDER_NAMES).toContain('cpu');
    expect(isProviderName('tpu')).toBe(false);
  });
});
