import { asyncScheduler, filter, firstValueFrom, map, scan, take, throwError, timeout } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import si from 'systeminformation';
import { describe, expect, it } from 'vitest';
import { nvidiaSmiArgs, nvidiaSmiSource, parseNvidiaSmiLine } from '../../src/signals/nvidia-smi.js';
import { SIGNAL_NAMES } from '../../src/signals/names.js';
import { missingPatch, okReading, stateFromReadings, type Reading, type SignalPatch } from '../../src/signals/state.js';
import {
  batteryPatch,
  defaultSystemInformation,
  hasNvidiaGpu,
  loadPatch,
  memoryPatch,
  systemSource,
  temperaturePatch,
  type SystemInformation,
} from '../../src/signals/system.js';

const scheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

describe('systeminformation mappers', () => {
  it('reports "no battery" as unavailable, never as 0 %', () => {
    const p = batteryPatch({
      hasBattery: false,
      percent: 0,
      isCharging: false,
      acConnected: true,
      timeRemaining: null,
    });
    expect(p).toEqual(missingPatch(['battery.percent', 'battery.charging', 'battery.minutesLeft'], 'unavailable'));
  });

  it('reads a discharging battery, and drops the time left while charging', () => {
    expect(
      batteryPatch({ hasBattery: true, percent: 42, isCharging: false, acConnected: false, timeRemaining: 95 }),
    ).toEqual({
      'battery.percent': okReading(42),
      'battery.charging': okReading(false),
      'battery.minutesLeft': okReading(95),
    });
    const charging = batteryPatch({
      hasBattery: true,
      percent: 42,
      isCharging: true,
      acConnected: true,
      timeRemaining: 95,
    });
    expect(charging['battery.charging']).toEqual(okReading(true));
    expect(charging['battery.minutesLeft']?.quality).toBe('unavailable');
  });

  it('reports null or non-positive temperatures (VMs, unsupported) as unavailable', () => {
    expect(temperaturePatch({ main: null, max: null })['thermal.cpuC']?.quality).toBe('unavailable');
    expect(temperaturePatch({ main: -1 })['thermal.cpuC']?.quality).toBe('unavailable');
    expect(temperaturePatch({ main: null, max: 71 })['thermal.cpuC']).toEqual(okReading(71));
    expect(temperaturePatch({ main: 55, max: 71 })['thermal.cpuC']).toEqual(okReading(55));
  });

  it('converts load and memory', () => {
    expect(loadPatch({ currentLoad: 12.5 })).toEqual({ 'cpu.load': okReading(12.5) });
    expect(memoryPatch({ available: 2 * 2 ** 30 })).toEqual({ 'memory.availableMB': okReading(2048) });
    expect(loadPatch({ currentLoad: Number.NaN })['cpu.load']?.quality).toBe('error');
  });

  it('finds NVIDIA controllers in the inventory', () => {
    expect(hasNvidiaGpu({ controllers: [{ vendor: 'NVIDIA Corporation', model: 'RTX 4070' }] })).toBe(true);
    expect(hasNvidiaGpu({ controllers: [{ vendor: 'Intel', model: 'UHD 620' }] })).toBe(false);
    expect(hasNvidiaGpu({ controllers: [] })).toBe(false);
  });
});

describe('nvidia-smi stream', () => {
  it('parses data rows of the selected GPU and marks N/A fields unavailable', () => {
    expect(parseNvidiaSmiLine('0, 37, 52, 71.23, 1024')).toEqual({
      'gpu.utilization': okReading(37),
      'thermal.gpuC': okReading(52),
      'gpu.powerW': okReading(71.23),
      'gpu.memoryUsedMB': okReading(1024),
    });
    expect(parseNvidiaSmiLine('0, 0, 45, [N/A], 3')?.['gpu.powerW']?.quality).toBe('unavailable');
    expect(parseNvidiaSmiLine('0, 0, 45, [N/A], 3')?.['gpu.utilization']).toEqual(okReading(0));
    expect(parseNvidiaSmiLine('1, 37, 52, 71.23, 1024')).toBeUndefined();
    expect(parseNvidiaSmiLine('1, 37, 52, 71.23, 1024', 1)).toBeDefined();
    expect(parseNvidiaSmiLine('No devices were found')).toBeUndefined();
    expect(nvidiaSmiArgs(500)).toEqual([
      '--query-gpu=index,utilization.gpu,temperature.gpu,power.draw,memory.used',
      '--format=csv,noheader,nounits',
      '-lms',
      '500',
    ]);
  });

  it('streams lines from one long-lived process, marks silence stale and an exit as error', () => {
    const ts = scheduler();
    ts.run(({ cold, expectObservable }) => {
      const calls: string[][] = [];
      const spawn = (cmd: string, args: readonly string[]) => {
        calls.push([cmd, ...args]);
        return cold('a 99ms b 500ms |', { a: '0, 10, 40, 50, 100', b: '0, 20, 41, 55, 110' });
      };
      const out = nvidiaSmiSource({ periodMs: 100, spawn })
        .readings(ts)
        .pipe(map((p) => p['gpu.utilization']));
      expectObservable(out).toBe('a 99ms b 299ms s 200ms (e|)', {
        a: okReading(10),
        b: okReading(20),
        s: { value: undefined, quality: 'stale' },
        e: { value: undefined, quality: 'error' },
      });
      ts.flush();
      expect(calls).toHaveLength(1);
    });
  });

  it('reports the GPU signals unavailable where nvidia-smi does not exist', () => {
    scheduler().run(({ expectObservable }) => {
      const spawn = () => throwError(() => Object.assign(new Error('spawn nvidia-smi ENOENT'), { code: 'ENOENT' }));
      expectObservable(nvidiaSmiSource({ spawn }).readings(asyncScheduler)).toBe('(u|)', {
        u: missingPatch(['gpu.utilization', 'thermal.gpuC', 'gpu.powerW', 'gpu.memoryUsedMB'], 'unavailable'),
      });
    });
  });
});

