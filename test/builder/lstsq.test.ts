import { Matrix, pseudoInverse } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import {
  averageLinearMaps,
  CrossMoments,
  fitLinearMap,
  SourceMoments,
  solveLinearMap,
} from '../../src/builder/lstsq.js';
import { BuilderError } from '../../src/errors.js';
import { linearRef } from '../helpers/linear.js';
import { rng, uniform } from './helpers.js';

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

describe('least squares with bias', () => {
  it('recovers a known linear map and bias from streamed chunks', () => {
    const next = rng(1);
    const dimIn = 24;
    const dimOut = 40;
    const rows = 3000;
    const W = uniform(next, dimIn * dimOut);
    const b = uniform(next, dimOut, -3, 3);
    // Activations with a non-zero mean per channel, like a residual stream.
    const A = uniform(next, rows * dimIn).map((v, i) => v * (1 + (i % dimIn) / 8) + 5 * ((i % dimIn) % 3));
    const B = linearRef(A, W, b, dimIn, dimOut);
    const source = new SourceMoments(dimIn);
    const cross = new CrossMoments(dimIn, dimOut);
    for (const [r0, r1] of [
      [0, 700],
      [700, 701],
      [701, 3000],
    ] as const) {
      const a = A.subarray(r0 * dimIn, r1 * dimIn);
      source.add(a);
      cross.add(a, B.subarray(r0 * dimOut, r1 * dimOut));
    }
    const fit = solveLinearMap(source, cross);
    expect(fit.dimIn).toBe(dimIn);
    expect(fit.dimOut).toBe(dimOut);
    expect(maxAbsDiff(fit.weight, W)).toBeLessThan(1e-4);
    expect(maxAbsDiff(fit.bias, b)).toBeLessThan(1e-4);
  });

  it('agrees with pinv([A, 1])·B on noisy data', () => {
    const next = rng(2);
    const dimIn = 6;
    const dimOut = 3;
    const rows = 200;
    const A = uniform(next, rows * dimIn, -2, 2);
    const B = uniform(next, rows * dimOut);
    const fit = fitLinearMap(A, B, dimIn, dimOut, { ridge: 0 });
    const X = new Matrix(rows, dimIn + 1);
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < dimIn; i++) X.set(r, i, A[r * dimIn + i]!);
      X.set(r, dimIn, 1);
    }
    const M = pseudoInverse(X).mmul(Matrix.from1DArray(rows, dimOut, Array.from(B)));
    const W = M.subMatrix(0, dimIn - 1, 0, dimOut - 1).to1DArray();
    const bias = M.getRow(dimIn);
    expect(maxAbsDiff(fit.weight, W)).toBeLessThan(1e-5);
    expect(maxAbsDiff(fit.bias, bias)).toBeLessThan(1e-5);
  });

  it('stays finite and fits when source channels are constant or duplicated', () => {
    const next = rng(3);
    const rows = 500;
    const base = uniform(next, rows * 2);
    // Channels: x0, x1, x0 again, a constant.
    const A = new Float32Array(rows * 4);
    for (let r = 0; r < rows; r++) {
      A.set([base[2 * r]!, base[2 * r + 1]!, base[2 * r]!, 7], r * 4);
    }
    const B = Float32Array.from({ length: rows }, (_, r) => 2 * base[2 * r]! - base[2 * r + 1]! + 0.5);
    const fit = fitLinearMap(A, B, 4, 1);
    expect(fit.weight.every(Number.isFinite)).toBe(true);
    expect(maxAbsDiff(linearRef(A, fit.weight, fit.bias, 4, 1), B)).toBeLessThan(1e-4);
    // The duplicated channel shares the weight, as the minimum-norm solution does.
    expect(fit.weight[0]).toBeCloseTo(1, 4);
    expect(fit.weight[2]).toBeCloseTo(1, 4);
  });

  it('averages shared-layer fits element-wise', () => {
    const m = (w: number, b: number) => ({
      dimIn: 1,
      dimOut: 2,
      weight: Float32Array.of(w, 2 * w),
      bias: Float32Array.of(b, -b),
    });
    const avg = averageLinearMaps([m(1, 1), m(2, 3), m(3, 5)]);
    expect(Array.from(avg.weight)).toEqual([2, 4]);
    expect(Array.from(avg.bias)).toEqual([3, -3]);
    expect(() => averageLinearMaps([])).toThrow(BuilderError);
    expect(() => averageLinearMaps([m(1, 1), { ...m(1, 1), dimIn: 2 }])).toThrow(/average/);
  });

  it('rejects mismatched chunks and too few rows', () => {
    const cross = new CrossMoments(2, 2);
    expect(() => cross.add(new Float32Array(4), new Float32Array(6))).toThrow(/rows/);
    expect(() => new SourceMoments(3).add(new Float32Array(4))).toThrow(/multiple/);
    expect(() => fitLinearMap(Float32Array.of(1, 2), Float32Array.of(1), 2, 1)).toThrow(/at least 2 rows/);
  });
});
