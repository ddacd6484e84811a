/**
 * The tiny test package with made-up but deterministic figures (cost, accuracy, CPU latency), so
 * that a profile can drive it, and small helpers shared by the adaptive tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { StitchnetError } from '../../src/errors.js';
import { readPackage, type StitchPackage } from '../../src/package/index.js';
import type { Manifest } from '../../src/package/schema.js';
import type { StitchChange } from '../../src/runtime/adaptive.js';
import { StitchRuntime, type StitchRuntimeOptions } from '../../src/runtime/stitch-runtime.js';
import type { VirtualClock } from '../../src/testing/index.js';
import { makeTinyPackage } from '../helpers/tiny-package.js';

/**
 * Figures per stitch id of the tiny family (anchors 0–2, a0→a1 stitches 3–5, a1→a2 stitches 6–8):
 * MACs in millions, accuracy, and CPU batch-1 latency in units of `latencyUnitMs`.
 */
export const FIGURES: Readonly<Record<number, { macsM: number; accuracy: number; latency: number }>> = {
  0: { macsM: 1, accuracy: 0.7, latency: 1 },
  3: { macsM: 1.5, accuracy: 0.74, latency: 1.5 },
  4: { macsM: 1.6, accuracy: 0.72, latency: 1.6 },
  5: { macsM: 1.8, accuracy: 0.73, latency: 1.8 },
  1: { macsM: 2, accuracy: 0.78, latency: 2 },
  6: { macsM: 2.5, accuracy: 0.82, latency: 2.5 },
  7: { macsM: 2.7, accuracy: 0.8, latency: 2.7 },
  8: { macsM: 2.9, accuracy: 0.81, latency: 2.9 },
  2: { macsM: 3, accuracy: 0.86, latency: 3 },
};
/** The cost/accuracy frontier of {@link FIGURES}, cheapest first. */
export const FRONTIER = [0, 3, 1, 6, 2];

/** The package with {@link FIGURES} in its manifest (in memory: the files on disk are untouched). */
export function withFigures(pkg: StitchPackage, latencyUnitMs = 1): StitchPackage {
  const manifest: Manifest = {
    ...pkg.manifest,
    frontier: FRONTIER,
    stitches: pkg.manifest.stitches.map((s) => {
      const f = FIGURES[s.id];
      if (!f) throw new Error(`no figures for stitch ${s.id}`);
      const ms = f.latency * latencyUnitMs;
      return {
        ...s,
        macs: f.macsM * 1e6,
        accuracy: f.accuracy,
        latency: { cpu: { '1': { p50Ms: ms, p95Ms: ms, device: 'test', at: '' } } },
      };
    }),
  };
  return { ...pkg, manifest };
}

/** The tiny package written to a temp folder, read back; `cleanup` removes the folder. */
export async function tinyPackage(): Promise<{ dir: string; pkg: StitchPackage; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-adaptive-'));
  const tiny = await makeTinyPackage(path.join(dir, 'tiny'));
  return { dir, pkg: await readPackage(tiny.dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** What {@link useTinyPackage} hands a test file once its `beforeAll` has run. */
export interface TinyFixture {
  /** The temp folder around the package (the package is its `tiny/` folder): room for a test's own files. */
  readonly dir: string;
  /** The package as read, without {@link FIGURES}. */
  readonly bare: StitchPackage;
  /** The package with {@link FIGURES} (`withFigures(bare)`). */
  readonly pkg: StitchPackage;
}

/**
 * The tiny package for the tests of one file: registers a `beforeAll` that writes and reads it and
 * an `afterAll` that removes its folder, and returns the accessor (read it inside tests and hooks).
 */
export function useTinyPackage(): TinyFixture {
  let tiny: Awaited<ReturnType<typeof tinyPackage>> | undefined;
  let pkg: StitchPackage | undefined;
  beforeAll(async () => {
    tiny = await tinyPackage();
    pkg = withFigures(tiny.pkg);
  });
  afterAll(async () => {
    await tiny?.cleanup();
  });
  const ready = () => {
    if (!tiny || !pkg) throw new Error('the tiny package is read in beforeAll: use it inside a test or a hook');
    return { tiny, pkg };
  };
  return {
    get dir() {
      return ready().tiny.dir;
    },
    get bare() {
      return ready().tiny.pkg;
    },
    get pkg() {
      return ready().pkg;
    },
  };
}

/**
 * A runtime in this process on the CPU (no worker, no fast path) on `clock`'s virtual time;
 * `options` name the model and add to or override the rest.
 */
export function runtimeOn(clock: VirtualClock, options: StitchRuntimeOptions): Promise<StitchRuntime> {
  return StitchRuntime.create({
    providers: ['cpu'],
    worker: false,
    fastPath: false,
    scheduler: clock.scheduler,
    ...options,
  });
}

/** The stitch changes and errors a runtime reports from now on, collected as they come. */
export function recordEvents(rt: StitchRuntime): { changes: StitchChange[]; errors: StitchnetError[] } {
  const changes: StitchChange[] = [];
  const errors: StitchnetError[] = [];
  rt.stitchChanges$.subscribe((c) => changes.push(c));
  rt.errors$.subscribe((e) => errors.push(e));
  return { changes, errors };
}

/** One input sample of the tiny family (batch 1). */
export function sample(pkg: StitchPackage): Float32Array {
  const n = pkg.manifest.input.shape.reduce<number>((a, d) => (typeof d === 'number' ? a * d : a), 1);
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37));
}
