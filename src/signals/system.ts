/**
 * The systeminformation adapter: CPU load, memory, battery and temperatures, polled in a fast and
 * a slow lane, plus NVIDIA GPU readings streamed from `nvidia-smi` where an NVIDIA GPU exists.
 *
 * systeminformation reports "no battery" as `percent: 0` and a missing sensor as `null`; here
 * both become `undefined` with quality `unavailable`, never a 0 the policy could act on.
 */
import type Si from 'systeminformation';
import { catchError, defer, map, merge, of, switchMap, timeout, type Observable, type SchedulerLike } from 'rxjs';
import { NVIDIA_SMI_SIGNALS, nvidiaSmiSource, spawnLines, type LineSpawner } from './nvidia-smi.js';
import { linuxCpuTemperature, linuxGpuInventory, osCpuLoad } from './cheap-probes.js';
import { PowerShellLease, systeminformationPowerShell, withPowerShell } from './powershell.js';
import { DEFAULT_SAMPLING, type SamplingOptions } from './options.js';
import { exclusive, pollProbe } from './sample.js';
import type { SignalSource } from './source.js';
import { missingPatch, missingReading, okReading, type SignalPatch } from './state.js';

/** The part of a systeminformation `battery()` result that is used. */
export interface BatteryInfo {
  hasBattery: boolean;
  percent: number;
  isCharging: boolean;
  acConnected: boolean;
  timeRemaining: number | null;
}
/** The part of a `cpuTemperature()` result that is used. */
export interface TemperatureInfo {
  main: number | null;
  max?: number | null;
}
/** The part of a `graphics()` result that is used. */
export interface GraphicsInfo {
  controllers: readonly { vendor: string; model: string }[];
  /** `false`: no inventory was taken (the `nvidia-smi` stream is then tried, and reports itself if it is missing). */
  probed?: boolean;
}

/**
 * The calls the adapter makes, named after systeminformation's; tests pass fakes. See
 * {@link defaultSystemInformation} for what runs by default.
 */
export interface SystemInformation {
  currentLoad(): Promise<{ currentLoad: number }>;
  mem(): Promise<{ available: number }>;
  battery(): Promise<BatteryInfo>;
  cpuTemperature(): Promise<TemperatureInfo>;
  graphics(): Promise<GraphicsInfo>;
}

const BATTERY = ['battery.percent', 'battery.charging', 'battery.minutesLeft'] as const;

/** Battery readings; all `unavailable` on a machine without a battery. */
export function batteryPatch(b: BatteryInfo): SignalPatch {
  if (!b.hasBattery) return missingPatch(BATTERY, 'unavailable');
  const charging = b.isCharging || b.acConnected;
  const left = b.timeRemaining;
  return {
    'battery.percent': okReading(b.percent),
    'battery.charging': okReading(charging),
    // timeRemaining is time to empty: meaningless while charging, null or negative when unknown.
    'battery.minutesLeft':
      !charging && typeof left === 'number' && left >= 0 ? okReading(left) : missingReading('unavailable'),
  };
}

/** CPU temperature: the main sensor, else the hottest; `unavailable` when null or not positive (VMs, unsupported). */
export function temperaturePatch(t: TemperatureInfo): SignalPatch {
  const v = [t.main, t.max].find((x): x is number => typeof x === 'number' && Number.isFinite(x) && x > 0);
  return { 'thermal.cpuC': v === undefined ? missingReading('unavailable') : okReading(v) };
}

/** CPU load in percent of all cores. */
export function loadPatch(l: { currentLoad: number }): SignalPatch {
  return { 'cpu.load': okReading(l.currentLoad) };
}

/** Available memory in MB. */
export function memoryPatch(m: { available: number }): SignalPatch {
  return { 'memory.availableMB': okReading(m.available / 2 ** 20) };
}

/** True when the inventory lists an NVIDIA controller. */
export function hasNvidiaGpu(g: GraphicsInfo): boolean {
  return g.controllers.some((c) => /nvidia/i.test(c.vendor) || /nvidia/i.test(c.model));
}

/** True when the GPU inventory lists an NVIDIA controller, or when none was taken (then `nvidia-smi` answers for itself). */
function mayHaveNvidiaGpu(g: GraphicsInfo): boolean {
  return g.probed === false || hasNvidiaGpu(g);
}

/**
 * The default probes: systeminformation for memory and battery; CPU load from `os.cpus()`
 * counters everywhere, and CPU temperature from sysfs on Linux, where the systeminformation calls
 * spawn processes on every poll (see `cheap-probes.ts`). The GPU inventory never uses
 * systeminformation's `graphics()` (it spawns `lspci -vvv`, `clinfo`, `xrandr`, `xdpyinfo`, a
 * burst that reads as an inference slowdown at start): on Linux it reads sysfs, elsewhere it is
 * left to `nvidia-smi`, which either streams or reports itself missing.
 */
export function defaultSystemInformation(platform: NodeJS.Platform = process.platform): SystemInformation {
  return {
    currentLoad: osCpuLoad(),
    mem: async () => (await systeminformation()).mem(),
    battery: async () => (await systeminformation()).battery(),
    cpuTemperature:
      platform === 'linux' ? linuxCpuTemperature() : async () => (await systeminformation()).cpuTemperature(),
    graphics: platform === 'linux' ? linuxGpuInventory : () => Promise.resolve({ controllers: [], probed: false }),
  };
}

