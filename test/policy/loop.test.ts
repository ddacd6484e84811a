import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { filter, map, of, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { policyLoop, type LoopEvent } from '../../src/policy/loop.js';
import type { StitchSwitch } from '../../src/policy/switching.js';
import { parseProfile, profileFromObject } from '../../src/profiles/parse.js';
import { deviceState$ } from '../../src/signals/derive.js';
import { loadTrace } from '../../src/signals/trace.js';
import { catalogOf, FakeSignalSource, replayTrace } from '../../src/testing/index.js';

const root = join(import.meta.dirname, '../..');
const MACS = [1.3, 1.8, 2.4, 3.1, 3.9, 4.6, 5.5, 6.4, 7.5, 8.6];
/** A ten-stitch family: cost, accuracy and a CPU latency profile rising together. */
const family = catalogOf(MACS.map((m, id) => ({ id, macs: m * 1e8, accuracy: 0.7 + id * 0.025, latencyMs: m * 3 })));
const shippedProfile = (name: string) =>
  parseProfile(readFileSync(join(root, 'profiles', `${name}.yaml`), 'utf8'), { file: `${name}.yaml` });
const replay = (trace: string, profile: string) =>
  replayTrace({
    trace: loadTrace(join(root, 'examples/traces', `${trace}.csv`)),
    profile: shippedProfile(profile),
    catalog: family,
    context: () => ({ provider: 'cpu' }),
  });

const switchesOf = (loop: Observable<LoopEvent>): Observable<StitchSwitch> =>
  loop.pipe(
    filter((e): e is Extract<LoopEvent, { kind: 'switch' }> => e.kind === 'switch'),
    map((e) => e.change),
  );

describe('hysteresis through the whole loop (virtual time)', () => {
  const oscillating = () => {
    const fake = new FakeSignalSource();
    for (let i = 0; i <= 60; i++) fake.at(i * 1000, { 'thermal.cpuC': i % 2 === 0 ? 84 : 86 });
    return fake;
  };
  const rules = [{ name: 'hot', when: { 'thermal.cpuC': { above: 85 } }, limit: { maxCostFraction: 0.5 } }];
  // No smoothing and no delays: only the hysteresis margin stands between the signal and flapping.
  const loop = (margin: number, ts: TestScheduler) => {
    const profile = profileFromObject({
      rules,
      switching: { minDwellMs: 0, upgradeAfterMs: 0, hysteresis: { 'thermal.cpuC': margin } },
      sampling: { smoothing: {} },
    });
    const state$ = deviceState$([oscillating()], { scheduler: ts, smoothing: profile.sampling.smoothing });
    return switchesOf(policyLoop({ state$, profile$: of(profile), catalog: family, scheduler: ts }));
  };

  it('a signal oscillating around a threshold causes at most one switch', () => {
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ expectObservable }) => {
      const switches = loop(3, ts).pipe(
        map((s) => `${String(s.from)}>${s.to} ${s.decision.reason.rules.map((r) => r.name).join()}`),
      );
      expectObservable(switches, '^ 70s !').toBe('a 999ms b', { a: 'undefined>9 ', b: '9>4 hot' });
    });
  });

  it('without the margin, the same signal flaps', () => {
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    let count = 0;
    ts.run(() => {
      loop(0, ts).subscribe(() => count++);
    });
    expect(count).toBeGreaterThan(50);
  });
});

describe('the shipped traces through the shipped profiles', () => {
  it('laptop unplugged × balanced: steps down at 30 % and at 15 %, naming the rule and the reading', () => {
    const { switches, decisions } = replay('laptop-unplugged', 'balanced');
    expect(switches.map((s) => [s.at / 1000, s.from, s.to, s.direction])).toEqual([
      [0, undefined, 9, 'initial'],
      // Each 3 s (balanced.yaml's degradeAfterMs) after the first reading past its threshold.
      [1113, 9, 5, 'degrade'],
      [2013, 5, 2, 'degrade'],
    ]);
    const [, low, critical] = switches;
    expect(low?.decision.reason.rules.map((r) => r.name)).toEqual(['low-battery']);
    expect(low?.decision.reason.rules[0]?.readings[0]).toMatchObject({
      signal: 'battery.percent',
      value: 29.5,
      test: 'below 30',
    });
    expect(critical?.decision.reason.limitSources).toEqual({ maxCostFraction: 'critical-battery' });
    expect(decisions.every((d) => !d.reason.overBudget)).toBe(true);
  });

  it('laptop unplugged × battery-saver: cheapest above the floor, then over budget when nearly empty', () => {
    const { switches, decisions } = replay('laptop-unplugged', 'battery-saver');
    expect(switches.map((s) => [s.to, s.decision.reason.overBudget])).toEqual([
      [2, false],
      [0, true],
    ]);
    // The first choice is the profile's alone (no reading yet); the first reading adds the provider limit.
    expect(switches[0]?.decision.limits.provider).toBeUndefined();
    expect(decisions[1]?.limits.provider).toEqual(['cpu']);
    expect(switches[1]?.decision.reason.unmet).toEqual(['minAccuracy']);
  });

  it('heating and throttling × thermal-guard: reacts to the trend first, steps down with the heat, recovers slowly', () => {
    const { switches } = replay('heating-throttling', 'thermal-guard');
    const degrades = switches.filter((s) => s.direction === 'degrade');
    const upgrades = switches.filter((s) => s.direction === 'upgrade');
    expect(degrades.map((s) => s.decision.reason.rules.at(-1)?.name)).toEqual(['heating-up', 'warm', 'hot']);
    expect(degrades[0]?.decision.reason.rules[0]?.readings.map((r) => r.signal).sort()).toEqual([
      'thermal.cpuC',
      'thermal.trendCPerMin',
    ]);
    // The load stops at 12 min; going back up waits for a calm minute each time.
    expect(upgrades.length).toBeGreaterThan(0);
    expect(upgrades.every((s) => s.at > 12 * 60_000 && s.wantedForMs >= 60_000)).toBe(true);
    // Before any reading the cautious "warm" rule (unavailable: match) holds; the first reading lifts it at once.
    expect(switches.slice(0, 2).map((s) => [s.at, s.to, s.direction])).toEqual([
      [0, 4, 'initial'],
      [0, 8, 'initial'],
    ]);
    expect(switches.at(-1)?.to).toBe(8);
  });

  it('GPU taken by another app × performance: the latency budget × observed slowdown steps down, and back up once it is gone', () => {
    const { switches } = replay('gpu-contention', 'performance');
    expect(switches.map((s) => [s.direction, s.to])).toEqual([
      ['initial', 8],
      ['degrade', 3],
      ['upgrade', 8],
    ]);
    const down = switches[1];
    expect(down?.at).toBe(60_000);
    expect(down?.decision.reason.slowdown).toBeGreaterThan(2);
    expect(down?.decision.reason.summary).toContain('latency ≤ 25 ms at slowdown');
    expect(switches[2]?.at).toBeGreaterThanOrEqual(240_000);
  });

  it('noisy sensor around the threshold × balanced: one switch, no flapping', () => {
    const { switches, states } = replay('noisy-sensor', 'balanced');
    expect(switches.filter((s) => s.direction !== 'initial')).toHaveLength(1);
    expect(states.some((s) => s.quality['thermal.cpuC'] === 'unavailable')).toBe(true);
  });
});
