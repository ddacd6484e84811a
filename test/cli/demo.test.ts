import { existsSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { interval, take, VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { LiveOutput, type DemoSummary, type LiveStream } from '../../src/cli/demo-view.js';
import { scaledScheduler } from '../../src/cli/scaled-scheduler.js';
import { cli, root, useTempDir } from './helpers.js';

const cache = useTempDir('stitchnet-demo-');

describe('stitchnet demo', () => {
  it('runs live on a trace for 2 s: status lines, stitch changes with reasons, a summary; says when the weights are random', async () => {
    const shipped = existsSync(path.join(root, 'models', 'fmnist-vit', 'stitchnet.json'));
    // The whole 40-minute trace in one second, so that its battery rules fire well within the run.
    const r = await cli([
      'demo',
      '--duration',
      '2',
      '--trace',
      'examples/traces/laptop-unplugged.csv',
      '--speed',
      '2400',
      '--cache',
      cache.dir,
      '--provider',
      'cpu',
    ]);
    expect(r.code).toBe(0);
    if (shipped) {
      expect(r.stdout + r.stderr).not.toContain('RANDOM WEIGHTS');
    } else {
      // notices go to stderr; stdout carries the run
      expect(r.stderr).toContain('RANDOM WEIGHTS. This stand-in family has untrained, random weights');
      expect(r.stderr).toContain(
        'Reminder: random weights; the accuracy above means nothing (npm install @stitchnet/fmnist-vit for the trained family).',
      );
      expect(existsSync(path.join(cache.dir, 'demo-random-vit-v1', 'stitchnet.json'))).toBe(true);
    }
    expect(r.stdout).toMatch(/signals: trace examples\/traces\/laptop-unplugged\.csv \(40:00 played 2400× faster\)/);
    // A degrade driven by the trace's battery, with the rule and the reading that matched.
    expect(r.stdout).toMatch(
      /^ *\d+:\d\d(\.\d)? {2}down {2}stitch \d+ → \d+ \([\d.]+ [kMG]MACs → [\d.]+ [kMG]MACs\): rules .*critical-battery \(battery\.percent=1\d(\.5)? below 15, battery\.charging=false\)/m,
    );
    // Not a terminal: plain status lines (one a second), no cursor movement.
    expect(r.stdout).toMatch(
      /^ *\d+:\d\d(\.\d)? {2}stitch \d+ {2}[\d.]+ [kMG]MACs {2}p50 [\d.]+ ms {2}acc [\d.]+ % of \d+ {2}battery \d+ % on battery {2}cpu \d+ °C/m,
    );
    expect(r.stdout).not.toContain('\x1b[');
    expect(r.stdout).toMatch(/\nRan \d+ inferences in [\d.]+ s/);
    expect(r.stdout).toMatch(/\n {2}stitch +[kMG]MACs +active +share +runs +p50 ms +accuracy\n/);
  });

  it('--json prints the summary as JSON; --record writes a trace that simulate replays to the same switches', async () => {
    const recorded = path.join(cache.dir, 'recorded.csv');
    // 40 minutes of trace in 4 s: a sampling period of the trace (30 s) is 50 ms of wall time.
    const r = await cli([
      'demo',
      '--duration',
      '4',
      '--trace',
      'examples/traces/laptop-unplugged.csv',
      '--speed',
      '600',
      '--cache',
      cache.dir,
      '--provider',
      'cpu',
      '--json',
      '--record',
      recorded,
    ]);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as DemoSummary;
    expect(summary.runs).toBeGreaterThan(0);
    expect(summary.stitches.reduce((a, s) => a + s.runs, 0)).toBe(summary.runs);
    expect(summary.switches.length).toBeGreaterThan(0);
    for (const s of summary.switches)
      expect(s).toEqual({
        atMs: expect.any(Number),
        from: expect.any(Number),
        to: expect.any(Number),
        direction: expect.stringMatching(/^(degrade|upgrade)$/),
        cause: 'policy',
        reason: expect.any(String),
      });
    expect(r.stderr).toContain(`Recorded every reading the policy saw to ${recorded}`);

    const model = r.stderr.match(/--model (\S+)/)?.[1] ?? '';
    expect(model).not.toBe('');
    const sim = await cli([
      'simulate',
      '--model',
      model,
      '--profile',
      'profiles/balanced.yaml',
      '--trace',
      recorded,
      '--provider',
      'cpu',
      '--json',
    ]);
    expect(sim.code).toBe(0);
    const replayed = (
      JSON.parse(sim.stdout) as { switches: { atMs: number; from: number | null; to: number }[] }
    ).switches.filter((s) => s.from !== null);
    expect(replayed.map((s) => [s.from, s.to])).toEqual(summary.switches.map((s) => [s.from, s.to]));
    replayed.forEach((s, i) => expect(Math.abs(s.atMs - (summary.switches[i]?.atMs ?? 0))).toBeLessThanOrEqual(30_000));
  });

  it('refuses --speed without --trace', async () => {
    const r = await cli(['demo', '--speed', '10']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--speed only applies to --trace');
  });
});

describe('scaledScheduler', () => {
  it('runs the clock and every delay, rescheduled ones included, `speed` times faster', () => {
    const base = new VirtualTimeScheduler(VirtualAction, Infinity);
    const fast = scaledScheduler(100, base);
    const seen: [number, number][] = [];
    // interval() reschedules its own action: each period must be scaled too.
    interval(1000, fast)
      .pipe(take(3))
      .subscribe(() => seen.push([base.now(), fast.now()]));
    base.flush();
    expect(seen).toEqual([
      [10, 1000],
      [20, 2000],
      [30, 3000],
    ]);
  });
});

describe('LiveOutput', () => {
  const stream = (tty: boolean, columns?: number) => {
    const chunks: string[] = [];
    const out = new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk.toString());
        done();
      },
    }) as LiveStream;
    out.isTTY = tty;
    if (columns !== undefined) out.columns = columns;
    return { out, text: () => chunks.join('') };
  };

  it('on a terminal, redraws the status block in place, keeps event lines above it and cuts lines to the width', () => {
    const s = stream(true, 11);
    const live = new LiveOutput(s.out);
    live.status(['0:01  stitch 3', '      cpu 40 °C']);
    live.status(['0:02  stitch 3', '      cpu 41 °C']);
    live.line('0:02  down  stitch 3 → 1');
    live.status(['0:03  stitch 1', '      cpu 42 °C']);
    live.end();
    const erase = '\r\x1b[2K\x1b[1A\x1b[2K';
    expect(s.text()).toBe(
      `0:01  stit\n      cpu ${erase}0:02  stit\n      cpu ${erase}0:02  down  stitch 3 → 1\n0:03  stit\n      cpu \n`,
    );
  });

  it('elsewhere, prints every status as one plain line', () => {
    const s = stream(false);
    const live = new LiveOutput(s.out);
    live.status(['0:01  stitch 3', '      cpu 40 °C']);
    live.line('0:01  down  stitch 3 → 1');
    live.end();
    expect(s.text()).toBe('0:01  stitch 3  cpu 40 °C\n0:01  down  stitch 3 → 1\n');
  });
});