/** Collects patches until every device signal has been reported once (and `also` holds). */
function firstFullReadings(
  source: ReturnType<typeof systemSource>,
  also: (r: Record<string, Reading>) => boolean = () => true,
): Promise<Record<string, Reading>> {
  const wanted = SIGNAL_NAMES.filter((n) => !n.startsWith('inference.') && n !== 'thermal.trendCPerMin');
  return firstValueFrom(
    source.readings(asyncScheduler).pipe(
      scan((acc: Record<string, Reading>, p: SignalPatch) => ({ ...acc, ...p }), {}),
      filter((acc) => wanted.every((n) => n in acc) && also(acc)),
      take(1),
      timeout({ first: 30_000 }),
    ),
  );
}

describe('systemSource', () => {
  it('polls each probe on its own: a hanging probe times out without holding up the others', async () => {
    const fake: SystemInformation = {
      currentLoad: () => Promise.resolve({ currentLoad: 33 }),
      mem: () => Promise.resolve({ available: 512 * 2 ** 20 }),
      battery: () =>
        Promise.resolve({ hasBattery: true, percent: 64, isCharging: false, acConnected: false, timeRemaining: 120 }),
      cpuTemperature: () => new Promise(() => undefined), // never answers
      graphics: () => Promise.resolve({ controllers: [{ vendor: 'NVIDIA', model: 'T4' }] }),
    };
    const readings = await firstFullReadings(
      systemSource({
        si: fake,
        nvidiaSmi: () => throwError(() => Object.assign(new Error('x'), { code: 'ENOENT' })),
        fastMs: 100,
        slowMs: 100,
        probeTimeoutMs: 200,
        platform: 'win32',
      }),
    );
    expect(readings['cpu.load']).toEqual(okReading(33));
    expect(readings['memory.availableMB']).toEqual(okReading(512));
    expect(readings['battery.percent']).toEqual(okReading(64));
    expect(readings['thermal.cpuC']).toEqual({ value: undefined, quality: 'timeout' });
    expect(readings['gpu.utilization']?.quality).toBe('unavailable');
  });

  it('on this machine reports what is missing as unavailable, never as 0, and does not crash', async () => {
    const [battery, temps, graphics] = await Promise.all([
      si.battery(),
      si.cpuTemperature(),
      defaultSystemInformation().graphics(),
    ]);
    // Default periods: the first CPU-load call primes its counters for ~0.5 s. The wait is for
    // events (every field reported, the load read once), not for a time.
    const readings = await firstFullReadings(systemSource(), (r) => r['cpu.load']?.quality === 'ok');
    const state = stateFromReadings(readings, 0);
    for (const name of SIGNAL_NAMES) {
      const q = state.quality[name];
      // A value exactly when the quality is ok.
      expect(readings[name] === undefined || (readings[name]?.value !== undefined) === (q === 'ok'), name).toBe(true);
    }
    expect(state.quality['cpu.load']).toBe('ok');
    expect(state.memory.availableMB).toBeGreaterThan(0);
    if (!battery.hasBattery) {
      expect(state.battery.percent).toBeUndefined();
      expect(state.quality['battery.percent']).toBe('unavailable');
      expect(state.battery.charging).toBeUndefined();
    }
    if (temps.main === null && !temps.max) {
      expect(state.thermal.cpuC).toBeUndefined();
      expect(state.quality['thermal.cpuC']).toBe('unavailable');
    }
    if (!hasNvidiaGpu(graphics)) {
      expect(state.gpu.utilization).toBeUndefined();
      expect(state.quality['gpu.utilization']).toBe('unavailable');
    }
  });
});
