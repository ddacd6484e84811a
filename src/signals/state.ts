/**
 * `DeviceState`: one snapshot of every device signal, and the flat readings it is built from.
 *
 * A reading that is not available is `undefined` — never a fake 0 — and its quality flag says
 * why: the platform has no such sensor (`unavailable`), its probe hung (`timeout`) or failed
 * (`error`), or its stream stopped updating (`stale`).
 */
import { SIGNAL_NAMES, isAppSignal, type AppSignalName, type BuiltinSignalName } from './names.js';

/** Why a reading has (or lacks) a value. Only `ok` readings carry a value. */
export type Quality = 'ok' | 'unavailable' | 'timeout' | 'error' | 'stale';

/** The value of a signal: a number, or a boolean for flags such as `battery.charging`. */
export type SignalValue = number | boolean;

/** One reading of one signal. `value` is defined exactly when `quality` is `'ok'`. */
export interface Reading {
  readonly value: SignalValue | undefined;
  readonly quality: Quality;
}

/** A partial update from a source: new readings keyed by flat signal name. */
export type SignalPatch = Readonly<Record<string, Reading>>;

/** A snapshot of the device as the signal pipeline sees it. */
export interface DeviceState {
  /** Scheduler time of the snapshot, in ms. */
  readonly at: number;
  readonly battery: {
    readonly percent: number | undefined;
    readonly charging: boolean | undefined;
    readonly minutesLeft: number | undefined;
  };
  readonly thermal: {
    readonly cpuC: number | undefined;
    readonly gpuC: number | undefined;
    readonly trendCPerMin: number | undefined;
  };
  readonly gpu: {
    readonly utilization: number | undefined;
    readonly memoryUsedMB: number | undefined;
    readonly powerW: number | undefined;
  };
  readonly cpu: { readonly load: number | undefined };
  readonly memory: { readonly availableMB: number | undefined };
  readonly inference: { readonly p50Ms: number | undefined; readonly slowdown: number | undefined };
  /** Application signals (`app.*`) pushed through a manual source, keyed by full name. */
  readonly app: Readonly<Record<AppSignalName, SignalValue | undefined>>;
  /** Quality of every built-in signal and of every application signal seen, keyed by flat name. */
  readonly quality: Readonly<Record<string, Quality>>;
}

/** A reading with a value. Non-finite numbers are reported as `error` rather than passed on. */
export function okReading(value: SignalValue): Reading {
  if (typeof value === 'number' && !Number.isFinite(value)) return { value: undefined, quality: 'error' };
  return { value, quality: 'ok' };
}

/** A reading without a value, with the reason. */
export function missingReading(quality: Exclude<Quality, 'ok'>): Reading {
  return { value: undefined, quality };
}

/** The same missing reading for each of `names`. */
export function missingPatch(names: readonly string[], quality: Exclude<Quality, 'ok'>): SignalPatch {
  const patch: Record<string, Reading> = {};
  for (const n of names) patch[n] = missingReading(quality);
  return patch;
}

const UNAVAILABLE: Reading = missingReading('unavailable');

type Getter = (s: DeviceState) => SignalValue | undefined;
const GETTERS: Record<BuiltinSignalName, Getter> = {
  'battery.percent': (s) => s.battery.percent,
  'battery.charging': (s) => s.battery.charging,
  'battery.minutesLeft': (s) => s.battery.minutesLeft,
  'thermal.cpuC': (s) => s.thermal.cpuC,
  'thermal.gpuC': (s) => s.thermal.gpuC,
  'thermal.trendCPerMin': (s) => s.thermal.trendCPerMin,
  'gpu.utilization': (s) => s.gpu.utilization,
  'gpu.memoryUsedMB': (s) => s.gpu.memoryUsedMB,
  'gpu.powerW': (s) => s.gpu.powerW,
  'cpu.load': (s) => s.cpu.load,
  'memory.availableMB': (s) => s.memory.availableMB,
  'inference.p50Ms': (s) => s.inference.p50Ms,
  'inference.slowdown': (s) => s.inference.slowdown,
};

/** Reads one signal of a snapshot by flat name. Unknown names read as unavailable. */
export function readSignal(state: DeviceState, name: string): Reading {
  const get = (GETTERS as Record<string, Getter | undefined>)[name];
  const value = get ? get(state) : isAppSignal(name) ? state.app[name] : undefined;
  const quality = state.quality[name] ?? (value === undefined ? 'unavailable' : 'ok');
  return value === undefined ? (quality === 'ok' ? UNAVAILABLE : { value, quality }) : { value, quality };
}

const num = (r: Reading | undefined): number | undefined => (typeof r?.value === 'number' ? r.value : undefined);
const bool = (r: Reading | undefined): boolean | undefined => (typeof r?.value === 'boolean' ? r.value : undefined);

/**
 * Builds a snapshot from flat readings. Built-in signals without a reading are `unavailable`;
 * a reading of the wrong kind (a boolean for a number) counts as an `error`.
 */
export function stateFromReadings(readings: Readonly<Record<string, Reading>>, at: number): DeviceState {
  const quality: Record<string, Quality> = {};
  const r = (name: BuiltinSignalName): Reading | undefined => readings[name];
  for (const name of SIGNAL_NAMES) {
    const reading = readings[name];
    const want = name === 'battery.charging' ? 'boolean' : 'number';
    if (!reading) quality[name] = 'unavailable';
    else if (reading.quality === 'ok' && typeof reading.value !== want) quality[name] = 'error';
    else quality[name] = reading.quality;
  }
  const app: Record<AppSignalName, SignalValue | undefined> = {};
  for (const [name, reading] of Object.entries(readings)) {
    if (!isAppSignal(name)) continue;
    app[name] = reading.value;
    quality[name] = reading.quality;
  }
  return {
    at,
    battery: {
      percent: num(r('battery.percent')),
      charging: bool(r('battery.charging')),
      minutesLeft: num(r('battery.minutesLeft')),
    },
    thermal: {
      cpuC: num(r('thermal.cpuC')),
      gpuC: num(r('thermal.gpuC')),
      trendCPerMin: num(r('thermal.trendCPerMin')),
    },
    gpu: {
      utilization: num(r('gpu.utilization')),
      memoryUsedMB: num(r('gpu.memoryUsedMB')),
      powerW: num(r('gpu.powerW')),
    },
    cpu: { load: num(r('cpu.load')) },
    memory: { availableMB: num(r('memory.availableMB')) },
    inference: { p50Ms: num(r('inference.p50Ms')), slowdown: num(r('inference.slowdown')) },
    app,
    quality,
  };
}

/**
 * A snapshot from plain values, e.g. `deviceState({ 'battery.percent': 15 }, 1000)`. Every signal
 * not given is `unavailable`; `undefined` values are `unavailable` too. Handy in tests and for apps
 * that drive the policy themselves.
 */
export function deviceState(values: Readonly<Partial<Record<string, SignalValue | undefined>>>, at = 0): DeviceState {
  const readings: Record<string, Reading> = {};
  for (const [name, value] of Object.entries(values))
    readings[name] = value === undefined ? UNAVAILABLE : okReading(value);
  return stateFromReadings(readings, at);
}
