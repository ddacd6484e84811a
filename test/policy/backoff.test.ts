/**
 * The switching discipline in virtual time: the backoff of failed upgrades and the smoothing of
 * the upgrade wait, through the one policy loop (as `simulate` and the runtime run it).
 */
import { describe, expect, it } from 'vitest';
import { profileFromObject } from '../../src/profiles/parse.js';
import type { ProfileInput } from '../../src/profiles/schema.js';
import { catalogOf, replayTrace, traceFromRows } from '../../src/testing/index.js';

const catalog = catalogOf([
  { id: 0, macs: 1, accuracy: 0.6 },
  { id: 1, macs: 2, accuracy: 0.7 },
  { id: 2, macs: 4, accuracy: 0.8 },
]);

/** One row per second from 0 to `seconds`, the value of `signal` given by `at(second)`. */
function everySecond(seconds: number, signal: string, at: (s: number) => number): Record<string, number>[] {
  return Array.from({ length: seconds + 1 }, (_, s) => ({ t_ms: s * 1000, [signal]: at(s) }));
}

const switchesOf = (rows: Record<string, number>[], input: ProfileInput) => {
  const replay = replayTrace({ trace: traceFromRows(rows), profile: profileFromObject(input), catalog });
  return { ...replay, brief: replay.switches.map((s) => [s.at / 1000, s.to, s.direction]) };
};

describe('backoff of failed upgrades', () => {
  const slowProfile: ProfileInput = {
    rules: [{ name: 'slowed-down', when: { 'inference.slowdown': { above: 1.5 } }, limit: { maxCostFraction: 0.3 } }],
    switching: {
      minDwellMs: 5000,
      upgradeAfterMs: 20_000,
      backoff: { windowMs: 60_000, factor: 2, maxMs: 60_000, resetAfterMs: 300_000 },
    },
    sampling: { smoothing: {} },
  };
  const slowAt = (spans: [number, number][]) => (s: number) => (spans.some(([a, b]) => s >= a && s < b) ? 2 : 1);

  it('an upgrade reversed by a latency rule within the window waits twice as long next time, up to the cap, and the backoff resets after a stable period', () => {
    const rows = everySecond(
      450,
      'inference.slowdown',
      slowAt([
        [10, 11],
        [35, 37],
        [80, 83],
        [400, 401],
      ]),
    );
    const { brief, decisions } = switchesOf(rows, slowProfile);
    expect(brief).toEqual([
      [0, 2, 'initial'],
      [10, 0, 'degrade'],
      [31, 2, 'upgrade'], // wanted from 11 for upgradeAfterMs (20 s)
      [36, 0, 'degrade'], // reversed 5 s later (the dwell): a failed upgrade
      [77, 2, 'upgrade'], // wanted from 37: 40 s
      [82, 0, 'degrade'], // failed again
      [143, 2, 'upgrade'], // wanted from 83: 80 s, capped at maxMs (60 s)
      [400, 0, 'degrade'], // long after the window: not a failure
      [421, 2, 'upgrade'], // 300 s without a failure: back to 20 s
    ]);
    const held = decisions.find((d) => d.at === 60_000);
    expect(held?.hold).toMatchObject({ kind: 'backoff', stitch: 2, untilMs: 77_000 });
    expect(held?.hold?.summary).toMatch(/upgrade to stitch 2 held by backoff \(1 failed upgrade: wait 40 s\)/);
    expect(decisions.find((d) => d.at === 20_000)?.hold).toMatchObject({ kind: 'upgrade-wait', untilMs: 31_000 });
  });

  it('a reversal by a rule that is not about latency is not a failure', () => {
    const rows = everySecond(120, 'battery.percent', (s) => ((s >= 10 && s < 11) || (s >= 35 && s < 37) ? 10 : 80));
    const { brief } = switchesOf(rows, {
      rules: [{ name: 'low-battery', when: { 'battery.percent': { below: 20 } }, limit: { maxCostFraction: 0.3 } }],
      switching: { minDwellMs: 5000, upgradeAfterMs: 20_000 },
      sampling: { smoothing: {} },
    });
    expect(brief).toEqual([
      [0, 2, 'initial'],
      [10, 0, 'degrade'],
      [31, 2, 'upgrade'],
      [36, 0, 'degrade'],
      [57, 2, 'upgrade'], // wanted from 37: 20 s, no backoff
    ]);
  });

  it('factor 1 turns the backoff off', () => {
    const rows = everySecond(
      120,
      'inference.slowdown',
      slowAt([
        [10, 11],
        [35, 37],
      ]),
    );
    const { brief } = switchesOf(rows, {
      ...slowProfile,
      switching: { ...slowProfile.switching, backoff: { factor: 1 } },
    });
    expect(brief.at(-1)).toEqual([57, 2, 'upgrade']);
  });
});

describe('smoothing of the upgrade wait', () => {
  const battery = (quorum: number | undefined): ProfileInput => ({
    rules: [{ name: 'low-battery', when: { 'battery.percent': { below: 30 } }, limit: { maxCostFraction: 0.3 } }],
    switching: { minDwellMs: 0, upgradeAfterMs: 20_000, ...(quorum === undefined ? {} : { upgradeQuorum: quorum }) },
    sampling: { smoothing: {} },
  });
  const lowAt = (spans: [number, number][]) => (s: number) =>
    s === 0 || spans.some(([a, b]) => s >= a && s < b) ? 20 : 50;

  it('one noisy sample does not restart a pending upgrade (default quorum 0.75)', () => {
    const { brief } = switchesOf(everySecond(60, 'battery.percent', lowAt([[10, 11]])), battery(undefined));
    expect(brief).toEqual([
      [0, 2, 'initial'], // the profile alone, before any reading
      [0, 0, 'initial'], // corrected by the first reading (battery 20), at once
      [21, 2, 'upgrade'], // wanted from 1 (19 of the last 20 s)
    ]);
  });

  it('with quorum 1 every decision must want it: the same sample restarts the wait', () => {
    const { brief } = switchesOf(everySecond(60, 'battery.percent', lowAt([[10, 11]])), battery(1));
    expect(brief.at(-1)).toEqual([31, 2, 'upgrade']);
  });

  it('a gap longer than the rest of the wait ((1 − quorum) × upgradeAfterMs) is a real change and restarts it', () => {
    const { brief } = switchesOf(everySecond(80, 'battery.percent', lowAt([[10, 16]])), battery(undefined));
    expect(brief.at(-1)).toEqual([36, 2, 'upgrade']);
  });

  it('a short gap delays the upgrade until it was wanted for the quorum of the wait', () => {
    // Wanted from 1, not wanted 10–14 (4 s, within the 5 s tolerance): the wait ends at 21, but
    // only 16 of the last 20 s wanted it; 15 of 20 suffice, reached at 21 anyway.
    const { brief } = switchesOf(everySecond(80, 'battery.percent', lowAt([[10, 14]])), battery(undefined));
    expect(brief.at(-1)).toEqual([21, 2, 'upgrade']);
    // With a 0.9 quorum (2 s tolerance) the same 4 s gap restarts the wait at 14.
    expect(switchesOf(everySecond(80, 'battery.percent', lowAt([[10, 14]])), battery(0.9)).brief.at(-1)).toEqual([
      34,
      2,
      'upgrade',
    ]);
  });
});
