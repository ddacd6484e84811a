/**
 * Fault isolation of signal sources: whatever one source does (throws, returns something that is
 * not an Observable, errors, sends a malformed patch), only its own signals degrade, the failure
 * is reported once, and the merged stream of readings never errors.
 */
import { catchError, defer, EMPTY, isObservable, mergeMap, of, type Observable, type SchedulerLike } from 'rxjs';
import { SignalError } from '../errors.js';
import { describeValue, implausibleValue, isSignalName } from './names.js';
import type { SignalSource } from './source.js';
import { missingReading, type Quality, type Reading, type SignalPatch } from './state.js';

const QUALITIES: readonly Quality[] = ['ok', 'unavailable', 'timeout', 'error', 'stale'];

/** Receives a source's failure (once per source and kind of failure). */
export type SourceFaultHandler = (error: SignalError) => void;

/** A source's name for messages, whatever the object is. */
export function sourceName(source: unknown, index: number): string {
  const name = (source as { name?: unknown } | null | undefined)?.name;
  return typeof name === 'string' && name !== '' ? name : `#${index}`;
}

/** True for an object that implements {@link SignalSource} (a `readings` method; a `name` string). */
export function isSignalSource(value: unknown): value is SignalSource {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as SignalSource).readings === 'function' &&
    typeof (value as SignalSource).name === 'string'
  );
}

/** The result of checking one patch: the readings to keep and what was wrong. */
export interface CheckedPatch {
  readonly patch: SignalPatch;
  /** One entry per problem: a key (for reporting once) and what the source sent. */
  readonly problems: readonly { readonly key: string; readonly what: string }[];
}

/**
 * Checks one patch from a source. An unknown signal is dropped; a reading that is not a
 * `{ value, quality }` object, has an unknown quality, or says `ok` with a value of the wrong
 * kind, not finite, or outside the signal's range becomes `{ value: undefined, quality: 'error' }`.
 * A patch that is not an object is dropped whole.
 */
export function checkPatch(patch: unknown): CheckedPatch {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    return {
      patch: {},
      problems: [{ key: 'patch', what: `a patch that is ${describeValue(patch)}, not an object of readings` }],
    };
  }
  const out: Record<string, Reading> = {};
  const problems: { key: string; what: string }[] = [];
  for (const [name, reading] of Object.entries(patch as Record<string, unknown>)) {
    if (!isSignalName(name)) {
      problems.push({ key: `unknown:${name}`, what: `an unknown signal ${JSON.stringify(name)}` });
      continue;
    }
    const problem = readingProblem(name, reading);
    if (problem === undefined) out[name] = reading as Reading;
    else {
      problems.push({ key: `reading:${name}`, what: `${name}: ${problem}` });
      out[name] = missingReading('error');
    }
  }
  return { patch: out, problems };
}

function readingProblem(name: string, reading: unknown): string | undefined {
  if (typeof reading !== 'object' || reading === null)
    return `a reading that is ${describeValue(reading)}, not { value, quality }`;
  const { value, quality } = reading as { value?: unknown; quality?: unknown };
  if (!QUALITIES.includes(quality as Quality))
    return `quality ${describeValue(quality)} (valid: ${QUALITIES.join(', ')})`;
  if (quality !== 'ok')
    return value === undefined ? undefined : `a value ${describeValue(value)} with quality ${String(quality)}`;
  const implausible = implausibleValue(name, value);
  return implausible === undefined ? undefined : `quality ok but ${implausible}`;
}

/**
 * The readings of one source, isolated: the stream never errors, malformed readings become
 * `error` readings, and each kind of failure is reported once through `report` as a SignalError
 * `SIGNAL_SOURCE_FAILED` naming the source and what it sent. When the source fails for good
 * (throws, is not an Observable, errors), every signal it reported (or declares in `signals`) is
 * marked `error` and its stream ends; the other sources go on.
 */
export function isolatedReadings(
  source: SignalSource,
  index: number,
  scheduler: SchedulerLike,
  report: SourceFaultHandler,
): Observable<SignalPatch> {
  const name = sourceName(source, index);
  const reported = new Set<string>();
  const declared: unknown = (source as Partial<SignalSource> | null | undefined)?.signals;
  const seen = new Set<string>(
    Array.isArray(declared) ? declared.filter((s): s is string => typeof s === 'string' && isSignalName(s)) : [],
  );
  const once = (key: string, message: string, cause?: unknown) => {
    if (reported.has(key)) return;
    reported.add(key);
    report(
      new SignalError('SIGNAL_SOURCE_FAILED', `The signal source "${name}" ${message}`, {
        option: 'signals',
        cause,
        hint: 'Only its own signals are affected (quality error). A source should report a failing sensor as a reading with a quality flag, never by erroring or sending malformed readings',
      }),
    );
  };
  const failed = (key: string, message: string, cause?: unknown): Observable<SignalPatch> => {
    once(key, message, cause);
    const marked: Record<string, Reading> = {};
    for (const s of seen) marked[s] = missingReading('error');
    return seen.size > 0 ? of(marked) : EMPTY;
  };
  return defer(() => {
    let stream: unknown;
    try {
      stream = source.readings(scheduler);
    } catch (e) {
      return failed('threw', `threw from readings(): ${messageOf(e)}; its signals are marked error`, e);
    }
    if (!isObservable(stream))
      return failed('not-observable', `returned ${describeValue(stream)} from readings(), not an Observable`);
    return (stream as Observable<unknown>).pipe(
      mergeMap((raw) => {
        const { patch, problems } = checkPatch(raw);
        for (const p of problems) once(p.key, `sent ${p.what}; that reading is marked error`);
        for (const s of Object.keys(patch)) seen.add(s);
        return Object.keys(patch).length > 0 ? of(patch) : EMPTY;
      }),
      catchError((e: unknown) => failed('errored', `failed: ${messageOf(e)}; its signals are marked error`, e)),
    );
  });
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : describeValue(e);
}
