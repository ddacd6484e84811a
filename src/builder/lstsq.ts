/**
 * Least squares with bias, `min ‖[A, 1]·M − B‖_F`, the stitching-layer initialisation of SN-Net
 * (`ps_inv`: `M = pinv([A, 1]) · B`).
 *
 * Activations arrive in chunks (one calibration batch at a time, every token a row), so nothing
 * here ever holds the full `rows × dim` matrices: the first and second moments are accumulated in
 * float64 (`Σa`, `ΣaᵀA`, `Σb`, `ΣaᵀB`), and the problem is solved from the centred normal
 * equations `Cov(A)·W = Cov(A, B)`, `b = mean(B) − mean(A)·W`, which is the same minimiser as the
 * bias-augmented one. A small ridge term on `Cov(A)` (relative to its mean diagonal, never on the
 * bias) keeps the solve defined when some directions of `A` carry no variance, where it tends to
 * the minimum-norm solution that `pinv` gives. The source moments depend only on the source
 * tensor, so one {@link SourceMoments} serves every position that stitches from the same block.
 */
import type * as MlMatrix from 'ml-matrix';
import { requireOptional } from '../base/optional.js';
import { BuilderError } from '../errors.js';

/** A token-wise linear map `y = x·W + b`. */
export interface LinearMap {
  dimIn: number;
  dimOut: number;
  /** `[dimIn, dimOut]`, row-major. */
  weight: Float32Array;
  bias: Float32Array;
}

/** Rows processed together (transposed into a column-major scratch for contiguous dot products). */
const CHUNK_ROWS = 256;

function rowCount(data: ArrayLike<number>, dim: number, what: string): number {
  if (data.length % dim !== 0) {
    throw new BuilderError(
      'BUILD_DATA_INVALID',
      `${what} has ${data.length} values, not a multiple of its width ${dim}`,
      {
        hint: 'Pass row-major activations whose last dimension is the stated width',
      },
    );
  }
  return data.length / dim;
}

/** Copies rows `[r0, r0+n)` of a row-major `rows × dim` array into `out` as column-major `dim × n`. */
function transposeChunk(data: ArrayLike<number>, dim: number, r0: number, n: number, out: Float64Array): void {
  for (let r = 0; r < n; r++) {
    const base = (r0 + r) * dim;
    for (let i = 0; i < dim; i++) out[i * n + r] = data[base + i] as number;
  }
}

/**
 * `out[i·dy + j] += Σ_r x[i·n + r] · y[j·n + r]` for column-major chunks `x` (dx × n) and `y`
 * (dy × n); with `upper`, only `j ≥ i` (x and y are then the same chunk). Blocked 2×4 so that each
 * loaded value serves several multiply-adds.
 */
function accumulateProducts(
  out: Float64Array,
  x: Float64Array,
  dx: number,
  y: Float64Array,
  dy: number,
  n: number,
  upper: boolean,
): void {
  for (let i = 0; i < dx; i += 2) {
    const i1 = Math.min(i + 1, dx - 1);
    const xa = i * n;
    const xb = i1 * n;
    for (let j = upper ? i - (i % 4) : 0; j < dy; j += 4) {
      const j1 = Math.min(j + 1, dy - 1);
      const j2 = Math.min(j + 2, dy - 1);
      const j3 = Math.min(j + 3, dy - 1);
      const y0 = j * n;
      const y1 = j1 * n;
      const y2 = j2 * n;
      const y3 = j3 * n;
      let a0 = 0,
        a1 = 0,
        a2 = 0,
        a3 = 0,
        b0 = 0,
        b1 = 0,
        b2 = 0,
        b3 = 0;
      for (let r = 0; r < n; r++) {
        const u = x[xa + r] as number;
        const v = x[xb + r] as number;
        const p = y[y0 + r] as number;
        const q = y[y1 + r] as number;
        const s = y[y2 + r] as number;
        const t = y[y3 + r] as number;
        a0 += u * p;
        a1 += u * q;
        a2 += u * s;
        a3 += u * t;
        b0 += v * p;
        b1 += v * q;
        b2 += v * s;
        b3 += v * t;
      }
      const put = (row: number, colIdx: number, val: number, valid: boolean): void => {
        if (!valid || (upper && colIdx < row)) return;
        out[row * dy + colIdx] = (out[row * dy + colIdx] as number) + val;
      };
      put(i, j, a0, true);
      put(i, j1, a1, j + 1 < dy);
      put(i, j2, a2, j + 2 < dy);
      put(i, j3, a3, j + 3 < dy);
      if (i + 1 < dx) {
        put(i1, j, b0, true);
        put(i1, j1, b1, j + 1 < dy);
        put(i1, j2, b2, j + 2 < dy);
        put(i1, j3, b3, j + 3 < dy);
      }
    }
  }
}

