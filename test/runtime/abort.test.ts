/**
 * AbortSignal on `create()` and `run()`: an abort rejects at once with RuntimeError ABORTED whose
 * cause is the signal's reason; a create() stops loading and releases what it had loaded; a run
 * in flight finishes in the background and its result is discarded.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { EngineClient } from '../../src/engine/client.js';
import { readPackage, type StitchPackage } from '../../src/package/index.js';
import { StitchRuntime } from '../../src/runtime/stitch-runtime.js';
import { makeTinyPackage } from '../helpers/tiny-package.js';

/** Every engine client the runtime opens, with what was done to it. */
const clients: { loads: number; runs: number; closed: Promise<void> }[] = [];
/** Called with the count of pieces asked for so far, as each load is asked for. */
const hooks: { onLoad?: ((loads: number) => void) | undefined } = {};

vi.mock('../../src/engine/client.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/engine/client.js')>();
  const track = (c: EngineClient): EngineClient => {
    let resolveClosed!: () => void;
    const entry = { loads: 0, runs: 0, closed: new Promise<void>((r) => (resolveClosed = r)) };
    clients.push(entry);
    return {
      mode: c.mode,
      loadPiece: (p) => {
        entry.loads++;
        hooks.onLoad?.(entry.loads);
        return c.loadPiece(p);
      },
      run: (r) => {
        entry.runs++;
        return c.run(r);
      },
      fuse: (p) => c.fuse(p),
      close: () => c.close().finally(resolveClosed),
    };
  };
  return {
    ...real,
    workerClient: (...args: Parameters<typeof real.workerClient>) => track(real.workerClient(...args)),
    inProcessClient: (...args: Parameters<typeof real.inProcessClient>) => track(real.inProcessClient(...args)),
  };
});

let dir: string;
let pkg: StitchPackage;
let input: Float32Array;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-abort-'));
  pkg = await readPackage((await makeTinyPackage(dir)).dir);
  input = new Float32Array(28 * 28).fill(0.25);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  clients.length = 0;
});

describe('create({ signal })', () => {
  it('rejects at once when the signal has already fired, and opens nothing', async () => {
    const reason = new Error('user left');
    await expect(
      StitchRuntime.create({ model: pkg, providers: ['cpu'], signal: AbortSignal.abort(reason) }),
    ).rejects.toMatchObject({ name: 'RuntimeError', code: 'ABORTED', cause: reason });
    expect(clients).toHaveLength(0);
  });

  it('stops loading pieces when aborted midway, rejects with the reason as cause, and closes the engine', async () => {
    const controller = new AbortController();
    // Aborts while the third piece is being loaded: deterministic, no timers.
    hooks.onLoad = (loads) => {
      if (loads === 3) controller.abort('navigated away');
    };
    const error = await StitchRuntime.create({ model: pkg, providers: ['cpu'], signal: controller.signal })
      .catch((e: unknown) => e)
      .finally(() => {
        hooks.onLoad = undefined;
      });
    expect(error).toMatchObject({
      code: 'ABORTED',
      cause: 'navigated away',
      message: expect.stringMatching(/StitchRuntime.create was aborted/),
    });
    expect(clients).toHaveLength(1);
    await clients[0]!.closed;
    const pieces = new Set(pkg.manifest.stitches.flatMap((s) => pkg.routePieces(s.id))).size;
    expect(clients[0]!.loads).toBeLessThan(pieces);
  });

  it('rejects a signal that is not an AbortSignal', async () => {
    await expect(StitchRuntime.create({ model: pkg, signal: { aborted: false } as never })).rejects.toMatchObject({
      code: 'OPTION_INVALID',
      option: 'signal',
    });
  });
});

describe('run(input, { signal })', () => {
  it('rejects at once without running when the signal has already fired', async () => {
    const rt = await StitchRuntime.create({ model: pkg, providers: ['cpu'] });
    try {
      const runs = clients[0]!.runs;
      await expect(rt.run(input, { signal: AbortSignal.abort() })).rejects.toMatchObject({
        code: 'ABORTED',
        cause: expect.objectContaining({ name: 'AbortError' }),
      });
      await expect(rt.classify(input, { signal: AbortSignal.abort('stop') })).rejects.toMatchObject({
        code: 'ABORTED',
        cause: 'stop',
      });
      expect(clients[0]!.runs).toBe(runs);
    } finally {
      await rt.close();
    }
  });

  it('rejects at once when aborted in flight; the run finishes in the background and later runs go on', async () => {
    const rt = await StitchRuntime.create({ model: pkg, providers: ['cpu'] });
    const runs = clients[0]!.runs;
    const controller = new AbortController();
    const pending = rt.run(input, { signal: controller.signal });
    controller.abort('too slow');
    await expect(pending).rejects.toMatchObject({
      code: 'ABORTED',
      cause: 'too slow',
      message: expect.stringMatching(/run was aborted/),
    });
    expect(clients[0]!.runs).toBe(runs + 1);
    const next = await rt.run(input, { signal: new AbortController().signal });
    expect(next.logits.every(Number.isFinite)).toBe(true);
    await rt.close();
    await clients[0]!.closed;
    await expect(rt.run(input, { signal: controller.signal })).rejects.toMatchObject({ code: 'RUNTIME_CLOSED' });
  });
});
