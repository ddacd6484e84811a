import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { map } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { SignalError } from '../../src/errors.js';
import {
  loadTrace,
  parseTrace,
  parseTraceCsv,
  parseTraceJson,
  traceDurationMs,
  traceSource,
} from '../../src/signals/trace.js';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

const CSV = `# a comment
t_ms,battery.percent,battery.charging,thermal.cpuC,app.frameDeadlineMs

0,80,false,55,16
1000,79,,NA,
1000,,true,,
3000,78.5,,60,8
`;

function thrown(f: () => unknown): SignalError {
  try {
    f();
  } catch (e) {
    if (e instanceof SignalError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('CSV traces', () => {
  it('reads readings, keeps empty cells out and marks NA unavailable', () => {
    const t = parseTraceCsv(CSV, { file: 'x.csv' });
    expect(t.signals).toEqual(['battery.percent', 'battery.charging', 'thermal.cpuC', 'app.frameDeadlineMs']);
    expect(t.rows).toEqual([
      {
        tMs: 0,
        values: { 'battery.percent': 80, 'battery.charging': false, 'thermal.cpuC': 55, 'app.frameDeadlineMs': 16 },
      },
      { tMs: 1000, values: { 'battery.percent': 79, 'thermal.cpuC': null } },
      { tMs: 1000, values: { 'battery.charging': true } },
      { tMs: 3000, values: { 'battery.percent': 78.5, 'thermal.cpuC': 60, 'app.frameDeadlineMs': 8 } },
    ]);
    expect(traceDurationMs(t)).toBe(3000);
  });

  it('rejects an unknown column with the valid names', () => {
    const e = thrown(() => parseTraceCsv('t_ms,battery.pct\n0,1\n', { file: 'x.csv' }));
    expect(e.code).toBe('TRACE_INVALID');
    expect(e.file).toBe('x.csv');
    expect(e.field).toBe('line 1, column 2');
    expect(e.validValues).toContain('battery.percent');
  });

  it('rejects a value of the wrong kind, naming the line and column', () => {
    const e = thrown(() => parseTraceCsv('t_ms,battery.charging\n0,false\n10,maybe\n', { file: 'x.csv' }));
    expect(e.field).toBe('line 3, column 2 (battery.charging)');
    expect(e.message).toContain('true or false');
    expect(thrown(() => parseTraceCsv('t_ms,cpu.load\n0,high\n')).field).toBe('line 2, column 2 (cpu.load)');
  });

  it('rejects time going backwards, ragged rows and a missing t_ms column', () => {
    expect(thrown(() => parseTraceCsv('t_ms,cpu.load\n10,1\n5,2\n')).message).toContain('back in time');
    expect(thrown(() => parseTraceCsv('t_ms,cpu.load\n10,1,3\n')).message).toContain('3 cells');
    expect(thrown(() => parseTraceCsv('cpu.load,t_ms\n1,0\n')).message).toContain('first column must be t_ms');
    expect(thrown(() => parseTraceCsv('# only comments\n')).message).toContain('no header');
  });
});

describe('JSON traces', () => {
  it('reads rows from an object or an array; null is unavailable', () => {
    const rows = [
      { t_ms: 0, 'gpu.utilization': 30 },
      { t_ms: 500, 'gpu.utilization': null, 'app.x': true },
    ];
    const a = parseTraceJson(JSON.stringify({ rows }));
    const b = parseTrace(JSON.stringify(rows));
    expect(a.rows).toEqual(b.rows);
    expect(a.rows[1]).toEqual({ tMs: 500, values: { 'gpu.utilization': null, 'app.x': true } });
    expect(a.signals).toEqual(['gpu.utilization', 'app.x']);
  });

  it('rejects bad JSON, unknown signals and bad times with the row', () => {
    expect(thrown(() => parseTraceJson('{')).message).toContain('not valid JSON');
    expect(thrown(() => parseTraceJson('[{"t_ms":0,"cpu.lod":1}]')).field).toBe('rows[0]["cpu.lod"]');
    expect(thrown(() => parseTraceJson('[{"cpu.load":1}]')).field).toBe('rows[0].t_ms');
    expect(thrown(() => parseTraceJson('{"x":1}')).field).toBe('rows');
  });
});

describe('traceSource', () => {
  it('replays rows at their times in virtual time, rows sharing a time together, then completes', () => {
    const ts = scheduler();
    ts.run(({ expectObservable }) => {
      const out = traceSource(parseTraceCsv(CSV))
        .readings(ts)
        .pipe(map((p) => Object.keys(p).length));
      expectObservable(out).toBe('a 999ms (bc) 1996ms (d|)', { a: 4, b: 2, c: 1, d: 3 });
    });
  });

  it('replays faster with a speed factor', () => {
    const ts = scheduler();
    ts.run(({ expectObservable }) => {
      const out = traceSource(parseTraceCsv(CSV), { speed: 10 })
        .readings(ts)
        .pipe(map((p) => Object.keys(p).length));
      expectObservable(out).toBe('a 99ms (bc) 196ms (d|)', { a: 4, b: 2, c: 1, d: 3 });
    });
  });

  it('marks NA readings unavailable', () => {
    const ts = scheduler();
    ts.run(({ expectObservable }) => {
      const out = traceSource(parseTraceCsv(CSV))
        .readings(ts)
        .pipe(map((p) => p['thermal.cpuC']));
      expectObservable(out).toBe('a 999ms (bc) 1996ms (d|)', {
        a: { value: 55, quality: 'ok' },
        b: { value: undefined, quality: 'unavailable' },
        c: undefined,
        d: { value: 60, quality: 'ok' },
      });
    });
  });

  it('loads files by extension and reports unreadable ones', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stitchnet-trace-'));
    try {
      writeFileSync(join(dir, 't.csv'), CSV);
      writeFileSync(join(dir, 't.json'), JSON.stringify([{ t_ms: 0, 'cpu.load': 1 }]));
      expect(loadTrace(join(dir, 't.csv')).rows).toHaveLength(4);
      expect(loadTrace(join(dir, 't.json')).rows).toHaveLength(1);
      expect(thrown(() => loadTrace(join(dir, 'missing.csv'))).code).toBe('TRACE_INVALID');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the shipped example traces', () => {
  const dir = join(import.meta.dirname, '../../examples/traces');
  const files = readdirSync(dir).filter((f) => f.endsWith('.csv'));

  it('are four documented CSV files', () => {
    expect(files.sort()).toEqual([
      'gpu-contention.csv',
      'heating-throttling.csv',
      'laptop-unplugged.csv',
      'noisy-sensor.csv',
    ]);
  });

  it.each(files)('%s parses and starts with a description', (file) => {
    expect(readFileSync(join(dir, file), 'utf8').startsWith('# ')).toBe(true);
    const trace = loadTrace(join(dir, file));
    expect(trace.rows.length).toBeGreaterThan(50);
    expect(traceDurationMs(trace)).toBeGreaterThanOrEqual(5 * 60_000);
  });
});
