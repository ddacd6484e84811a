import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/policy/decide.js';
import { profileFromObject } from '../../src/profiles/parse.js';
import type { ProfileInput } from '../../src/profiles/schema.js';
import { catalogOf, deviceState, type FakeStitch } from '../../src/testing/index.js';

const NUMERIC = ['battery.percent', 'thermal.cpuC', 'cpu.load', 'inference.slowdown'] as const;
type Numeric = (typeof NUMERIC)[number];

const stitchesArb = fc.uniqueArray(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 6 }).chain((macs) =>
  fc.tuple(
    ...macs.map((m, id) =>
      fc.record({
        id: fc.constant(id),
        macs: fc.constant(m * 1e6),
        accuracy: fc.option(fc.double({ min: 0.1, max: 0.99, noNaN: true }), { nil: undefined }),
        latencyMs: fc.option(fc.double({ min: 0.5, max: 50, noNaN: true }), { nil: undefined }),
      }),
    ),
  ),
);

const limitsArb = fc.record(
  {
    maxCostFraction: fc.double({ min: 0.05, max: 1, noNaN: true }),
    maxMacs: fc.integer({ min: 1, max: 1000 }).map((m) => m * 1e6),
    maxLatencyMs: fc.double({ min: 0.5, max: 60, noNaN: true }),
    minAccuracy: fc.double({ min: 0, max: 1, noNaN: true }),
  },
  { requiredKeys: [] },
);

const conditionArb = fc.oneof(
  fc.record({
    signal: fc.constantFrom(...NUMERIC),
    op: fc.constantFrom('below', 'above'),
    at: fc.integer({ min: 1, max: 99 }),
  }),
  fc.record({ signal: fc.constant('battery.charging'), op: fc.constant('equals'), at: fc.boolean() }),
);

const rulesArb = fc.array(
  fc.record({ condition: conditionArb, limit: limitsArb.filter((l) => Object.keys(l).length > 0) }),
  { maxLength: 5 },
);

const stateArb = fc.record({
  'battery.percent': fc.option(fc.double({ min: 0, max: 100, noNaN: true }), { nil: undefined }),
  'thermal.cpuC': fc.option(fc.double({ min: 20, max: 110, noNaN: true }), { nil: undefined }),
  'cpu.load': fc.option(fc.double({ min: 0, max: 100, noNaN: true }), { nil: undefined }),
  'inference.slowdown': fc.option(fc.double({ min: 0.5, max: 3, noNaN: true }), { nil: undefined }),
  'battery.charging': fc.option(fc.boolean(), { nil: undefined }),
});

type Cond = { signal: Numeric | 'battery.charging'; op: string; at: number | boolean };

function holds(c: Cond, values: Record<string, number | boolean | undefined>): boolean {
  const v = values[c.signal];
  if (v === undefined) return false;
  if (c.op === 'equals') return v === c.at;
  return c.op === 'below' ? (v as number) < (c.at as number) : (v as number) > (c.at as number);
}

function meets(s: FakeStitch, l: Record<string, number | undefined>, maxMacs: number, slowdown: number): boolean {
  if (l.maxCostFraction !== undefined && s.macs / maxMacs > l.maxCostFraction) return false;
  if (l.maxMacs !== undefined && s.macs > l.maxMacs) return false;
  if (l.minAccuracy !== undefined && !(s.accuracy !== undefined && s.accuracy >= l.minAccuracy)) return false;
  if (l.maxLatencyMs !== undefined && !(s.latencyMs !== undefined && s.latencyMs * slowdown <= l.maxLatencyMs))
    return false;
  return true;
}

describe('decide (properties)', () => {
  it('meets every limit when some stitch can, else takes the cheapest flagged over budget; deterministic', () => {
    fc.assert(
      fc.property(
        stitchesArb,
        limitsArb,
        rulesArb,
        stateArb,
        fc.constantFrom('max-accuracy', 'min-cost'),
        (stitches, defaults, rules, values, objective) => {
          const input: ProfileInput = {
            objective: objective as 'max-accuracy' | 'min-cost',
            limits: defaults,
            rules: rules.map((r, i) => ({
              name: `r${i}`,
              when: {
                [r.condition.signal]:
                  r.condition.op === 'equals' ? r.condition.at : { [r.condition.op]: r.condition.at },
              },
              limit: r.limit,
            })),
          };
          const profile = profileFromObject(input);
          const catalog = catalogOf(stitches);
          const state = deviceState(values, 42);
          const d = decide(state, profile, catalog);

          // Deterministic: the same inputs (even re-parsed) give the same decision.
          expect(decide(state, profileFromObject(input), catalog)).toEqual(d);

          // The matching rules, and the strictest limits, computed independently.
          const matched = rules
            .map((r, i) => ({ ...r, name: `r${i}` }))
            .filter((r) => holds(r.condition as Cond, values));
          expect(d.reason.rules.map((r) => r.name)).toEqual(matched.map((r) => r.name));
          const all = [defaults, ...matched.map((r) => r.limit)];
          const pick = (k: keyof typeof defaults, f: (...x: number[]) => number) => {
            const xs = all.map((l) => l[k]).filter((x): x is number => x !== undefined);
            return xs.length > 0 ? f(...xs) : undefined;
          };
          const limits = {
            maxCostFraction: pick('maxCostFraction', Math.min),
            maxMacs: pick('maxMacs', Math.min),
            maxLatencyMs: pick('maxLatencyMs', Math.min),
            minAccuracy: pick('minAccuracy', Math.max),
          };
          expect(d.limits).toEqual(Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)));

          const maxMacs = Math.max(...stitches.map((s) => s.macs));
          const slowdown = values['inference.slowdown'] ?? 1;
          const feasible = stitches.filter((s) => meets(s, limits, maxMacs, slowdown));
          const chosen = stitches.find((s) => s.id === d.stitch) as FakeStitch;
          if (feasible.length > 0) {
            expect(d.reason.overBudget).toBe(false);
            expect(meets(chosen, limits, maxMacs, slowdown)).toBe(true);
            expect(d.reason.feasible.slice().sort()).toEqual(feasible.map((s) => s.id).sort());
            if (objective === 'min-cost') expect(chosen.macs).toBe(Math.min(...feasible.map((s) => s.macs)));
            else if (feasible.every((s) => s.accuracy !== undefined))
              expect(chosen.accuracy).toBe(Math.max(...feasible.map((s) => s.accuracy as number)));
            else expect(chosen.macs).toBe(Math.max(...feasible.map((s) => s.macs)));
          } else {
            expect(d.reason.overBudget).toBe(true);
            expect(chosen.macs).toBe(Math.min(...stitches.map((s) => s.macs)));
            expect(d.reason.unmet.length).toBeGreaterThan(0);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('with hysteresis, a held rule matches whenever it would match without', () => {
    fc.assert(
      fc.property(rulesArb, stateArb, fc.integer({ min: 0, max: 20 }), (rules, values, margin) => {
        const profile = profileFromObject({
          rules: rules.map((r, i) => ({
            name: `r${i}`,
            when: {
              [r.condition.signal]:
                r.condition.op === 'equals' ? r.condition.at : { [r.condition.op]: r.condition.at, margin },
            },
            limit: r.limit,
          })),
        });
        const catalog = catalogOf([{ id: 0, macs: 1 }]);
        const state = deviceState(values);
        const free = decide(state, profile, catalog).reason.rules.map((r) => r.name);
        const held = decide(state, profile, catalog, { held: rules.map((_, i) => `r${i}`) }).reason.rules.map(
          (r) => r.name,
        );
        expect(free.every((n) => held.includes(n))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});
