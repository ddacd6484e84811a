/**
 * Hostile profiles: size, alias and depth bounds, BOM, non-finite thresholds; every failure is an
 * issue (validateProfileText never throws) or a ProfileError.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProfileError } from '../../src/errors.js';
import { loadProfile, loadProfileSync } from '../../src/profiles/load.js';
import {
  DEFAULT_MAX_PROFILE_BYTES,
  MAX_PROFILE_ALIASES,
  parseProfile,
  profileFromObject,
  validateProfileText,
} from '../../src/profiles/parse.js';
import { MAX_CONDITION_DEPTH } from '../../src/profiles/schema.js';

const rule = (when: string) => `rules:\n  - name: r\n    when: ${when}\n    limit: { maxCostFraction: 0.5 }\n`;
const messages = (text: string, options = {}) => {
  const v = validateProfileText(text, options);
  return v.ok ? [] : v.issues.map((i) => i.message);
};

describe('profile bounds', () => {
  it('refuses a profile over the size limit before parsing it; the limit is configurable', () => {
    const big = `description: "${'x'.repeat(DEFAULT_MAX_PROFILE_BYTES)}"\n`;
    expect(messages(big)[0]).toMatch(new RegExp(`bytes, over the limit of ${DEFAULT_MAX_PROFILE_BYTES}`));
    expect(messages('objective: min-cost\n', { maxBytes: 10 })[0]).toMatch(/over the limit of 10/);
    expect(() => parseProfile(big, { file: 'big.yaml' })).toThrow(
      expect.objectContaining({ code: 'PROFILE_INVALID', file: 'big.yaml', field: '(file)' }),
    );
  });

  it('refuses a YAML alias bomb with a ProfileError, not a ReferenceError', () => {
    let bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n';
    let prev = 'a';
    for (let i = 0; i < 9; i++) {
      bomb += `b${i}: &b${i} [${Array(9).fill(`*${prev}`).join(',')}]\n`;
      prev = `b${i}`;
    }
    expect(messages(bomb)[0]).toMatch(new RegExp(`too many YAML aliases \\(more than ${MAX_PROFILE_ALIASES}\\)`));
    expect(() => parseProfile(bomb)).toThrow(ProfileError);
  });

  it('refuses a mapping key that is a mapping or a list, at its line, without a process warning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(w.message);
    process.on('warning', onWarning);
    try {
      const v = validateProfileText('objective: min-cost\n? [a, b]\n: 1\n');
      expect(v.ok).toBe(false);
      expect(v.ok ? [] : v.issues).toEqual([
        expect.objectContaining({ message: 'A mapping key must be a plain name, got a list', line: 2 }),
      ]);
      expect(messages('limits: { { NAME: x }: 1 }\n')[0]).toBe('A mapping key must be a plain name, got a mapping');
      expect(messages(rule('{ ? { a: 1 } : 2 }'))).toHaveLength(1);
      await new Promise((resolve) => setImmediate(resolve)); // process warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
  });

  it('refuses documents nested too deeply, flow or block, without a stack overflow', () => {
    expect(messages('['.repeat(100_000))[0]).toMatch(/nested deeper than 100 levels/);
    let block = '';
    for (let i = 0; i < 600; i++) block += `${' '.repeat(i)}a:\n`;
    expect(messages(block, { maxBytes: 1024 ** 2 })[0]).toMatch(/nested (too deeply|deeper)/);
    expect(messages(rule(`${'{ all: ['.repeat(3000)}{ cpu.load: { above: 1 } }${']}'.repeat(3000)}`))[0]).toMatch(
      /nested deeper than 100 levels/,
    );
  });

  it(`refuses conditions nested deeper than ${MAX_CONDITION_DEPTH} levels of all/any`, () => {
    const nest = (n: number) => rule(`${'{ all: ['.repeat(n)}{ cpu.load: { above: 1 } }${']}'.repeat(n)}`);
    expect(messages(nest(MAX_CONDITION_DEPTH))).toEqual([]);
    expect(messages(nest(MAX_CONDITION_DEPTH + 1))[0]).toMatch(/nested deeper than 32 levels of all\/any/);
  });

  it('refuses a profile object that is cyclic or too deep with a ProfileError', () => {
    const cyclic: Record<string, unknown> = { objective: 'min-cost' };
    cyclic.self = cyclic;
    expect(() => profileFromObject(cyclic)).toThrow(
      expect.objectContaining({ code: 'PROFILE_INVALID', message: expect.stringMatching(/nested deeper/) }),
    );
  });

  it('reads profile files only up to the limit', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-bounds-'));
    try {
      const file = path.join(dir, 'big.yaml');
      await writeFile(file, `description: "${'x'.repeat(2000)}"\n`);
      expect(() => loadProfileSync(file, { maxBytes: 1000 })).toThrow(
        expect.objectContaining({ code: 'PROFILE_INVALID', file }),
      );
      await expect(loadProfile(file, { maxBytes: 1000 })).rejects.toMatchObject({
        code: 'PROFILE_INVALID',
        field: '(file)',
      });
      await expect(loadProfile(file)).resolves.toMatchObject({ objective: 'max-accuracy' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('profile messages', () => {
  it('accepts a UTF-8 BOM in YAML and JSON profiles', () => {
    expect(validateProfileText('\uFEFFobjective: min-cost\n').ok).toBe(true);
    expect(validateProfileText('\uFEFF{ "objective": "min-cost" }').ok).toBe(true);
  });

  it('says NaN and Infinity for .nan and .inf, with a hint', () => {
    const v = validateProfileText(rule('{ battery.percent: { below: .nan } }'));
    expect(v.ok).toBe(false);
    if (v.ok) return;
    expect(v.issues[0]?.message).toBe('Expected a number, got NaN (not a finite number)');
    expect(v.issues[0]?.hint).toMatch(/finite/);
    expect(messages(rule('{ battery.percent: { above: .inf } }'))[0]).toMatch(/got Infinity/);
  });

  it('a condition on a signal named like an Object.prototype key is an issue, not a crash', () => {
    const profile = { rules: [{ name: 'r', when: { constructor: { bogus: 1 } }, limit: { maxCostFraction: 0.5 } }] };
    expect(() => profileFromObject(profile)).toThrow(expect.objectContaining({ code: 'PROFILE_INVALID' }));
    expect(validateProfileText(rule('{ __proto__: { bogus: 1 } }')).ok).toBe(false);
  });

  it('validateProfileText never throws, whatever it is given', () => {
    for (const input of [
      undefined,
      null,
      42,
      {},
      '\u0000',
      '*a',
      '&a [*a]',
      '!!js/function x',
      '? [a]\n: b',
      '- - - -',
    ]) {
      expect(() => validateProfileText(input as string)).not.toThrow();
    }
  });
});
