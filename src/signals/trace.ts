/**
 * Recorded device traces: parsing (CSV and JSON) and replay as a signal source, in real time or in
 * virtual time.
 *
 * **CSV format.** Lines starting with `#` are comments; blank lines are ignored. The first other
 * line is the header: `t_ms` followed by signal names (built-in, such as `battery.percent`, or an
 * application signal `app.<name>`). Each row gives the time in ms since the start of the trace
 * (non-decreasing) and new readings:
 *
 * ```csv
 * # laptop unplugged at t=0
 * t_ms,battery.percent,battery.charging,thermal.cpuC
 * 0,82,false,55
 * 60000,79,,NA
 * ```
 *
 * A number or `true`/`false` is a reading; an empty cell keeps the previous reading; `NA` (or
 * `null`) means the signal is unavailable at that time.
 *
 * **JSON format.** `{ "rows": [ { "t_ms": 0, "battery.percent": 82 }, … ] }` or just the array;
 * a missing key keeps the previous reading and `null` marks it unavailable.
 */
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { Observable, type SchedulerAction, type SchedulerLike } from 'rxjs';
import { SignalError } from '../errors.js';
import { isSignalName, signalInfo, signalNameHint, SIGNAL_NAMES } from './names.js';
import type { SignalSource } from './source.js';
import { missingReading, okReading, type Reading, type SignalPatch, type SignalValue } from './state.js';

/** One row of a trace: the readings that change at `tMs`; `null` marks a signal unavailable. */
export interface TraceRow {
  readonly tMs: number;
  readonly values: Readonly<Record<string, SignalValue | null>>;
}

/** A parsed trace. */
export interface Trace {
  /** Where it came from, for messages (a file name, or `inline`). */
  readonly name: string;
  /** Every signal the trace mentions, in column order. */
  readonly signals: readonly string[];
  /** Rows in time order. */
  readonly rows: readonly TraceRow[];
}

export interface Where {
  file?: string | undefined;
}

function invalid(
  message: string,
  where: Where,
  extra: { field?: string; hint?: string; validValues?: readonly string[]; cause?: unknown } = {},
): SignalError {
  return new SignalError('TRACE_INVALID', message, { file: where.file, ...extra });
}

function checkSignal(name: string, where: Where, field: string): void {
  if (!isSignalName(name)) {
    throw invalid(`Unknown signal "${name}" in trace`, where, { field, validValues: SIGNAL_NAMES, hint: signalNameHint() });
  }
}

function checkValue(name: string, value: unknown, where: Where, field: string): SignalValue | null {
  if (value === null) return null;
  const kind = signalInfo(name)?.kind;
  const ok = kind === undefined ? typeof value === 'number' || typeof value === 'boolean' : typeof value === kind;
  if (!ok || (typeof value === 'number' && !Number.isFinite(value))) {
    const want = kind === 'boolean' ? 'true or false' : kind === 'number' ? 'a finite number' : 'a number or true/false';
    throw invalid(`Signal "${name}" needs ${want}, got ${JSON.stringify(value)}`, where, {
      field,
      hint: 'Leave the cell empty to keep the previous reading, or write NA when the signal is unavailable',
    });
  }
  return value as SignalValue;
}

function checkTime(t: unknown, previous: number, where: Where, field: string): number {
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) {
    throw invalid(`t_ms must be a non-negative number, got ${JSON.stringify(t)}`, where, { field, hint: 't_ms is the time in ms since the start of the trace' });
  }
  if (t < previous) {
    throw invalid(`t_ms goes back in time (${t} after ${previous})`, where, { field, hint: 'Sort the rows by t_ms' });
  }
  return t;
}

function csvCell(text: string): unknown {
  const t = text.trim();
  if (/^(na|null)$/i.test(t)) return null;
  if (/^true$/i.test(t)) return true;
  if (/^false$/i.test(t)) return false;
  const n = Number(t);
  return t !== '' && Number.isFinite(n) ? n : t;
}

/** Parses a CSV trace (format in the module documentation). Throws {@link SignalError} `TRACE_INVALID` with file and line. */
export function parseTraceCsv(text: string, where: Where = {}): Trace {
  let header: string[] | undefined;
  const rows: TraceRow[] = [];
  let previous = 0;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]?.trim() ?? '';
    if (line === '' || line.startsWith('#')) continue;
    const at = `line ${i + 1}`;
    const cells = line.split(',');
    if (!header) {
      header = cells.map((c) => c.trim());
      if (header[0] !== 't_ms') throw invalid(`The first column must be t_ms, got "${header[0] ?? ''}"`, where, { field: at, hint: 'Start the header with t_ms' });
      header.slice(1).forEach((name, c) => checkSignal(name, where, `${at}, column ${c + 2}`));
      const duplicate = header.find((n, k) => header?.indexOf(n) !== k);
      if (duplicate) throw invalid(`Column "${duplicate}" appears twice`, where, { field: at });
      continue;
    }
    if (cells.length !== header.length) {
      throw invalid(`Row has ${cells.length} cells, the header has ${header.length}`, where, { field: at, hint: 'Leave a cell empty (",,") to keep the previous reading' });
    }
    const tMs = checkTime(csvCell(cells[0] ?? ''), previous, where, `${at}, t_ms`);
    previous = tMs;
    const values: Record<string, SignalValue | null> = {};
    for (let c = 1; c < header.length; c++) {
      const name = header[c] as string;
      const raw = cells[c] ?? '';
      if (raw.trim() === '') continue;
      values[name] = checkValue(name, csvCell(raw), where, `${at}, ${name}`);
    }
    rows.push({ tMs, values });
  }
  if (!header) throw invalid('The trace has no header line', where, { hint: 'The first non-comment line names the columns: t_ms,battery.percent,…' });
  return { name: where.file ?? 'inline', signals: header.slice(1), rows };
}

