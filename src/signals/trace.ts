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
 * `null`) means the signal is unavailable at that time. Cells may be quoted (`"t_ms"`), lines end
 * in LF or CRLF, and a UTF-8 byte order mark is ignored. Every value must lie in its signal's
 * range (`SIGNALS` in names); a trace needs a header and at least one row.
 *
 * **JSON format.** `{ "rows": [ { "t_ms": 0, "battery.percent": 82 }, … ] }` or just the array;
 * a missing key keeps the previous reading and `null` marks it unavailable.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { extname } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { parse as parseCsv, type Options as CsvOptions } from 'csv-parse';
import { didYouMean as closest } from '../base/text.js';
import { Observable, type SchedulerLike, type Subscription } from 'rxjs';
import { SignalError } from '../errors.js';
import {
  describeValue,
  implausibleValue,
  isSignalName,
  rangeText,
  signalInfo,
  signalNameHint,
  SIGNAL_NAMES,
} from './names.js';
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
  const hint =
    extra.hint ??
    'A trace is CSV (a header t_ms,<signal>,… then rows) or JSON ([{"t_ms": 0, "<signal>": value}, …]); see the trace format in the documentation';
  return new SignalError('TRACE_INVALID', message, { file: where.file, ...extra, hint });
}

function checkSignal(name: string, where: Where, field: string): void {
  if (!isSignalName(name)) {
    const guess = closest(name, SIGNAL_NAMES);
    throw invalid(`Unknown signal "${name}" in trace${guess ? `; did you mean "${guess}"?` : ''}`, where, {
      field,
      validValues: SIGNAL_NAMES,
      hint: signalNameHint(),
    });
  }
}

function checkValue(name: string, value: unknown, where: Where, field: string): SignalValue | null {
  if (value === null) return null;
  const problem = implausibleValue(name, value);
  if (problem !== undefined) {
    const info = signalInfo(name);
    throw invalid(`Signal "${name}" ${problem}`, where, {
      field,
      hint:
        info?.kind === 'number' && typeof value === 'number' && Number.isFinite(value)
          ? `Readings of ${name} lie in ${rangeText(info)}; check the column's unit, or write NA where the signal was unavailable`
          : 'Leave the cell empty to keep the previous reading, or write NA when the signal is unavailable',
    });
  }
  return value as SignalValue;
}

