import * as ort from 'onnxruntime-node';
import { seededRandom } from '../../src/base/random.js';
import { type Model, encodeModel } from '../../src/onnx/index.js';

/** A deterministic pseudo-random Float32Array in [-1, 1). */
export function randomData(n: number, seed: number): Float32Array {
  const next = seededRandom(seed);
  return Float32Array.from({ length: n }, () => next() * 2 - 1);
}

export async function session(model: Model): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(encodeModel(model), { executionProviders: ['cpu'], intraOpNumThreads: 1 });
}

/** Runs a single-input, single-output session. */
export async function run1(s: ort.InferenceSession, x: ort.Tensor): Promise<ort.Tensor> {
  const [inName] = s.inputNames;
  const [outName] = s.outputNames;
  const out = await s.run({ [inName as string]: x });
  return out[outName as string] as ort.Tensor;
}

export function tensor(data: Float32Array, dims: number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}