/** `f` called on first use only; later calls share its promise (a failure is retried). */
function once<T>(f: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined;
  return () => {
    result ??= f().catch((e: unknown) => {
      result = undefined;
      throw e;
    });
    return result;
  };
}

let siModule: Promise<typeof Si> | undefined;

/** systeminformation, loaded on first use: importing stitchnet should not pay for it. */
function systeminformation(): Promise<typeof Si> {
  siModule ??= import('systeminformation').then((m) => ((m as { default?: typeof Si }).default ?? m) as typeof Si);
  return siModule;
}

/** The process-wide lease on systeminformation's persistent PowerShell (Windows). */
const powerShellLease = new PowerShellLease(systeminformationPowerShell(systeminformation));

/** Options of {@link systemSource}. Sampling fields as in a profile's `sampling` block. */
export interface SystemSourceOptions
  extends Partial<Pick<SamplingOptions, 'fastMs' | 'slowMs' | 'gpuMs' | 'probeTimeoutMs'>> {
  /** The platform, which decides the lane of the battery probe. Default `process.platform`. */
  platform?: NodeJS.Platform;
  /** The probes. Default {@link defaultSystemInformation}. */
  si?: SystemInformation;
  /**
   * How to run `nvidia-smi`: a {@link LineSpawner}, or `false` to never start it (GPU signals are
   * then `unavailable`). Default: spawn it when the inventory lists an NVIDIA GPU.
   */
  nvidiaSmi?: LineSpawner | false;
  /** Which NVIDIA GPU to follow. Default 0. */
  gpuIndex?: number;
}

/**
 * Real device readings through systeminformation.
 *
 * - fast lane (`fastMs`): CPU load, `mem`, and `battery` on Linux (a cheap `/sys` read);
 * - slow lane (`slowMs`): CPU temperature, and `battery` on Windows and macOS (PowerShell, ioreg);
 * - GPU: the inventory once, when sampling starts (sysfs on Linux; see
 *   {@link defaultSystemInformation}); if it lists an NVIDIA GPU, one long-lived
 *   `nvidia-smi -lms` stream (see {@link nvidiaSmiSource}); otherwise the GPU signals are
 *   `unavailable`.
 *
 * Each probe is polled on its own, never overlaps itself, and times out after `probeTimeoutMs`
 * (default 2 × its period); a failing probe marks only its own fields.
 */
export function systemSource(options: SystemSourceOptions = {}): SignalSource {
  const platform = options.platform ?? process.platform;
  const api: SystemInformation = options.si ?? defaultSystemInformation(platform);
  const fastMs = options.fastMs ?? DEFAULT_SAMPLING.fastMs;
  const slowMs = options.slowMs ?? DEFAULT_SAMPLING.slowMs;
  const gpuMs = options.gpuMs ?? DEFAULT_SAMPLING.gpuMs;
  const spawn = options.nvidiaSmi === undefined ? spawnLines : options.nvidiaSmi;
  // One guard per call, shared by every subscription, so probes never overlap even across them.
  const calls = {
    currentLoad: exclusive(() => api.currentLoad()),
    mem: exclusive(() => api.mem()),
    battery: exclusive(() => api.battery()),
    cpuTemperature: exclusive(() => api.cpuTemperature()),
    // Taken once, whatever the subscriptions: the inventory does not change while the app runs.
    graphics: once(() => api.graphics()),
  };
  return {
    name: 'systeminformation',
    readings(scheduler: SchedulerLike): Observable<SignalPatch> {
      const t = (periodMs: number) => ({ periodMs, timeoutMs: options.probeTimeoutMs ?? 2 * periodMs, scheduler });
      const batteryMs = platform === 'linux' ? fastMs : slowMs;
      const gpu$: Observable<SignalPatch> =
        spawn === false
          ? of(missingPatch(NVIDIA_SMI_SIGNALS, 'unavailable'))
          : defer(calls.graphics).pipe(
              timeout({ first: options.probeTimeoutMs ?? 2 * slowMs, scheduler }),
              map(mayHaveNvidiaGpu),
              // If the inventory itself fails, try the stream anyway: a missing tool reports itself.
              catchError(() => of(true)),
              switchMap((nvidia) =>
                nvidia
                  ? nvidiaSmiSource({ periodMs: gpuMs, gpuIndex: options.gpuIndex ?? 0, spawn }).readings(scheduler)
                  : of(missingPatch(NVIDIA_SMI_SIGNALS, 'unavailable')),
              ),
            );
      // Windows: one long-lived PowerShell for the default probes while subscribed (src/signals/powershell.ts).
      return withPowerShell(
        platform,
        options.si === undefined ? powerShellLease : undefined,
        merge(
          pollProbe({ probe: calls.currentLoad, toPatch: loadPatch, signals: ['cpu.load'], ...t(fastMs) }),
          pollProbe({ probe: calls.mem, toPatch: memoryPatch, signals: ['memory.availableMB'], ...t(fastMs) }),
          pollProbe({ probe: calls.battery, toPatch: batteryPatch, signals: BATTERY, ...t(batteryMs) }),
          pollProbe({
            probe: calls.cpuTemperature,
            toPatch: temperaturePatch,
            signals: ['thermal.cpuC'],
            ...t(slowMs),
          }),
          gpu$,
        ),
      );
    },
  };
}
