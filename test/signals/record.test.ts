import { VirtualAction, VirtualTimeScheduler } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { OptionError } from '../../src/errors.js';
import { TraceRecorder, traceCsvHeader, traceCsvRow } from '../../src/signals/record.js';
import { missingReading, okReading } from '../../src/signals/state.js';
import { parseTraceCsv } from '../../src/signals/trace.js';
import { FakeSignalSource } from '../../src/testing/index.js';

describe('recording readings as a trace CSV', () => {
  it('writes a value, NA for a missing reading, and an empty cell for a signal not in the update', () => {
    const signals = ['battery.percent', 'battery.charging', 'thermal.cpuC'];
    expect(traceCsvHeader(signals)).toBe('t_ms,battery.percent,battery.charging,thermal.cpuC\n');
    expect(
      traceCsvRow(1500, { 'battery.percent': okReading(42), 'thermal.cpuC': missingReading('timeout') }, signals),
    ).toBe('1500,42,,NA\n');
  });

  it('records from the start of the loop, starts a late recording with the latest readings, and names app signals only when asked', () => {
    const scheduler = new VirtualTimeScheduler(VirtualAction, Infinity);
    const recorder = new TraceRecorder();
    recorder.start(scheduler.now());
    const fake = new FakeSignalSource()
      .at(1000, { 'battery.percent': 80, 'app.fps': 30 })
      .at(2000, { 'battery.percent': 79 })
      .at(3000, { 'app.fps': 25 });
    const source = recorder.tap(fake, scheduler);
    source.readings(scheduler).subscribe();
    const early: string[] = [];
    recorder.lines(scheduler, { signals: ['battery.percent', 'app.fps'] }).subscribe((l) => early.push(l));
    const late: string[] = [];
    scheduler.schedule(() => recorder.lines(scheduler).subscribe((l) => late.push(l)), 1500);
    scheduler.flush();
    recorder.complete();
    expect(early).toEqual(['t_ms,battery.percent,app.fps\n', '1000,80,30\n', '2000,79,\n', '3000,,25\n']);
    const trace = parseTraceCsv(late.join(''));
    // The latest readings at 1500 first, then each update; app.fps is not a default column.
    expect(trace.rows.map((r) => [r.tMs, r.values['battery.percent']])).toEqual([
      [1500, 80],
      [2000, 79],
    ]);
    expect(trace.signals).not.toContain('app.fps');
  });

  it.each([
    [['battery.percent', 'bogus'], /"bogus" is not a signal name/],
    [['battery.percent', 'app.a,b'], /"app.a,b" is not a signal name/],
    [['battery.percent', 'battery.percent'], /"battery.percent" twice/],
    [[], /non-empty list/],
    ['battery.percent', /non-empty list of signal names, got "battery.percent"/],
    [[42], /42 is not a signal name/],
  ])('refuses the columns %j with OPTION_INVALID naming the option, and records nothing', (signals, message) => {
    const scheduler = new VirtualTimeScheduler(VirtualAction, Infinity);
    const recorder = new TraceRecorder();
    let error: unknown;
    try {
      recorder.lines(scheduler, { signals: signals as string[] });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(OptionError);
    expect(error).toMatchObject({ code: 'OPTION_INVALID', option: 'signals', message: expect.stringMatching(message) });
  });
});
