/**
 * Push-driven sources: the manual source (an app pushes its own readings) and the base they share.
 */
import { concat, defer, of, Subject, type Observable } from 'rxjs';
import { OptionError } from '../errors.js';
import {
  describeValue,
  implausibleValue,
  isSignalName,
  signalInfo,
  signalNameHint,
  SIGNAL_NAMES,
  type AppSignalName,
  type BuiltinSignalName,
  type SignalName,
  type SIGNALS,
} from './names.js';
import type { SignalSource } from './source.js';
import { missingReading, okReading, type Quality, type Reading, type SignalPatch, type SignalValue } from './state.js';

/**
 * A source fed by method calls. It remembers the latest reading of every signal it was given, so a
 * subscriber that arrives late starts from the current values.
 */
export abstract class PushSource implements SignalSource {
  private readonly latest: Record<string, Reading> = {};
  private readonly patches = new Subject<SignalPatch>();

  constructor(readonly name: string) {}

  /** Current readings, then every new patch. */
  readings(): Observable<SignalPatch> {
    return defer(() =>
      Object.keys(this.latest).length > 0 ? concat(of({ ...this.latest }), this.patches) : this.patches,
    );
  }

  /** Ends the stream for every subscriber. */
  complete(): void {
    this.patches.complete();
  }

  protected emit(patch: SignalPatch): void {
    Object.assign(this.latest, patch);
    this.patches.next(patch);
  }
}

/** The value type of a built-in signal: `boolean` for a flag such as `battery.charging`, else `number`. */
export type SignalValueOf<S extends BuiltinSignalName> = (typeof SIGNALS)[S]['kind'] extends 'boolean'
  ? boolean
  : number;

/**
 * Values as an app passes them, keyed by signal name (a built-in name with the value type of its
 * kind, or `app.<name>` with a number or boolean): `null` or `undefined` means "no reading now".
 */
export type SignalValues = { readonly [S in BuiltinSignalName]?: SignalValueOf<S> | null | undefined } & {
  readonly [S in AppSignalName]?: SignalValue | null | undefined;
};

/**
 * Checks names and kinds and converts values into a patch; throws an {@link OptionError} on an
 * unknown name or a value of the wrong kind. A number that is not finite or is outside the
 * signal's range (`SIGNALS` in names) becomes a reading of quality `error`, not a value.
 */
export function patchFromValues(values: SignalValues): SignalPatch {
  if (typeof values !== 'object' || values === null || Array.isArray(values)) {
    throw new OptionError(
      'OPTION_INVALID',
      `Signal values must be an object such as { "battery.percent": 40 }, got ${describeValue(values)}`,
      {
        option: 'values',
        hint: signalNameHint(),
      },
    );
  }
  const patch: Record<string, Reading> = {};
  for (const [name, value] of Object.entries(values)) {
    if (!isSignalName(name)) {
      throw new OptionError('OPTION_INVALID', `Unknown signal "${name}"`, {
        option: name,
        validValues: SIGNAL_NAMES,
        hint: signalNameHint(),
      });
    }
    const kind = signalInfo(name)?.kind;
    const wrongKind =
      kind !== undefined ? typeof value !== kind : typeof value !== 'number' && typeof value !== 'boolean';
    if (value !== null && value !== undefined && wrongKind) {
      throw new OptionError(
        'OPTION_INVALID',
        `Signal "${name}" takes ${kind === 'boolean' ? 'a boolean' : kind === 'number' ? 'a number' : 'a number or a boolean'}, got ${describeValue(value)}`,
        {
          option: name,
          hint: kind === 'boolean' ? 'Pass true or false' : 'Pass a finite number',
        },
      );
    }
    if (value === null || value === undefined) patch[name] = missingReading('unavailable');
    else patch[name] = implausibleValue(name, value) === undefined ? okReading(value) : missingReading('error');
  }
  return patch;
}

/**
 * Readings an application pushes itself: its own signals such as `app.frameDeadlineMs`, or
 * built-in ones it knows better than the OS (a mobile host's battery level). Pass it to
 * `deviceState$` (or the runtime's `signals`) next to the other sources.
 *
 * ```ts
 * const app = new ManualSource();
 * app.set({ 'app.frameDeadlineMs': 16 });
 * ```
 */
export class ManualSource extends PushSource {
  constructor(name = 'manual') {
    super(name);
  }

  /** Sets readings; `null`/`undefined` marks a signal unavailable. Throws on an unknown name or wrong kind. */
  set(values: SignalValues): void {
    this.emit(patchFromValues(values));
  }

  /** Marks signals as missing with the given quality (e.g. `'error'` when the app's own sensor failed). */
  mark(names: readonly SignalName[], quality: Exclude<Quality, 'ok'>): void {
    const checked = patchFromValues(Object.fromEntries(names.map((n) => [n, null])) as SignalValues);
    this.emit(Object.fromEntries(Object.keys(checked).map((n) => [n, missingReading(quality)])));
  }
}
