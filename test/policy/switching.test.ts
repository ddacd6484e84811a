import fc from 'fast-check';
import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { decide, type Decision } from '../../src/policy/decide.js';
import { switchingDiscipline, type StitchSwitch } from '../../src/policy/switching.js';
import { profileFromObject } from '../../src/profiles/parse.js';
import type { Switching } from '../../src/profiles/schema.js';
import { catalogOf, deviceState } from '../../src/testing/index.js';

const catalog = catalogOf([
  { id: 0, macs: 1, accuracy: 0.6 },
  { id: 1, macs: 2, accuracy: 0.7 },
  { id: 2, macs: 4, accuracy: 0.8 },
  { id: 3, macs: 8, accuracy: 0.9 },
]);

/** A real decision for `stitch` under the given discipline. */
function wants(stitch: number, switching: Partial<Switching>): Decision {
  return decide(deviceState({}), profileFromObject({ limits: { stitches: [stitch] }, switching }), catalog);
}

const newScheduler = () => new TestScheduler((a, b) => expect(a).toEqual(b));
const brief = (s: StitchSwitch) => `${String(s.from)}>${s.to} ${s.direction}`;

describe('switchingDiscipline', () => {
  it('degrades at once and upgrades only after the upgrade has been wanted for upgradeAfterMs', () => {
    const ts = newScheduler();
    ts.run(({ cold, expectObservable }) => {
      const sw = { minDwellMs: 0, degradeAfterMs: 0, upgradeAfterMs: 10 };
      const decisions = cold('a 4ms b 4ms c', { a: wants(3, sw), b: wants(1, sw), c: wants(3, sw) });
      expectObservable(decisions.pipe(switchingDiscipline(catalog, { scheduler: ts }), map(brief))).toBe(
        'A 4ms B 14ms C',
        {
          A: 'undefined>3 initial',
          B: '3>1 degrade',
          C: '1>3 upgrade',
        },
      );
    });
  });

  it('restarts the upgrade wait when a decision stops wanting it, and goes to the latest upgrade', () => {
    const ts = newScheduler();
    ts.run(({ cold, expectObservable }) => {
      // upgradeQuorum 1: every decision must want the upgrade (no smoothing).
      const sw = { minDwellMs: 0, upgradeAfterMs: 10, upgradeQuorum: 1 };
      // Upgrade wanted at 2, not wanted at 6 (back to 1), wanted again at 8 (to 2), then more (to 3) at 12.
      const decisions = cold('a 1ms u 3ms a 1ms v 3ms w', {
        a: wants(1, sw),
        u: wants(3, sw),
        v: wants(2, sw),
        w: wants(3, sw),
      });
      const out = decisions.pipe(
        switchingDiscipline(catalog, { scheduler: ts }),
        map((s) => `${brief(s)} after ${s.wantedForMs}`),
      );
      expectObservable(out).toBe('A 17ms B', { A: 'undefined>1 initial after 0', B: '1>3 upgrade after 10' });
    });
  });

  it('makes at most one switch per minDwellMs, then goes to the latest decision', () => {
    const ts = newScheduler();
    ts.run(({ cold, expectObservable }) => {
      const sw = { minDwellMs: 10, upgradeAfterMs: 0 };
      // 3 first; degrade to 2 at 2 (at once: the first choice starts no dwell); 1 wanted at 4
      // and 0 at 6 wait for the dwell to end at 12, then 0 is taken.
      const decisions = cold('a 1ms b 1ms c 1ms d', {
        a: wants(3, sw),
        b: wants(2, sw),
        c: wants(1, sw),
        d: wants(0, sw),
      });
      const out = decisions.pipe(switchingDiscipline(catalog, { scheduler: ts }), map(brief));
      expectObservable(out).toBe('A 1ms B 9ms C', { A: 'undefined>3 initial', B: '3>2 degrade', C: '2>0 degrade' });
    });
  });

  it('cancels a waiting switch when the active stitch is wanted again', () => {
    const ts = newScheduler();
    ts.run(({ cold, expectObservable }) => {
      const sw = { minDwellMs: 10, upgradeAfterMs: 0 };
      const decisions = cold('a 1ms b 1ms c 1ms d 20ms |', {
        a: wants(3, sw),
        b: wants(2, sw),
        c: wants(0, sw),
        d: wants(2, sw),
      });
      expectObservable(decisions.pipe(switchingDiscipline(catalog, { scheduler: ts }), map(brief))).toBe(
        'A 1ms B 24ms |',
        {
          A: 'undefined>3 initial',
          B: '3>2 degrade',
        },
      );
    });
  });

  it('can wait before degrading, and treats a known active stitch like any other', () => {
    const ts = newScheduler();
    ts.run(({ cold, expectObservable }) => {
      const sw = { minDwellMs: 0, degradeAfterMs: 5, upgradeAfterMs: 0 };
      const decisions = cold('a 9ms |', { a: wants(1, sw) });
      expectObservable(decisions.pipe(switchingDiscipline(catalog, { scheduler: ts, active: 3 }), map(brief))).toBe(
        '5ms A 4ms |',
        { A: '3>1 degrade' },
      );
    });
  });

  it('completes after a pending switch has been made', () => {
    const ts = newScheduler();
    ts.run(({ cold, expectObservable }) => {
      const sw = { minDwellMs: 0, upgradeAfterMs: 10 };
      const decisions = cold('a 1ms b|', { a: wants(0, sw), b: wants(3, sw) });
      expectObservable(decisions.pipe(switchingDiscipline(catalog, { scheduler: ts }), map(brief))).toBe(
        'A 11ms (B|)',
        {
          A: 'undefined>0 initial',
          B: '0>3 upgrade',
        },
      );
    });
  });

  it('property: never two switches within minDwellMs, and every switch goes where the latest decision pointed', () => {
    fc.assert(
      fc.property(
        fc.record({
          minDwellMs: fc.integer({ min: 0, max: 50 }),
          degradeAfterMs: fc.integer({ min: 0, max: 30 }),
          upgradeAfterMs: fc.integer({ min: 0, max: 60 }),
        }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 3 })), {
          minLength: 1,
          maxLength: 40,
        }),
        (sw, steps) => {
          const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
          const switches: StitchSwitch[] = [];
          const decisions: { at: number; stitch: number }[] = [];
          ts.run(({ cold }) => {
            // Step i arrives `gap` ms after step i-1 (each marble frame takes 1 ms).
            const marble = steps.map(([gap], i) => (i === 0 ? 'x' : ` ${gap}ms x`)).join('');
            let t = 0;
            steps.forEach(([gap, stitch], i) => {
              t += i === 0 ? 0 : gap + 1;
              decisions.push({ at: t, stitch });
            });
            cold(marble, { x: 0 })
              .pipe(
                map((_, i) => wants(decisions[i]?.stitch ?? 0, sw)),
                switchingDiscipline(catalog, { scheduler: ts }),
              )
              .subscribe((s) => switches.push(s));
          });
          for (let i = 1; i < switches.length; i++) {
            const prev = switches[i - 1] as StitchSwitch;
            const cur = switches[i] as StitchSwitch;
            if (prev.direction !== 'initial') expect(cur.at - prev.at).toBeGreaterThanOrEqual(sw.minDwellMs);
            expect(cur.from).toBe(prev.to);
          }
          for (const s of switches) {
            const latest = [...decisions].reverse().find((d) => d.at <= s.at);
            expect(s.to).toBe(latest?.stitch);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