function checkTime(t: unknown, previous: number, where: Where, field: string): number {
  if (typeof t !== 'number' || !Number.isFinite(t) || t < 0) {
    throw invalid(`t_ms must be a non-negative number, got ${describeValue(t)}`, where, {
      field,
      hint: 't_ms is the time in ms since the start of the trace',
    });
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
  return t !== '' && !Number.isNaN(n) ? n : t;
}

/**
 * Builds a trace row by row from CSV records (the header first), checking each as it comes, so
 * that a file can be parsed while it is read.
 */
class CsvTraceBuilder {
  private header: string[] | undefined;
  private readonly rows: TraceRow[] = [];
  private previous = 0;

  constructor(private readonly where: Where) {}

  /** One record of cells, from line `line` (1-based) of the text. */
  add(cells: readonly string[], line: number): void {
    const at = `line ${line}`;
    if (!this.header) {
      this.header = this.checkHeader(cells, at);
      return;
    }
    const header = this.header;
    if (cells.length !== header.length) {
      throw invalid(`Row has ${cells.length} cells, the header has ${header.length}`, this.where, {
        field: at,
        hint: 'Leave a cell empty (",,") to keep the previous reading',
      });
    }
    const tMs = checkTime(csvCell(cells[0] ?? ''), this.previous, this.where, `${at}, column 1 (t_ms)`);
    this.previous = tMs;
    const values: Record<string, SignalValue | null> = {};
    for (let c = 1; c < header.length; c++) {
      const name = header[c] as string;
      const raw = cells[c] ?? '';
      if (raw.trim() === '') continue;
      values[name] = checkValue(name, csvCell(raw), this.where, `${at}, column ${c + 1} (${name})`);
    }
    this.rows.push({ tMs, values });
  }

  private checkHeader(cells: readonly string[], at: string): string[] {
    const header = cells.map((c) => c.trim());
    if (header[0] !== 't_ms')
      throw invalid(`The first column must be t_ms, got "${header[0] ?? ''}"`, this.where, {
        field: at,
        hint: 'Start the header with t_ms',
      });
    header.slice(1).forEach((name, c) => checkSignal(name, this.where, `${at}, column ${c + 2}`));
    const duplicate = header.find((n, k) => header.indexOf(n) !== k);
    if (duplicate) throw invalid(`Column "${duplicate}" appears twice`, this.where, { field: at });
    return header;
  }

  /** The trace; an error when there was no header or no row. */
  finish(): Trace {
    if (!this.header)
      throw invalid('The trace is empty: it has no header line', this.where, {
        hint: 'The first non-comment line names the columns: t_ms,battery.percent,…',
      });
    if (this.rows.length === 0)
      throw invalid('The trace has a header but no rows', this.where, {
        hint: 'Add rows of readings under the header: t_ms first, then one cell per column',
      });
    return { name: this.where.file ?? 'inline', signals: this.header.slice(1), rows: this.rows };
  }
}

/** csv-parse's settings for traces: BOM, `#` comment lines, blank lines, quotes, CRLF or LF. */
const CSV_OPTIONS: CsvOptions = {
  bom: true,
  comment: '#',
  comment_no_infix: true,
  skip_empty_lines: true,
  skip_records_with_empty_values: false,
  relax_column_count: true,
  info: true,
  record_delimiter: ['\r\n', '\n', '\r'],
};

/**
 * A CSV parser that takes text in pieces: `write` each piece, then `end`; records go to `builder`
 * as they complete. Synchronous: csv-parse's stream processes each write at once.
 */
function csvFeeder(builder: CsvTraceBuilder, where: Where): { write: (chunk: string) => void; end: () => void } {
  const parser = parseCsv(CSV_OPTIONS);
  let failure: unknown;
  parser.on('error', (e: unknown) => {
    failure = e;
  });
  // A parse error destroys the stream at once (`errored`); the 'error' event comes a tick later.
  const check = () => {
    const e = parser.errored ?? failure;
    if (e !== undefined && e !== null) throw csvError(e, where);
  };
  const drain = () => {
    check();
    for (let r = parser.read() as CsvRecord | null; r !== null; r = parser.read() as CsvRecord | null)
      builder.add(r.record, r.info.lines);
    check();
  };
  return {
    write: (chunk) => {
      parser.write(chunk);
      drain();
    },
    end: () => {
      parser.end();
      drain();
    },
  };
}

interface CsvRecord {
  record: string[];
  info: { lines: number };
}

function csvError(e: unknown, where: Where): SignalError {
  const lines = (e as { lines?: unknown }).lines;
  const message = e instanceof Error ? e.message.replace(/^Invalid \w+: /, '') : String(e);
  return invalid(`The trace is not valid CSV: ${message}`, where, {
    field: typeof lines === 'number' ? `line ${lines}` : undefined,
    cause: e,
    hint: 'Check the quotes on that line: a quoted cell is "like this", with "" for a quote inside',
  });
}

/**
 * Parses a CSV trace (format in the module documentation): through a real CSV parser (quoted
 * cells, CRLF or LF, a UTF-8 byte order mark). Every value is checked against its signal's
 * range. Throws {@link SignalError} `TRACE_INVALID` with the file, the line and the column.
 */
export function parseTraceCsv(text: string, where: Where = {}): Trace {
  const builder = new CsvTraceBuilder(where);
  const feed = csvFeeder(builder, where);
  feed.write(text);
  feed.end();
  return builder.finish();
}

/** Parses a JSON trace (format in the module documentation); a UTF-8 byte order mark is ignored. */
export function parseTraceJson(text: string, where: Where = {}): Trace {
  let data: unknown;
  try {
    data = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    throw invalid(`The trace is not valid JSON: ${(e as Error).message}`, where, {
      cause: e,
      hint: 'Check the file with a JSON linter',
    });
  }
  const list = Array.isArray(data) ? data : (data as { rows?: unknown } | null)?.rows;
  if (!Array.isArray(list))
    throw invalid('A JSON trace is an array of rows or an object with a "rows" array', where, { field: 'rows' });
  if (list.length === 0)
    throw invalid('The trace has no rows', where, {
      field: 'rows',
      hint: 'Add rows such as {"t_ms": 0, "battery.percent": 80}',
    });
  const signals: string[] = [];
  const rows: TraceRow[] = [];
  let previous = 0;
  list.forEach((row: unknown, i) => {
    const field = `rows[${i}]`;
    if (typeof row !== 'object' || row === null || Array.isArray(row))
      throw invalid('A row is an object such as {"t_ms": 0, "battery.percent": 80}', where, { field });
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
  const format =
    options.format ??
    (ext === '.json' ? 'json' : ext === '.csv' ? 'csv' : /^\uFEFF?\s*[[{]/.test(text) ? 'json' : 'csv');
  return format === 'json' ? parseTraceJson(text, options) : parseTraceCsv(text, options);
}

/** Largest JSON trace {@link loadTrace} reads (a JSON document is parsed whole): 256 MiB. CSV traces are streamed, of any size. */
export const MAX_JSON_TRACE_BYTES = 256 * 1024 ** 2;
const CHUNK_BYTES = 1 << 20;

/**
 * Reads and parses a trace file (`.csv` or `.json`). A CSV file is streamed: read and parsed a
 * piece at a time, so its text is never held whole (a day at 1 Hz or a million rows is fine). A
 * JSON file is read whole, up to {@link MAX_JSON_TRACE_BYTES}.
 */
export function loadTrace(file: string): Trace {
  const cannot = (e: unknown) =>
    new SignalError('TRACE_INVALID', `Cannot read the trace: ${(e as Error).message}`, {
      file,
      cause: e,
      hint: 'Check the path',
    });
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw cannot(e);
  }
  try {
    const size = fstatSync(fd).size;
    if (extname(file).toLowerCase() === '.json' || (extname(file).toLowerCase() !== '.csv' && looksLikeJson(fd))) {
      if (size > MAX_JSON_TRACE_BYTES) {
        throw invalid(
          `The JSON trace is ${size} bytes, over the limit of ${MAX_JSON_TRACE_BYTES}`,
          { file },
          { hint: 'Write long traces as CSV, which is read as a stream' },
        );
      }
      return parseTraceJson(readFileSync(fd, 'utf8'), { file });
    }
    return streamCsv(fd, { file });
  } catch (e) {
    throw e instanceof SignalError ? e : cannot(e);
  } finally {
    closeSync(fd);
  }
}

function looksLikeJson(fd: number): boolean {
  const head = Buffer.alloc(64);
  const n = readSync(fd, head, 0, head.length, 0);
  return /^\uFEFF?\s*[[{]/.test(head.subarray(0, n).toString('utf8'));
}

function streamCsv(fd: number, where: Where): Trace {
  const builder = new CsvTraceBuilder(where);
  const feed = csvFeeder(builder, where);
  const decoder = new StringDecoder('utf8');
  const buffer = Buffer.alloc(CHUNK_BYTES);
  let position = 0;
  for (;;) {
    const n = readSync(fd, buffer, 0, buffer.length, position);
    if (n === 0) break;
    position += n;
    feed.write(decoder.write(buffer.subarray(0, n)));
  }
  feed.write(decoder.end());
  feed.end();
  return builder.finish();
}

/** The readings of one row as a patch. */
export function rowPatch(row: TraceRow): SignalPatch {
  const patch: Record<string, Reading> = {};
  for (const [name, value] of Object.entries(row.values))
    patch[name] = value === null ? missingReading('unavailable') : okReading(value);
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
  if (!(speed > 0))
    throw new SignalError('TRACE_INVALID', `Replay speed must be positive, got ${speed}`, {
      option: 'speed',
      hint: 'Pass a number above 0, e.g. { speed: 2 } to play the trace twice as fast',
    });
  return {
    name: `trace:${trace.name}`,
    readings(scheduler: SchedulerLike): Observable<SignalPatch> {
      return new Observable<SignalPatch>((subscriber) => {
        const rows = trace.rows;
        const start = scheduler.now();
        const due = (i: number) => Math.max(0, start + (rows[i]?.tMs ?? 0) / speed - scheduler.now());
        if (rows.length === 0) {
          subscriber.complete();
          return undefined;
        }
        let next = 0;
        let action: Subscription | undefined;
        const step = (): void => {
          // Emit every row that is due now (rows sharing a time come out together, in order).
          do subscriber.next(rowPatch(rows[next++] as TraceRow));
          while (next < rows.length && due(next) === 0);
          // Each row is scheduled from here, not from inside the previous action, so that actions
          // never nest: time and memory stay linear in the rows (a day at 1 Hz is 86,400 rows).
          if (next < rows.length) action = scheduler.schedule(step, due(next));
          else subscriber.complete();
        };
        action = scheduler.schedule(step, due(0));
        return () => action?.unsubscribe();
      });
    },
  };
}