/** First and second moments of the source activations `A` (rows × dim). */
export class SourceMoments {
  /** Rows seen so far. */
  n = 0;
  readonly sum: Float64Array;
  /** `AᵀA`, upper triangle filled (row-major `dim × dim`). */
  readonly gram: Float64Array;
  private readonly scratch: Float64Array;

  constructor(readonly dim: number) {
    this.sum = new Float64Array(dim);
    this.gram = new Float64Array(dim * dim);
    this.scratch = new Float64Array(dim * CHUNK_ROWS);
  }

  /** Adds a row-major chunk of activations (any number of whole rows). */
  add(a: ArrayLike<number>): void {
    const D = this.dim;
    const rows = rowCount(a, D, 'Source activation chunk');
    const col = this.scratch;
    for (let r0 = 0; r0 < rows; r0 += CHUNK_ROWS) {
      const n = Math.min(CHUNK_ROWS, rows - r0);
      transposeChunk(a, D, r0, n, col);
      for (let i = 0; i < D; i++) {
        let s = 0;
        for (let r = 0; r < n; r++) s += col[i * n + r] as number;
        this.sum[i] = (this.sum[i] as number) + s;
      }
      accumulateProducts(this.gram, col, D, col, D, n, true);
    }
    this.n += rows;
  }
}

/** Moments that tie source rows `A` to target rows `B`: `Σb` and `AᵀB`. */
export class CrossMoments {
  n = 0;
  readonly sum: Float64Array;
  /** `AᵀB`, row-major `dimIn × dimOut`. */
  readonly cross: Float64Array;
  private readonly colA: Float64Array;
  private readonly colB: Float64Array;

  constructor(
    readonly dimIn: number,
    readonly dimOut: number,
  ) {
    this.sum = new Float64Array(dimOut);
    this.cross = new Float64Array(dimIn * dimOut);
    this.colA = new Float64Array(dimIn * CHUNK_ROWS);
    this.colB = new Float64Array(dimOut * CHUNK_ROWS);
  }

  /** Adds matching row-major chunks of source and target activations (same row count). */
  add(a: ArrayLike<number>, b: ArrayLike<number>): void {
    const Di = this.dimIn;
    const Do = this.dimOut;
    const rows = rowCount(a, Di, 'Source activation chunk');
    const rowsB = rowCount(b, Do, 'Target activation chunk');
    if (rows !== rowsB) {
      throw new BuilderError('BUILD_DATA_INVALID', `Source has ${rows} rows but target has ${rowsB}`, {
        hint: 'Capture source and target activations from the same calibration samples',
      });
    }
    for (let r0 = 0; r0 < rows; r0 += CHUNK_ROWS) {
      const n = Math.min(CHUNK_ROWS, rows - r0);
      transposeChunk(a, Di, r0, n, this.colA);
      transposeChunk(b, Do, r0, n, this.colB);
      for (let o = 0; o < Do; o++) {
        const oo = o * n;
        let s = 0;
        for (let r = 0; r < n; r++) s += this.colB[oo + r] as number;
        this.sum[o] = (this.sum[o] as number) + s;
      }
      accumulateProducts(this.cross, this.colA, Di, this.colB, Do, n, false);
    }
    this.n += rows;
  }
}

export interface SolveOptions {
  /** Ridge added to `Cov(A)`'s diagonal, relative to its mean diagonal. Default `1e-6`. */
  ridge?: number;
}

/**
 * Solves the least-squares stitching layer from accumulated moments.
 *
 * @throws BuilderError `BUILD_DATA_INVALID` when the moments disagree in size or hold fewer than
 *   two rows.
 */
