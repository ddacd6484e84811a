import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { FastPathBook, type FastPathPolicy } from '../../src/engine/fast-path.js';

const policy: FastPathPolicy = {
  afterRuns: 3,
  afterMs: 100,
  cacheSize: 2,
  memoryBudgetBytes: 1000,
  maxRunMs: Number.POSITIVE_INFINITY,
  eager: false,
};

describe('FastPathBook', () => {
  it('asks to fuse once a route has run afterRuns times over afterMs, and only once', () => {
    const book = new FastPathBook(policy);
    expect(book.noteRun('a', 0, 1)).toBe(false);
    expect(book.noteRun('a', 50, 1)).toBe(false);
    expect(book.noteRun('a', 60, 1)).toBe(false); // 3 runs, 60 ms
    expect(book.noteRun('a', 120, 1)).toBe(true);
    book.startBuilding('a');
    expect(book.noteRun('a', 130, 1)).toBe(false);
    // Another route breaks the streak.
    expect(book.noteRun('b', 200, 1)).toBe(false);
    expect(book.noteRun('a', 210, 1)).toBe(false);
  });

  it('fuses on the first run when eager, and never a refused route by itself', () => {
    const book = new FastPathBook({ ...policy, eager: true });
    expect(book.noteRun('a', 0, 1)).toBe(true);
    book.refuse('a', 'failed');
    expect(book.noteRun('a', 1, 1)).toBe(false);
  });

  it('applies the deprecated maxRunMs to the streak average', () => {
    const book = new FastPathBook({ ...policy, afterRuns: 1, afterMs: 0, maxRunMs: 10 });
    expect(book.noteRun('a', 0, 30)).toBe(false);
    expect(book.noteRun('b', 0, 5)).toBe(true);
  });

  it('evicts least recently used routes to stay within the cache size and the budget', () => {
    const book = new FastPathBook(policy);
    expect(book.admit('a', 400)).toEqual([]);
    expect(book.admit('b', 400)).toEqual([]);
    book.touch('a');
    expect(book.admit('c', 400)).toEqual(['b']); // 1200 > 1000: the least recent goes
    expect(book.fused()).toEqual(['a', 'c']);
    expect(book.admit('d', 100)).toEqual(['a']); // three entries > cacheSize 2
    expect(book.fits(1001)).toBe(false);
  });

  it('never holds more than the budget or the cache size (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 1, max: 1000 })), { maxLength: 40 }),
        (ops) => {
          const book = new FastPathBook(policy);
          const sizes = new Map<string, number>();
          for (const [k, bytes] of ops) {
            const key = `r${k}`;
            if (book.isReady(key)) {
              book.touch(key);
              continue;
            }
            sizes.set(key, bytes);
            book.admit(key, bytes);
            const held = book.fused();
            expect(held.length).toBeLessThanOrEqual(policy.cacheSize);
            expect(held).toContain(key);
            const total = held.reduce((n, h) => n + (sizes.get(h) ?? 0), 0);
            expect(total <= policy.memoryBudgetBytes || held.length === 1).toBe(true);
          }
        },
      ),
    );
  });
});
