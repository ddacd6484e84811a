import { describe, expect, it } from 'vitest';
import type { Manifest, Stitch } from '../../src/package/schema.js';
import { checkInput } from '../../src/engine/input.js';
import {
  availableMemoryMB,
  fastPathPolicy,
  resolveBoolean,
  resolveFastPath,
  resolveThreads,
} from '../../src/engine/options.js';
import { defaultStitch } from '../../src/runtime/stitches.js';
import { sessionOptions } from '../../src/engine/ort.js';

function manifest(stitches: Partial<Stitch>[], frontier: number[]): Manifest {
  const anchors = [
    { id: 's', dim: 32, depth: 4, embed: 's.e', blocks: ['s.b'], head: 's.h' },
    { id: 'l', dim: 64, depth: 4, embed: 'l.e', blocks: ['l.b'], head: 'l.h' },
  ];
  return {
    anchors,
    frontier,
    stitches: stitches.map((s, id) => ({ id, route: [{ anchor: 's', blocks: [0, 3] }], ...s })),
  } as unknown as Manifest;
}

describe('defaultStitch', () => {
  it('takes the most accurate frontier stitch', () => {
    const m = manifest([{ accuracy: 0.7 }, { accuracy: 0.9 }, { accuracy: 0.8 }, { accuracy: 0.95 }], [0, 2, 1]);
    expect(defaultStitch(m)).toBe(1);
  });

  it('takes the last (costliest) frontier stitch when accuracies are unknown', () => {
    expect(defaultStitch(manifest([{}, {}, {}], [2, 0]))).toBe(0);
  });

  it('takes the largest anchor without a frontier', () => {
    const m = manifest(
      [{ route: [{ anchor: 's', blocks: [0, 3] }] }, { route: [{ anchor: 'l', blocks: [0, 3] }] }, {}],
      [],
    );
    expect(defaultStitch(m)).toBe(1);
  });
});

describe('option defaults', () => {
  it('resolves threads and fast path with validation', () => {
    expect(resolveThreads({ intraOp: 3 })).toEqual({ intraOp: 3, interOp: 1 });
    expect(resolveThreads(undefined).intraOp).toBeGreaterThanOrEqual(1);
    expect(resolveThreads(undefined).intraOp).toBeLessThanOrEqual(4);
    expect(() => resolveThreads({ interOp: 1.5 })).toThrow(
      expect.objectContaining({ code: 'OPTION_INVALID', option: 'threads.interOp' }),
    );
    expect(() => resolveThreads({ spinning: 1 as unknown as boolean })).toThrow(
      expect.objectContaining({ code: 'OPTION_INVALID', option: 'threads.spinning' }),
    );
    expect(resolveFastPath(undefined)).toMatchObject({
      afterRuns: 20,
      afterMs: 1000,
      cacheSize: 2,
      maxRunMs: Number.POSITIVE_INFINITY,
    });
    const budget = (resolveFastPath(undefined) as { memoryBudgetMB: number }).memoryBudgetMB;
    expect(budget).toBeGreaterThan(0);
    expect(budget).toBeLessThanOrEqual(availableMemoryMB() * 0.26);
    expect(resolveFastPath({ memoryBudgetMB: 64 })).toMatchObject({ memoryBudgetMB: 64 });
    expect(() => resolveFastPath({ memoryBudgetMB: -1 })).toThrow(
      expect.objectContaining({ option: 'fastPath.memoryBudgetMB' }),
    );
    expect(resolveFastPath(false)).toBe(false);
    expect(() => resolveFastPath({ afterMs: -1 })).toThrow(expect.objectContaining({ option: 'fastPath.afterMs' }));
  });

  it('fuses at once on a device provider, unless the thresholds were given', () => {
    const fast = resolveFastPath({ memoryBudgetMB: 100 });
    expect(fastPathPolicy(fast, { memoryBudgetMB: 100 }, 'cpu')).toMatchObject({
      eager: false,
      memoryBudgetBytes: 100 * 1024 ** 2,
    });
    expect(fastPathPolicy(fast, undefined, 'cuda')).toMatchObject({ eager: true });
    expect(fastPathPolicy(fast, { afterRuns: 5 }, 'dml')).toMatchObject({ eager: false });
    expect(fastPathPolicy(false, false, 'cuda')).toBe(false);
  });
});

describe('checkInput', () => {
  const spec = { name: 'input', shape: ['batch', 1, 2, 2], dtype: 'float32' as const };

  it('infers the batch of a bare Float32Array', () => {
    expect(checkInput(new Float32Array(12), spec).dims).toEqual([3, 1, 2, 2]);
  });

  it('needs dims when the shape has several symbolic dimensions', () => {
    const free = { name: 'x', shape: ['batch', 'tokens', 4], dtype: 'float32' as const };
    expect(() => checkInput(new Float32Array(8), free)).toThrow(expect.objectContaining({ code: 'INPUT_INVALID' }));
    expect(checkInput({ data: new Float32Array(24), dims: [2, 3, 4] }, free).dims).toEqual([2, 3, 4]);
  });

  it('names the offending dimension', () => {
    expect(() => checkInput({ data: new Float32Array(12), dims: [1, 3, 2, 2] }, spec)).toThrow(
      expect.objectContaining({
        code: 'INPUT_INVALID',
        option: 'input.dims[1]',
        message: expect.stringContaining('[batch, 1, 2, 2]'),
      }),
    );
  });
});

describe('session options', () => {
  const threads = { intraOp: 2, interOp: 1 };
  it("keep onnxruntime's CPU arena unless cpuMemArena is false", () => {
    expect(sessionOptions({ provider: 'cpu', threads }).enableCpuMemArena).toBe(false);
    expect(sessionOptions({ provider: 'cpu', threads, cpuMemArena: true }).enableCpuMemArena).toBe(true);
    expect(sessionOptions({ provider: 'cpu', threads, cpuMemArena: false }).enableCpuMemArena).toBe(false);
  });

  it("keep onnxruntime's weight prepacking unless prepackWeights is false", () => {
    const disabled = (o: ReturnType<typeof sessionOptions>) =>
      (o.extra as { session: { disable_prepacking?: string } }).session.disable_prepacking === '1';
    expect(disabled(sessionOptions({ provider: 'cpu', threads }))).toBe(false);
    expect(disabled(sessionOptions({ provider: 'cpu', threads, prepackWeights: true }))).toBe(false);
    expect(disabled(sessionOptions({ provider: 'cpu', threads, prepackWeights: false }))).toBe(true);
  });

  it('accept booleans only for boolean options', () => {
    expect(resolveBoolean(undefined, 'x')).toBeUndefined();
    expect(resolveBoolean(false, 'x')).toBe(false);
    expect(() => resolveBoolean('false', 'cpuMemArena')).toThrow(
      expect.objectContaining({ code: 'OPTION_INVALID', option: 'cpuMemArena' }),
    );
  });
});