/** Parses a JSON trace (format in the module documentation). */
export function parseTraceJson(text: string, where: Where = {}): Trace {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw invalid(`The trace is not valid JSON: ${(e as Error).message}`, where, { cause: e, hint: 'Check the file with a JSON linter' });
  }
  const list = Array.isArray(data) ? data : (data as { rows?: unknown } | null)?.rows;
  if (!Array.isArray(list)) throw invalid('A JSON trace is an array of rows or an object with a "rows" array', where, { field: 'rows' });
  const signals: string[] = [];
  const rows: TraceRow[] = [];
  let previous = 0;
  list.forEach((row: unknown, i) => {
    const field = `rows[${i}]`;
    if (typeof row !== 'object' || row === null || Array.isArray(row)) throw invalid('A row is an object such as {"t_ms": 0, "battery.percent": 80}', where, { field });
    const { t_ms: t, ...rest } = row as Record<string, unknown>;
    const tMs = checkTime(t, previous, where, `${field}.t_ms`);
    previous = tMs;
    const values: Record<string, SignalValue | null> = {};
    for (const [name, value] of Object.entries(rest)) {
      checkSignal(name, where, `${field}["${name}"]`);
      values[name] = checkValue(name, value, where, `${field}["${name}"]`);
      if (!signals.includes(name)) signals.push(name);
    }
    rows.push({ tMs, values });
  });
  return { name: where.file ?? 'inline', signals, rows };
}

/** Parses a trace; the format is chosen by `format`, else by the file extension, else by the first character. */
export function parseTrace(text: string, options: Where & { format?: 'csv' | 'json' } = {}): Trace {
  const ext = options.file ? extname(options.file).toLowerCase() : '';
  const format = options.format ?? (ext === '.json' ? 'json' : ext === '.csv' ? 'csv' : /^\s*[[{]/.test(text) ? 'json' : 'csv');
  return format === 'json' ? parseTraceJson(text, options) : parseTraceCsv(text, options);
}

/** Reads and parses a trace file (`.csv` or `.json`). */
export function loadTrace(file: string): Trace {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new SignalError('TRACE_INVALID', `Cannot read the trace: ${(e as Error).message}`, { file, cause: e, hint: 'Check the path' });
  }
  return parseTrace(text, { file });
}

/** The readings of one row as a patch. */
export function rowPatch(row: TraceRow): SignalPatch {
  const patch: Record<string, Reading> = {};
  for (const [name, value] of Object.entries(row.values)) patch[name] = value === null ? missingReading('unavailable') : okReading(value);
  return patch;
}

/** The time of the last row, ms. */
export function traceDurationMs(trace: Trace): number {
  return trace.rows.at(-1)?.tMs ?? 0;
}

/** Options of {@link traceSource}. */
export interface TraceSourceOptions {
  /** Replay speed: 2 plays twice as fast. Default 1. */
  speed?: number;
}

/**
 * Replays a trace: each row is emitted `row.tMs / speed` after subscription, on the scheduler the
 * pipeline passes in. With `asyncScheduler` that is real time; with a `VirtualTimeScheduler` or
 * the `TestScheduler` a long trace replays instantly. The stream completes after the last row.
 */
export function traceSource(trace: Trace, options: TraceSourceOptions = {}): SignalSource {
  const speed = options.speed ?? 1;
  if (!(speed > 0)) throw new SignalError('TRACE_INVALID', `Replay speed must be positive, got ${speed}`, { option: 'speed' });
  return {
    name: `trace:${trace.name}`,
    readings(scheduler: SchedulerLike): Observable<SignalPatch> {
      return new Observable<SignalPatch>((subscriber) => {
        const start = scheduler.now();
        const due = (i: number) => Math.max(0, start + (trace.rows[i]?.tMs ?? 0) / speed - scheduler.now());
        if (trace.rows.length === 0) {
          subscriber.complete();
          return undefined;
        }
        return scheduler.schedule(function (this: SchedulerAction<number>, index = 0) {
          let i = index;
          // Emit every row that is due now (rows sharing a time come out together, in order).
          do subscriber.next(rowPatch(trace.rows[i++] as TraceRow));
          while (i < trace.rows.length && due(i) === 0);
          if (i < trace.rows.length) this.schedule(i, due(i));
          else subscriber.complete();
        }, due(0), 0);
      });
    },
  };
}