export function solveLinearMap(source: SourceMoments, cross: CrossMoments, options: SolveOptions = {}): LinearMap {
  const D = source.dim;
  const Do = cross.dimOut;
  if (cross.dimIn !== D || cross.n !== source.n) {
    throw new BuilderError(
      'BUILD_DATA_INVALID',
      `Moments do not match: source ${D} wide over ${source.n} rows, cross ${cross.dimIn} wide over ${cross.n} rows`,
      {
        hint: 'Feed the source and cross moments the same source rows',
      },
    );
  }
  const n = source.n;
  if (n < 2) {
    throw new BuilderError('BUILD_DATA_INVALID', `A least-squares fit needs at least 2 rows, got ${n}`, {
      option: 'calib',
      hint: 'Pass a larger calibration set',
    });
  }
  // ml-matrix is an optional peer dependency: only the builder needs it.
  const { CholeskyDecomposition, Matrix, solve } = requireOptional<typeof MlMatrix>('ml-matrix');
  const muA = Array.from(source.sum, (s) => s / n);
  const muB = Array.from(cross.sum, (s) => s / n);
  const cov = new Matrix(D, D);
  let trace = 0;
  for (let i = 0; i < D; i++) {
    for (let j = i; j < D; j++) {
      const v = (source.gram[i * D + j] as number) / n - (muA[i] as number) * (muA[j] as number);
      cov.set(i, j, v);
      cov.set(j, i, v);
    }
    trace += cov.get(i, i);
  }
  const lambda = (options.ridge ?? 1e-6) * Math.max(trace / D, Number.MIN_VALUE);
  for (let i = 0; i < D; i++) cov.set(i, i, cov.get(i, i) + lambda);
  const rhs = new Matrix(D, Do);
  for (let i = 0; i < D; i++) {
    for (let o = 0; o < Do; o++)
      rhs.set(i, o, (cross.cross[i * Do + o] as number) / n - (muA[i] as number) * (muB[o] as number));
  }
  const chol = new CholeskyDecomposition(cov);
  const W = chol.isPositiveDefinite() ? chol.solve(rhs) : solve(cov, rhs, true);
  const weight = new Float32Array(D * Do);
  const bias = new Float32Array(Do);
  for (let o = 0; o < Do; o++) {
    let b = muB[o] as number;
    for (let i = 0; i < D; i++) {
      const w = W.get(i, o);
      weight[i * Do + o] = w;
      b -= (muA[i] as number) * w;
    }
    bias[o] = b;
  }
  return { dimIn: D, dimOut: Do, weight, bias };
}

/**
 * One-shot fit of `y = x·W + b` on row-major activations `a` (rows × dimIn) and `b` (rows × dimOut).
 */
export function fitLinearMap(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  dimIn: number,
  dimOut: number,
  options: SolveOptions = {},
): LinearMap {
  const source = new SourceMoments(dimIn);
  const cross = new CrossMoments(dimIn, dimOut);
  source.add(a);
  cross.add(a, b);
  return solveLinearMap(source, cross, options);
}

/**
 * Element-wise mean of several maps of the same shape: how SN-Net merges the per-position fits of
 * a stitching layer shared by several positions.
 */
export function averageLinearMaps(maps: readonly LinearMap[]): LinearMap {
  const first = maps[0];
  if (!first) {
    throw new BuilderError('BUILD_DATA_INVALID', 'No linear maps to average', {
      hint: 'Fit at least one position per stitching layer',
    });
  }
  const weight = new Float64Array(first.weight.length);
  const bias = new Float64Array(first.bias.length);
  for (const m of maps) {
    if (m.dimIn !== first.dimIn || m.dimOut !== first.dimOut) {
      throw new BuilderError(
        'BUILD_DATA_INVALID',
        `Cannot average a ${m.dimIn}→${m.dimOut} map with a ${first.dimIn}→${first.dimOut} map`,
        {
          hint: 'Average only the fits of one stitching layer',
        },
      );
    }
    m.weight.forEach((v, i) => (weight[i] = (weight[i] as number) + v));
    m.bias.forEach((v, i) => (bias[i] = (bias[i] as number) + v));
  }
  const k = maps.length;
  return {
    dimIn: first.dimIn,
    dimOut: first.dimOut,
    weight: Float32Array.from(weight, (v) => v / k),
    bias: Float32Array.from(bias, (v) => v / k),
  };
}
