import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { plotTargets } from '../../src/cli/plot-output.js';
import { useFiguresFixture } from './figures.js';
import { cli } from './helpers.js';

const fixture = useFiguresFixture('stitchnet-simulate-');

interface SimulationJson {
  model: string;
  durationMs: number;
  switches: {
    atMs: number;
    from: number | null;
    to: number;
    direction: 'initial' | 'degrade' | 'upgrade';
    rules: { name: string; readings: { signal: string; value: number | boolean | null; test: string }[] }[];
    reason: string;
  }[];
  timePerStitch: { stitch: number; ms: number; fraction: number }[];
  overBudgetMs: number;
  outOfLimitsMs: number;
  plot: string[];
}

const simulate = (trace: string, profile: string, extra: string[] = [], model = fixture.designed) =>
  cli([
    'simulate',
    '--model',
    model,
    '--profile',
    `profiles/${profile}.yaml`,
    '--trace',
    `examples/traces/${trace}.csv`,
    ...extra,
  ]);

/** The shipped traces with the profile examples/traces/README.md pairs them with, and the rule that must act. */
const PAIRS = [
  ['laptop-unplugged', 'balanced', 'low-battery'],
  ['heating-throttling', 'thermal-guard', 'heating-up'],
  ['gpu-contention', 'performance', 'gpu-busy'],
  ['noisy-sensor', 'balanced', 'hot'],
] as const;

describe('stitchnet simulate', () => {
  it.each(PAIRS)(
    '%s × %s: switches with their time, direction and reason, then a summary',
    async (trace, profile, rule) => {
      const r = await simulate(trace, profile, ['--json']);
      expect(r.code).toBe(0);
      const j = JSON.parse(r.stdout) as SimulationJson;
      const moves = j.switches.filter((s) => s.direction !== 'initial');
      expect(j.switches[0]?.direction).toBe('initial');
      expect(moves.length).toBeGreaterThanOrEqual(1);
      const first = moves[0];
      expect(first?.direction).toBe('degrade');
      expect(first?.rules.map((x) => x.name)).toContain(rule);
      expect(first?.rules.find((x) => x.name === rule)?.readings.length).toBeGreaterThan(0);
      expect(first?.reason).toContain(rule);
      const total = j.timePerStitch.reduce((a, t) => a + t.ms, 0);
      expect(total).toBe(j.durationMs);
      expect(j.plot).toEqual([]);
    },
  );

  it('prints each switch and its reason, then the summary, the same on every run (virtual time)', async () => {
    const a = await simulate('laptop-unplugged', 'balanced');
    const b = await simulate('laptop-unplugged', 'balanced');
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    // One line per switch (clock, direction, stitches and MACs), its reason under it.
    expect(a.stdout).toMatch(
      /\n\s*18:33 {2}degrade {2}stitch \d+ → \d+ \([\d.]+ kMACs → [\d.]+ kMACs\), wanted for 0:03\n\s+rules low-battery \(battery\.percent=29\.5 below 30, battery\.charging=false\); limits cost ≤ 0\.6 of max \(low-battery\)/,
    );
    expect(a.stdout).toMatch(/\n2 switches after the initial choice \(2 down, 0 up\) over 40:00\n/);
    // one MACs unit throughout the report (the package's costliest stitch's): the table header names it
    expect(a.stdout).toMatch(/\n {2}stitch +kMACs +time +share\n/);
    expect(a.stdout).toMatch(/Over budget \(no stitch met every limit\): 0:00 \(0\.0 %\)/);
  });

  it('counts the time over budget', async () => {
    const r = await simulate('laptop-unplugged', 'battery-saver', ['--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as SimulationJson;
    // Below the floor of battery-saver's nearly-empty rule no stitch is accurate enough.
    expect(j.overBudgetMs).toBeGreaterThan(0);
    expect(j.overBudgetMs).toBeLessThan(j.durationMs);
    expect(j.outOfLimitsMs).toBeGreaterThanOrEqual(j.overBudgetMs);
  });

  it('writes the timeline to each --plot file, the extension picking SVG or PNG; the note goes to stderr', async () => {
    const svgFile = path.join(fixture.dir, 'plots', 'laptop.svg');
    const r = await simulate('laptop-unplugged', 'balanced', [
      '--plot',
      svgFile,
      '--plot',
      path.join(fixture.dir, 'plots', 'laptop.png'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(
      `note: wrote the timeline to ${svgFile} and ${path.join(fixture.dir, 'plots', 'laptop.png')}`,
    );
    expect(r.stdout).not.toContain('wrote');
    const svg = await readFile(svgFile, 'utf8');
    expect(svg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    // A panel per signal of the trace, the rule thresholds, and the active stitch.
    for (const label of ['battery.percent', 'thermal.cpuC', 'cpu.load', 'low-battery: below 30', 'Active stitch'])
      expect(svg).toContain(label);
    const png = await readFile(path.join(fixture.dir, 'plots', 'laptop.png'));
    expect([...png.subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
  });

  it('picks the format of each plot file from its extension', () => {
    expect(plotTargets('--plot', ['t.svg'])).toEqual([{ file: 't.svg', format: 'svg' }]);
    expect(plotTargets('--plot', ['t.svg', 't.PNG', 't.svg'])).toEqual([
      { file: 't.svg', format: 'svg' },
      { file: 't.PNG', format: 'png' },
    ]);
    expect(() => plotTargets('--plot', ['t.jpg'])).toThrow(
      /--plot takes a file ending in \.svg or \.png.*--plot t\.svg --plot t\.png/,
    );
    expect(() => plotTargets('--plot', [true])).toThrow(/--plot needs a file/);
    expect(plotTargets('--plot', [true], 'x-pareto.svg')).toEqual([{ file: 'x-pareto.svg', format: 'svg' }]);
  });

  it('rejects the old --out and --png with the --plot form to use', async () => {
    const out = await simulate('laptop-unplugged', 'balanced', ['--out', path.join(fixture.dir, 'old.svg')]);
    expect(out.code).toBe(2);
    expect(out.stderr).toMatch(/--out is no longer an option.*--plot .*old\.svg/);
    const png = await simulate('laptop-unplugged', 'balanced', ['--png']);
    expect(png.code).toBe(2);
    expect(png.stderr).toMatch(/--png is no longer an option.*--plot timeline\.svg --plot timeline\.png/);
  });

  it('warns on stderr when the package has no accuracy figures, and still simulates', async () => {
    const r = await simulate('laptop-unplugged', 'balanced', [], fixture.plain);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^warning: plain has no accuracy figures/m);
    expect(r.stdout).toMatch(/degrade {2}stitch/);
  });

  it('refuses a profile that does not fit the package, with file and line', async () => {
    const r = await simulate('laptop-unplugged', 'battery-saver', [], fixture.plain);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /line \d+, column \d+: The package has no accuracy figures, so minAccuracy can never be met/,
    );
    expect(r.stderr).toContain('battery-saver.yaml');
  });

  it('rejects bad options with exit code 2', async () => {
    expect((await simulate('laptop-unplugged', 'balanced', ['--plot', path.join(fixture.dir, 'x.jpg')])).code).toBe(2);
    const provider = await simulate('laptop-unplugged', 'balanced', ['--provider', 'cuda']);
    expect(provider.code).toBe(2);
    expect(provider.stderr).toContain('"cpu"');
    expect((await cli(['simulate', '--model', fixture.designed, '--profile', 'profiles/balanced.yaml'])).code).toBe(2);
  });
});
