/**
 * close() stops the whole adaptive loop: signal sources (their timers and the nvidia-smi child),
 * the profile watch, pending switches; every observable completes.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { setImmediate as tick } from 'node:timers/promises';
import { finalize, firstValueFrom, Observable, Subject, type SchedulerAction } from 'rxjs';
import { describe, expect, it } from 'vitest';
import type { LineSpawner } from '../../src/signals/nvidia-smi.js';
import { ManualSource } from '../../src/signals/push.js';
import type { SignalSource } from '../../src/signals/source.js';
import { systemSource, type SystemInformation } from '../../src/signals/system.js';
import { VirtualClock } from '../../src/testing/index.js';
import { runtimeOn, sample, useTinyPackage } from './helpers.js';

const tiny = useTinyPackage();

/** A device on battery at 15 % with an NVIDIA GPU, whose nvidia-smi stream is a fake child process. */
function device(clock: VirtualClock) {
  const child = { started: 0, killed: 0 };
  const spawn: LineSpawner = () =>
    new Observable<string>((subscriber) => {
      child.started++;
      const timer = clock.scheduler.schedule(function (this: SchedulerAction<undefined>) {
        subscriber.next('0, 50, 61, 120.5, 2048');
        this.schedule(undefined, 1000);
      }, 0);
      return () => {
        child.killed++;
        timer.unsubscribe();
      };
    });
  const si: SystemInformation = {
    currentLoad: () => Promise.resolve({ currentLoad: 20 }),
    mem: () => Promise.resolve({ available: 8 * 2 ** 30 }),
    battery: () =>
      Promise.resolve({ hasBattery: true, percent: 15, isCharging: false, acConnected: false, timeRemaining: 90 }),
    cpuTemperature: () => Promise.resolve({ main: 55 }),
    graphics: () => Promise.resolve({ controllers: [{ vendor: 'NVIDIA Corporation', model: 'Test GPU' }] }),
  };
  const stopped = { system: 0 };
  const inner = systemSource({ si, nvidiaSmi: spawn, platform: 'linux' });
  const source: SignalSource = {
    name: inner.name,
    readings: (s) => inner.readings(s).pipe(finalize(() => stopped.system++)),
  };
  return { source, child, stopped };
}

describe('close', () => {
  it('leaves no timer, child process, watch or subscription behind, and completes every observable', async () => {
    const clock = new VirtualClock();
    const { source, child, stopped } = device(clock);
    const file = path.join(tiny.dir, 'battery.yaml');
    await writeFile(
      file,
      [
        'name: battery',
        'rules:',
        '  - name: low-battery',
        '    when: { battery.percent: { below: 20 } }',
        '    limit: { maxCostFraction: 0.5 }',
        'switching: { upgradeAfterMs: 60000 }',
        '',
      ].join('\n'),
    );
    const changed = new Subject<void>();
    const app = new ManualSource();
    app.set({ 'app.frameDeadlineMs': 16 });
    const rt = await runtimeOn(clock, {
      model: tiny.pkg,
      systemSource: source,
      signals: [app],
      profile: file,
      watchProfile: { changes: changed },
    });
    const completed: string[] = [];
    const observe = (name: string, o: Observable<unknown>) => o.subscribe({ complete: () => completed.push(name) });
    const subs = [
      observe('state$', rt.state$),
      observe('decisions$', rt.decisions$),
      observe('stitchChanges$', rt.stitchChanges$),
      observe('errors$', rt.errors$),
      observe('providerChanges$', rt.providerChanges$),
    ];

    // Probes answer through promises; the GPU stream starts once the inventory is in.
    clock.advanceTo(0);
    await tick();
    clock.advanceTo(0);
    await tick();
    const state = await firstValueFrom(rt.state$);
    expect(state.battery.percent).toBe(15);
    expect(state.gpu.utilization).toBe(50);
    expect(state.app['app.frameDeadlineMs']).toBe(16);
    expect(child.started).toBe(1);
    expect(rt.stitch).toBe(3);
    // The probes' next polls and the GPU stream's next line are timers that close must cancel.
    expect(clock.pending).toBeGreaterThan(0);
    expect(changed.observed).toBe(true);

    const running = rt.run(sample(tiny.pkg));
    await rt.close();
    expect((await running).stitch).toBe(3);

    expect(child.killed).toBe(1);
    expect(stopped.system).toBe(1);
    expect(clock.pending).toBe(0);
    expect(changed.observed).toBe(false);
    expect(subs.every((s) => s.closed)).toBe(true);
    expect(completed.sort()).toEqual(['decisions$', 'errors$', 'providerChanges$', 'stitchChanges$', 'state$'].sort());
    // Nothing moves after close, and a late subscriber does not restart the sources.
    clock.advanceBy(3_600_000);
    expect(rt.stitch).toBe(3);
    const late = rt.state$.subscribe();
    expect(late.closed).toBe(true);
    expect(child.started).toBe(1);
    expect(clock.pending).toBe(0);

    await expect(rt.run(sample(tiny.pkg))).rejects.toMatchObject({ code: 'RUNTIME_CLOSED' });
    for (const call of [() => rt.pin(0), () => rt.unpin(), () => rt.setStitch(0), () => rt.setProfile({})]) {
      expect(call).toThrow(expect.objectContaining({ code: 'RUNTIME_CLOSED' }));
    }
  });
});
