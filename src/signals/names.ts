import { describeValue } from '../base/describe.js';

/**
 * The flat signal-name table.
 *
 * Profiles, traces and the manual source name readings by these dotted names
 * (`battery.percent`, `thermal.cpuC`, …). Names that start with `app.` are reserved for readings
 * an application pushes itself (`app.frameDeadlineMs`); every other name must be in
 * {@link SIGNALS}.
 */

/** What kind of value a signal carries. */
export type SignalKind = 'number' | 'boolean';

/** Description of one built-in signal. */
export interface SignalInfo {
  readonly kind: SignalKind;
  /** Unit of a numeric signal, for documentation and plots. */
  readonly unit?: string;
  /** The smallest and largest value the signal can take, where bounded. */
  readonly min?: number;
  readonly max?: number;
  readonly description: string;
}

/**
 * Every built-in signal, keyed by its flat name. Every numeric signal has a plausible range
 * (`min`..`max`, inclusive): a trace value outside it is refused with its file, row and column, and
 * a live source's reading outside it (or not finite) is stored as quality `error`, not as a value.
 * This table is the one place these ranges live.
 */
export const SIGNALS = {
  'battery.percent': { kind: 'number', unit: '%', min: 0, max: 100, description: 'Battery charge.' },
  'battery.charging': { kind: 'boolean', description: 'Whether the battery is charging (or on mains power).' },
  'battery.minutesLeft': {
    kind: 'number',
    unit: 'min',
    min: 0,
    max: 100_000,
    description: 'Estimated running time left on battery.',
  },
  'thermal.cpuC': {
    kind: 'number',
    unit: '°C',
    min: -60,
    max: 150,
    description: 'CPU temperature (main sensor), smoothed.',
  },
  'thermal.gpuC': { kind: 'number', unit: '°C', min: -60, max: 150, description: 'GPU temperature, smoothed.' },
  'thermal.trendCPerMin': {
    kind: 'number',
    unit: '°C/min',
    min: -200,
    max: 200,
    description: 'Slope of the smoothed CPU temperature (GPU temperature where the CPU has no sensor).',
  },
  'gpu.utilization': { kind: 'number', unit: '%', min: 0, max: 100, description: 'GPU utilization, all processes.' },
  'gpu.memoryUsedMB': {
    kind: 'number',
    unit: 'MB',
    min: 0,
    max: 100_000_000,
    description: 'GPU memory in use, all processes.',
  },
  'gpu.powerW': { kind: 'number', unit: 'W', min: 0, max: 10_000, description: 'GPU power draw.' },
  'cpu.load': { kind: 'number', unit: '%', min: 0, max: 100, description: 'CPU load, all cores.' },
  'memory.availableMB': {
    kind: 'number',
    unit: 'MB',
    min: 0,
    max: 1_000_000_000,
    description: 'Memory available to new allocations.',
  },
  'inference.p50Ms': {
    kind: 'number',
    unit: 'ms',
    min: 0,
    max: 3_600_000,
    description: 'Median observed inference latency.',
  },
  'inference.slowdown': {
    kind: 'number',
    min: 0,
    max: 1_000_000,
    description:
      "Observed latency ÷ this device's calibrated latency of the running stitch, a median over a time window (1 = as calibrated).",
  },
} as const satisfies Record<string, SignalInfo>;

/** A built-in signal name. */
export type BuiltinSignalName = keyof typeof SIGNALS;
/** An application-provided signal name (`app.<something>`). */
export type AppSignalName = `app.${string}`;
/** Any signal name a profile, a trace or the manual source may use. */
export type SignalName = BuiltinSignalName | AppSignalName;

/** The prefix of application-provided signals. */
export const APP_SIGNAL_PREFIX = 'app.';
const APP_SIGNAL = /^app\.[A-Za-z_][\w.-]*$/;

/** The built-in signal names, in table order. */
export const SIGNAL_NAMES = Object.keys(SIGNALS) as readonly BuiltinSignalName[];

/** True for a name in {@link SIGNALS}. */
export function isBuiltinSignal(name: string): name is BuiltinSignalName {
  return Object.hasOwn(SIGNALS, name);
}

/** True for a well-formed application signal name such as `app.frameDeadlineMs`. */
export function isAppSignal(name: string): name is AppSignalName {
  return APP_SIGNAL.test(name);
}

/** True for any name a profile, trace or manual source may use. */
export function isSignalName(name: string): name is SignalName {
  return isBuiltinSignal(name) || isAppSignal(name);
}

/** The table entry of a built-in signal, or `undefined` for application signals. */
export function signalInfo(name: string): SignalInfo | undefined {
  return isBuiltinSignal(name) ? SIGNALS[name] : undefined;
}

/** One-sentence hint listing the accepted names, for error messages. */
export function signalNameHint(): string {
  return `Use one of the built-in signals (${SIGNAL_NAMES.join(', ')}) or an application signal named "app.<name>" that your app pushes through a manual source`;
}

/**
 * Why `value` cannot be a reading of signal `name`, or `undefined` when it can: the wrong kind
 * (a boolean for a numeric signal), a number that is not finite, or one outside the signal's range
 * in {@link SIGNALS}. Application signals take any finite number or a boolean.
 */
export function implausibleValue(name: string, value: unknown): string | undefined {
  const info = signalInfo(name);
  if (typeof value !== 'number' && typeof value !== 'boolean') {
    const want =
      info?.kind === 'boolean'
        ? 'true or false'
        : info?.kind === 'number'
          ? 'a finite number'
          : 'a finite number or true/false';
    return `needs ${want}, got ${describeValue(value)}`;
  }
  if (info && typeof value !== info.kind)
    return `needs ${info.kind === 'boolean' ? 'true or false' : 'a finite number'}, got ${describeValue(value)}`;
  if (typeof value === 'boolean') return undefined;
  if (!Number.isFinite(value)) return `needs a finite number, got ${String(value)}`;
  if (info?.min !== undefined && value < info.min) return `${value} is below its range ${rangeText(info)}`;
  if (info?.max !== undefined && value > info.max) return `${value} is above its range ${rangeText(info)}`;
  return undefined;
}

/** The range of a signal as text, e.g. `0..100 %`. */
export function rangeText(info: SignalInfo): string {
  const unit = info.unit ? ` ${info.unit}` : '';
  return `${info.min ?? '-∞'}..${info.max ?? '∞'}${unit}`;
}

export { describeValue } from '../base/describe.js';
