/**
 * Hostile traces: a real CSV parser (quotes, CRLF, BOM), plausible values only (with file, line
 * and column), no empty or header-only traces, long files streamed.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignalError } from '../../src/errors.js';
import { loadTrace, parseTraceCsv, parseTraceJson } from '../../src/signals/trace.js';

function thrown(run: () => unknown): SignalError {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(SignalError);
    expect((e as SignalError).code).toBe('TRACE_INVALID');
    expect((e as SignalError).hint).toBeTruthy();
    return e as SignalError;
  }
  throw new Error('expected a TRACE_INVALID error');
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-trace-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('CSV traces through a real parser', () => {
  it('accepts a BOM, a quoted header and cells, and CRLF line ends', () => {
    const t = parseTraceCsv(
      '\uFEFF"t_ms","battery.percent","battery.charging"\r\n# a comment\r\n0,"80",false\r\n1000,79,\r\n',
    );
    expect(t.signals).toEqual(['battery.percent', 'battery.charging']);
    expect(t.rows).toEqual([
      { tMs: 0, values: { 'battery.percent': 80, 'battery.charging': false } },
      { tMs: 1000, values: { 'battery.percent': 79 } },
    ]);
  });

  it('says where a quote is not closed', () => {
    const e = thrown(() => parseTraceCsv('t_ms,cpu.load\n0,"12\n', { file: 'q.csv' }));
    expect(e.message).toMatch(/not valid CSV/);
    expect(e.file).toBe('q.csv');
  });

  it('refuses empty and header-only traces', () => {
    expect(thrown(() => parseTraceCsv('')).message).toMatch(/empty/);
    expect(thrown(() => parseTraceCsv('# nothing\n\n')).message).toMatch(/empty/);
    expect(thrown(() => parseTraceCsv('t_ms,battery.percent\n', { file: 'h.csv' })).message).toMatch(
      /header but no rows/,
    );
    expect(thrown(() => parseTraceJson('[]')).message).toMatch(/no rows/);
    expect(thrown(() => parseTraceJson('{"rows": []}')).message).toMatch(/no rows/);
  });

  it('refuses a value outside its signal’s range with file, line and column', () => {
    const e = thrown(() => parseTraceCsv('t_ms,cpu.load,battery.percent\n0,10,80\n1000,12,150\n', { file: 'r.csv' }));
    expect(e.file).toBe('r.csv');
    expect(e.field).toBe('line 3, column 3 (battery.percent)');
    expect(e.message).toMatch(/150 is above its range 0..100 %/);
    expect(thrown(() => parseTraceCsv('t_ms,battery.percent\n0,-5\n')).message).toMatch(/-5 is below its range/);
    expect(thrown(() => parseTraceCsv('t_ms,cpu.load\n0,-1\n')).field).toBe('line 2, column 2 (cpu.load)');
    expect(thrown(() => parseTraceCsv('t_ms,cpu.load\n0,Infinity\n')).message).toMatch(/finite/);
    expect(thrown(() => parseTraceJson('[{"t_ms": 0, "battery.percent": 101}]', { file: 'r.json' })).field).toBe(
      'rows[0]["battery.percent"]',
    );
  });

  it('suggests the signal a misspelt column meant', () => {
    expect(thrown(() => parseTraceCsv('t_ms,battery.percnt\n0,1\n')).message).toMatch(/did you mean "battery.percent"/);
  });
});

describe('trace files', () => {
  it('accepts a BOM in a JSON trace', async () => {
    const file = path.join(dir, 'bom.json');
    await writeFile(file, '\uFEFF[{"t_ms": 0, "cpu.load": 5}]');
    expect(loadTrace(file).rows).toHaveLength(1);
  });

  it('streams a long CSV file (100,000 rows over several read chunks) with the right line numbers', async () => {
    const file = path.join(dir, 'long.csv');
    const lines = ['t_ms,cpu.load,battery.percent'];
    for (let i = 0; i < 100_000; i++) lines.push(`${i * 1000},${i % 100},${100 - (i % 100)}`);
    await writeFile(file, `${lines.join('\r\n')}\r\n`);
    const t = loadTrace(file);
    expect(t.rows).toHaveLength(100_000);
    expect(t.rows.at(-1)).toEqual({ tMs: 99_999_000, values: { 'cpu.load': 99, 'battery.percent': 1 } });
    lines[80_001] = '80000000,50,101';
    await writeFile(file, `${lines.join('\n')}\n`);
    expect(thrown(() => loadTrace(file)).field).toBe('line 80002, column 3 (battery.percent)');
  });
});
