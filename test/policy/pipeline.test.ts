import { filter, map, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { checkProfileForCatalog } from '../../src/policy/check.js';
import type { StitchCatalog } from '../../src/policy/catalog.js';
import { policyLoop, type LoopDecision, type LoopEvent } from '../../src/policy/loop.js';
import type { Profile } from '../../src/profiles/schema.js';
import type { DeviceState } from '../../src/signals/state.js';
import { profileFromObject } from '../../src/profiles/parse.js';
import { deviceState$ } from '../../src/signals/derive.js';
import { catalogOf, deviceState, FakeSignalSource } from '../../src/testing/index.js';

const catalog = catalogOf([
  { id: 0, macs: 1, accuracy: 0.6 },
  { id: 1, macs: 2, accuracy: 0.7 },
  { id: 2, macs: 4, accuracy: 0.8 },
]);

/** The decisions of the policy loop. */
const decide$ = (
  state$: Observable<DeviceState>,
  profile$: Observable<Profile>,
  cat: StitchCatalog,
  active?: number,
): Observable<LoopDecision> =>
  policyLoop({ state$, profile$, catalog: cat, active, context: () => ({ provider: 'cpu' }) }).pipe(
    filter((e): e is Extract<LoopEvent, { kind: 'decision' }> => e.kind === 'decision'),
    map((e) => e.decision),
  );

describe("the policy loop's decisions", () => {
  it('decides on every state, passing the matched rules on for hysteresis', () => {
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ cold, expectObservable }) => {
      const p1 = profileFromObject({
        rules: [{ name: 'busy', when: { 'cpu.load': { above: 80 } }, limit: { maxMacs: 2 } }],
        switching: { hysteresis: { 'cpu.load': 10 } },
      });
      const states = cold('a---b---c---d', {
        a: deviceState({ 'cpu.load': 50 }),
        b: deviceState({ 'cpu.load': 85 }),
        c: deviceState({ 'cpu.load': 75 }),
        d: deviceState({ 'cpu.load': 65 }),
      });
      const profile$ = cold('p', { p: p1 });
      const out = decide$(states, profile$, catalog).pipe(
        map((d) => `${d.stitch}:${d.reason.rules.map((r) => r.name).join()}`),
      );
      // The profile decides alone first (no reading yet); 75 still matches "above 80" with the 10 margin; 65 does not.
      expectObservable(out).toBe('(na)b---c---d', { n: '2:', a: '2:', b: '1:busy', c: '1:busy', d: '2:' });
    });
  });

  it('switches to a new profile at once', () => {
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ cold, expectObservable }) => {
      const profile$ = cold('a---b', { a: profileFromObject({}), b: profileFromObject({ limits: { maxMacs: 1 } }) });
      const states = cold('s', { s: deviceState({}) });
      expectObservable(decide$(states, profile$, catalog).pipe(map((d) => d.stitch))).toBe('(na)b', {
        n: 2,
        a: 2,
        b: 0,
      });
    });
  });

  it('reads the provider from the context and the active stitch from the loop', () => {
    const latencies = catalogOf([
      { id: 0, macs: 1, accuracy: 0.6, latencyMs: 5 },
      { id: 1, macs: 2, accuracy: 0.7, latencyMs: 9.5 },
    ]);
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ cold, expectObservable }) => {
      const profile$ = cold('p', { p: profileFromObject({ limits: { maxLatencyMs: 10 } }) });
      const states = cold('s', { s: deviceState({}) });
      // Active on 0: stitch 1 is an upgrade and needs 10 % headroom (9.5 > 9); active on 1 it may stay.
      expectObservable(decide$(states, profile$, latencies, 0).pipe(map((d) => d.stitch))).toBe('(na)', { n: 0, a: 0 });
      expectObservable(decide$(states, profile$, latencies, 1).pipe(map((d) => d.stitch))).toBe('(na)', { n: 1, a: 1 });
    });
  });
});

describe('FakeSignalSource', () => {
  it('delivers scheduled readings in virtual time, and pushed and failed ones at once', () => {
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ expectObservable }) => {
      const fake = new FakeSignalSource().at(10, { 'battery.percent': 50 }).at(5, { 'battery.charging': false });
      ts.schedule(() => fake.push({ 'app.fps': 30 }), 7);
      ts.schedule(() => fake.fail(['battery.percent'], 'timeout'), 12);
      const out = deviceState$([fake], { scheduler: ts }).pipe(
        map((s) => [s.battery.charging, s.app['app.fps'], s.battery.percent, s.quality['battery.percent']]),
      );
      expectObservable(out).toBe('5ms a 1ms b 2ms c 1ms d', {
        a: [false, undefined, undefined, 'unavailable'],
        b: [false, 30, undefined, 'unavailable'],
        c: [false, 30, 50, 'ok'],
        d: [false, 30, undefined, 'timeout'],
      });
    });
  });

  it('rejects unknown signal names', () => {
    // @ts-expect-error an unknown signal name
    expect(() => new FakeSignalSource().at(0, { 'battery.pct': 1 })).toThrow(/Unknown signal/);
  });
});

describe('checkProfileForCatalog', () => {
  it('reports limits the package cannot evaluate', () => {
    const bare = catalogOf([{ id: 0, macs: 1 }]);
    const issues = checkProfileForCatalog(profileFromObject({ limits: { minAccuracy: 0.8, maxLatencyMs: 10 } }), bare);
    expect(issues.map((i) => i.path.join('.'))).toEqual(['limits.minAccuracy', 'limits.maxLatencyMs']);
    expect(
      checkProfileForCatalog(profileFromObject({ limits: { minAccuracy: 0.5, stitches: [0, 2] } }), catalog),
    ).toEqual([]);
  });
});
