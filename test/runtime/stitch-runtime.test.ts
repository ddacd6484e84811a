import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuntimeError } from '../../src/errors.js';
import { readPackage, type StitchPackage } from '../../src/package/index.js';
import { StitchRuntime } from '../../src/runtime/stitch-runtime.js';
import { makeTinyPackage, type TinyPackage } from '../helpers/tiny-package.js';

let dir: string;
let tiny: TinyPackage;
let pkg: StitchPackage;
let sample: number;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-runtime-'));
  tiny = await makeTinyPackage(path.join(dir, 'tiny'));
  pkg = await readPackage(tiny.dir);
  sample = pkg.manifest.input.shape.reduce<number>((a, d) => (typeof d === 'number' ? a * d : a), 1);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function input(batch: number, seed = 1): Float32Array {
  return Float32Array.from({ length: batch * sample }, (_, i) => Math.sin(i * 0.37 + seed));
}

describe('StitchRuntime options and errors', () => {
  it('starts on the most accurate frontier stitch and reports the provider', async () => {
    await using rt = await StitchRuntime.create({ model: pkg, providers: ['cpu'], worker: false });
    const frontier = pkg.manifest.frontier;
    expect(rt.stitch).toBe(frontier[frontier.length - 1]);
    expect(rt.provider).toBe('cpu');
    expect(rt.providerAttempts).toEqual([{ provider: 'cpu', ok: true }]);
    const seen: string[] = [];
    const sub = rt.providerChanges$.subscribe((s) => seen.push(s.provider));
    sub.unsubscribe();
    expect(seen).toEqual(['cpu']);
  });

  it("falls back from 'cuda' to 'cpu', says why, and runs", async () => {
    await using rt = await StitchRuntime.create({ model: tiny.dir, providers: ['cuda', 'cpu'], fastPath: false });
    if (rt.provider === 'cuda') return; // CUDA installed here: nothing to fall back from
    expect(rt.provider).toBe('cpu');
    expect(rt.providerAttempts[0]).toMatchObject({
      provider: 'cuda',
      ok: false,
      reason: expect.stringMatching(/cuda/i),
    });
    const out = await rt.run(input(1));
    expect(out.provider).toBe('cpu');
    expect(out.dims).toEqual([1, ...pkg.manifest.output.shape.slice(1)]);
  });

  it('rejects an unknown provider name with the valid names', async () => {
    await expect(StitchRuntime.create({ model: pkg, providers: ['nope' as 'cpu'] })).rejects.toMatchObject({
      code: 'PROVIDER_UNKNOWN',
      option: 'providers[0]',
      validValues: expect.arrayContaining(['cpu', 'cuda', 'dml', 'webgpu', 'coreml']),
    });
  });

  it('rejects bad options and an unknown initial stitch', async () => {
    await expect(StitchRuntime.create({ model: pkg, threads: { intraOp: 0 } })).rejects.toMatchObject({
      code: 'OPTION_INVALID',
      option: 'threads.intraOp',
    });
    await expect(StitchRuntime.create({ model: pkg, fastPath: { cacheSize: 0 } })).rejects.toMatchObject({
      code: 'OPTION_INVALID',
      option: 'fastPath.cacheSize',
    });
    await expect(StitchRuntime.create({ model: pkg, cpuMemArena: 'no' as unknown as boolean })).rejects.toMatchObject({
      code: 'OPTION_INVALID',
      option: 'cpuMemArena',
      validValues: ['true', 'false'],
    });
    await expect(StitchRuntime.create({ model: pkg, providers: ['cpu'], stitch: 999 })).rejects.toMatchObject({
      code: 'STITCH_UNKNOWN',
      validValues: pkg.manifest.stitches.map((s) => s.id),
    });
  });

  it('runs with the CPU memory arena on or off (option, or the profile on a package with costs) and gives the same logits', async () => {
    const x = input(3);
    await using ref = await StitchRuntime.create({
      model: pkg,
      providers: ['cpu'],
      fastPath: false,
      cpuMemArena: true,
    });
    await using off = await StitchRuntime.create({
      model: pkg,
      providers: ['cpu'],
      fastPath: false,
      cpuMemArena: false,
    });
    const want = await ref.run(x);
    const got = await off.run(x);
    expect(got.stitch).toBe(want.stitch);
    expect(Array.from(got.logits)).toEqual(Array.from(want.logits));

    const shipped = await readPackage('models/fmnist-vit');
    const image = Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => Math.cos(i * 0.11));
    const common = { model: shipped, providers: ['cpu' as const], worker: false, fastPath: false as const, stitch: 5 };
    await using shippedRef = await StitchRuntime.create(common);
    await using viaProfile = await StitchRuntime.create({
      ...common,
      profile: { ort: { enableCpuMemArena: true } },
      systemSource: false,
    });
    expect(viaProfile.profile?.ort.enableCpuMemArena).toBe(true);
    expect(Array.from((await viaProfile.run(image, { stitch: 5 })).logits)).toEqual(
      Array.from((await shippedRef.run(image, { stitch: 5 })).logits),
    );
  });

  it('validates setStitch and per-run stitches', async () => {
    await using rt = await StitchRuntime.create({ model: pkg, providers: ['cpu'], worker: false, fastPath: false });
    expect(() => rt.setStitch(999)).toThrow(RuntimeError);
    expect(() => rt.setStitch(-1)).toThrow(
      expect.objectContaining({ code: 'STITCH_UNKNOWN', validValues: pkg.manifest.stitches.map((s) => s.id) }),
    );
    rt.setStitch(1);
    expect(rt.stitch).toBe(1);
    await expect(rt.run(input(1), { stitch: 42 })).rejects.toMatchObject({ code: 'STITCH_UNKNOWN' });
    expect((await rt.run(input(1), { stitch: 2 })).stitch).toBe(2);
    expect(rt.stitch).toBe(1);
  });

  it('rejects inputs that do not match the package input, naming the expected shape', async () => {
    await using rt = await StitchRuntime.create({ model: pkg, providers: ['cpu'], worker: false, fastPath: false });
    const shape = `[${pkg.manifest.input.shape.join(', ')}]`;
    const fixed = pkg.manifest.input.shape.slice(1) as number[];
    const bad = [
      new Float32Array(sample + 1),
      new Float32Array(0),
      { data: input(2), dims: [2, ...fixed.slice(0, -1), (fixed[fixed.length - 1] as number) + 1] },
      { data: input(2), dims: [2, sample] },
      { data: input(2), dims: [3, ...fixed] },
      { data: input(1), dims: [0, ...fixed] },
      { data: [1, 2, 3] as unknown as Float32Array, dims: [1, ...fixed] },
    ];
    for (const x of bad) {
      await expect(rt.run(x)).rejects.toMatchObject({
        name: 'RuntimeError',
        code: 'INPUT_INVALID',
        message: expect.stringContaining(shape),
      });
    }
    const ok = await rt.run({ data: input(2), dims: [2, ...fixed] });
    expect(ok.dims[0]).toBe(2);
  });
});

