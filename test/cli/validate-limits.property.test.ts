import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { unmeetableLimits } from '../../src/cli/commands/validate.js';
import { decide } from '../../src/policy/decide.js';
import { profileFromObject } from '../../src/profiles/parse.js';
import type { ProfileInput } from '../../src/profiles/schema.js';
import { catalogOf, deviceState, type FakeStitch } from '../../src/testing/index.js';

const stitchesArb: fc.Arbitrary<FakeStitch[]> = fc
  .uniqueArray(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 6 })
  .map((macs) => macs.map((m, id) => ({ id, macs: m * 1e6, accuracy: 0.5 + m / 250, latencyMs: m / 4 })));

/** Limits of every kind, lists included (ids 0–7, some of which the package lacks). */
const limitsArb = fc.record(
  {
    maxMacs: fc.integer({ min: 1, max: 100 }).map((m) => m * 1e6),
    maxLatencyMs: fc.double({ min: 0.5, max: 30, noNaN: true }),
    minAccuracy: fc.double({ min: 0.5, max: 0.95, noNaN: true }),
    provider: fc.uniqueArray(fc.constantFrom('cpu' as const, 'cuda' as const), { minLength: 1 }),
    stitches: fc.uniqueArray(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 4 }),
  },
  { requiredKeys: [] },
);

describe('validate --model agrees with the policy (properties)', () => {
  it('warns about a rule exactly when the policy, with that rule matching, would run over budget', () => {
    fc.assert(
      fc.property(
        stitchesArb,
        limitsArb,
        limitsArb.filter((l) => Object.keys(l).length > 0),
        (stitches, limits, ruleLimit) => {
          const input: ProfileInput = {
            objective: 'max-accuracy',
            limits,
            rules: [{ name: 'hot', when: { 'thermal.cpuC': { above: 80 } }, limit: ruleLimit }],
          };
          const profile = profileFromObject(input);
          const catalog = catalogOf(stitches);
          const warnings = unmeetableLimits(profile, { dir: '.', name: 'family', catalog });
          const cool = decide(deviceState({ 'thermal.cpuC': 50 }, 0), profile, catalog);
          const hot = decide(deviceState({ 'thermal.cpuC': 90 }, 0), profile, catalog);
          const warned = (path: string) => warnings.some((w) => w.path.join('.') === path);
          expect(warned('limits')).toBe(cool.reason.overBudget);
          if (!cool.reason.overBudget) expect(warned('rules.0.limit')).toBe(hot.reason.overBudget);
        },
      ),
      { numRuns: 300 },
    );
  });
});
