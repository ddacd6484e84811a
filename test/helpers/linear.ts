/**
 * A plain reference for the linear maps that tests fit or compose.
 */

/** `y = x·W + b` over the last axis of a row-major x `[rows, dimIn]`, W `[dimIn, dimOut]`. */
export function linearRef(
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  dimIn: number,
  dimOut: number,
): Float32Array {
  const rows = x.length / dimIn;
  const y = new Float32Array(rows * dimOut);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < dimOut; o++) {
      let s = b[o] as number;
      for (let i = 0; i < dimIn; i++) s += (x[r * dimIn + i] as number) * (w[i * dimOut + o] as number);
      y[r * dimOut + o] = s;
    }
  }
  return y;
}