describe('StitchRuntime close', () => {
  for (const worker of [true, false]) {
    it(`settles runs in flight, then rejects with RUNTIME_CLOSED (worker: ${worker})`, async () => {
      const rt = await StitchRuntime.create({ model: pkg, providers: ['cpu'], worker, fastPath: false });
      const x = input(2);
      const reference = await rt.run(x);
      const inFlight = Array.from({ length: 8 }, () => rt.run(x));
      const closed = rt.close();
      const results = await Promise.allSettled(inFlight);
      for (const r of results) {
        expect(r.status).toBe('fulfilled');
        if (r.status === 'fulfilled') expect(Array.from(r.value.logits)).toEqual(Array.from(reference.logits));
      }
      await closed;
      await rt.close();
      await expect(rt.run(x)).rejects.toMatchObject({ code: 'RUNTIME_CLOSED' });
      expect(() => rt.setStitch(0)).toThrow(expect.objectContaining({ code: 'RUNTIME_CLOSED' }));
    });
  }
});

describe('StitchRuntime fast path', () => {
  for (const worker of [true, false]) {
    it(`fuses a stitch after afterRuns runs and afterMs, with the same results (worker: ${worker})`, async () => {
      let t = 0;
      await using rt = await StitchRuntime.create({
        model: pkg,
        providers: ['cpu'],
        worker,
        fastPath: { afterRuns: 3, afterMs: 100, cacheSize: 1 },
        stitch: 4,
        now: () => t,
      });
      const x = input(4, 3);
      const first = await rt.run(x);
      expect(first.path).toBe('route');
      // Enough runs, not enough time: nothing is fused.
      for (let i = 0; i < 5; i++) expect((await rt.run(x)).path).toBe('route');
      t = 150;
      let fused = await rt.run(x);
      for (let i = 0; i < 2000 && fused.path !== 'fused'; i++) fused = await rt.run(x);
      expect(fused.path).toBe('fused');
      expect(fused.stitch).toBe(4);
      let diff = 0;
      fused.logits.forEach((v, i) => (diff = Math.max(diff, Math.abs(v - (first.logits[i] as number)))));
      expect(diff).toBeLessThanOrEqual(1e-5);
      // Another stitch runs on its route; the fused one is still used when it comes back.
      rt.setStitch(3);
      expect((await rt.run(x)).path).toBe('route');
      rt.setStitch(4);
      expect((await rt.run(x)).path).toBe('fused');
    });
  }

  it('fuses only within the memory budget, and still honours the deprecated maxRunMs', async () => {
    // A fuse starts by reading the route's piece bytes, so counting those reads tells whether one started.
    for (const [fastPath, fuses] of [
      [{ memoryBudgetMB: 1e-4 }, false],
      [{ maxRunMs: 0 }, false],
      [{}, true],
    ] as const) {
      let t = 0;
      let reads = 0;
      const spy: StitchPackage = {
        ...pkg,
        pieceBytes: (id) => {
          reads++;
          return pkg.pieceBytes(id);
        },
      };
      await using rt = await StitchRuntime.create({
        model: spy,
        providers: ['cpu'],
        worker: false,
        fastPath: { afterRuns: 2, afterMs: 0, ...fastPath },
        now: () => (t += 50),
      });
      const errors: unknown[] = [];
      rt.errors$.subscribe((e) => errors.push(e));
      reads = 0;
      let last = await rt.run(input(1));
      for (let i = 0; i < 200 && last.path === 'route'; i++) last = await rt.run(input(1));
      expect(reads > 0).toBe(fuses);
      expect(last.path).toBe(fuses ? 'fused' : 'route');
      expect(errors).toEqual([]);
    }
    await using small = await StitchRuntime.create({
      model: pkg,
      providers: ['cpu'],
      worker: false,
      fastPath: { memoryBudgetMB: 1e-4 },
    });
    await expect(small.fuse(small.stitch)).rejects.toMatchObject({
      code: 'OPTION_INVALID',
      option: 'fastPath.memoryBudgetMB',
    });
  });

  it('keeps fused sessions within the memory budget, releasing the least recently used', async () => {
    const weightMB = (id: number) =>
      pkg.routePieces(id).reduce((n, p) => n + (pkg.manifest.pieces[p]?.bytes ?? 0), 0) / 1024 ** 2;
    // Room for stitch 4 and 3 together is not there: fusing 3 releases 4.
    const budget = Math.max(weightMB(3), weightMB(4)) * 1.01;
    expect(budget).toBeLessThan(weightMB(3) + weightMB(4));
    await using rt = await StitchRuntime.create({
      model: pkg,
      providers: ['cpu'],
      fastPath: { afterRuns: 1e9, cacheSize: 5, memoryBudgetMB: budget },
    });
    await rt.fuse(4);
    expect((await rt.run(input(1), { stitch: 4 })).path).toBe('fused');
    await rt.fuse(3);
    expect((await rt.run(input(1), { stitch: 3 })).path).toBe('fused');
    expect((await rt.run(input(1), { stitch: 4 })).path).toBe('route');
  });

  it('never fuses with fastPath: false', async () => {
    let t = 0;
    await using rt = await StitchRuntime.create({
      model: pkg,
      providers: ['cpu'],
      worker: false,
      fastPath: false,
      now: () => t,
    });
    for (let i = 0; i < 30; i++) {
      t += 100;
      expect((await rt.run(input(1))).path).toBe('route');
    }
    await expect(rt.fuse(0)).rejects.toMatchObject({ code: 'OPTION_INVALID', option: 'fastPath' });
  });
});
