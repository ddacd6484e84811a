/**
 * Labels out: the model's logits as `{ label, score }` lists — a softmax over the classes of each
 * sample, sorted by score, the top `topK` kept — named by the manifest's `output.labels`.
 */
import { OptionError, RuntimeError } from '../errors.js';
import type { Manifest } from '../package/types.js';

/** One class of a classification, with its probability. */
export interface ScoredLabel {
  /** The class name from the manifest's `output.labels` (its index as text when the package names none). */
  label: string;
  /** The class index in the model output. */
  index: number;
  /** Softmax probability, 0..1 (all classes of a sample sum to 1). */
  score: number;
}

/** The default number of labels kept per sample. */
export const DEFAULT_TOP_K = 5;

/** Checks `topK` (a positive integer; default {@link DEFAULT_TOP_K}). @throws OptionError OPTION_INVALID */
export function checkTopK(topK: unknown): number {
  if (topK === undefined) return DEFAULT_TOP_K;
  if (typeof topK !== 'number' || !Number.isInteger(topK) || topK <= 0) {
    throw new OptionError('OPTION_INVALID', `topK must be a positive integer, got ${String(topK)}`, {
      option: 'topK',
      hint: 'For example { topK: 3 }; a topK above the number of classes keeps them all.',
    });
  }
  return topK;
}

/** The class names of the package output, one per class, checked against the output's width. */
export function classLabels(manifest: Manifest, classes: number): string[] {
  const labels = manifest.output.labels;
  if (labels === undefined) return Array.from({ length: classes }, (_, i) => String(i));
  if (labels.length !== classes) {
    throw new RuntimeError(
      'INFERENCE_FAILED',
      `The package names ${labels.length} labels, but its output has ${classes} classes`,
      {
        field: 'output.labels',
        hint: 'Fix output.labels in the manifest: one label per output class.',
      },
    );
  }
  return labels;
}

/** Softmax of one row, in double precision and shifted by its maximum (no overflow). */
export function softmax(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i] as number);
  const out = new Float64Array(row.length);
  let sum = 0;
  for (let i = 0; i < row.length; i++) {
    out[i] = Math.exp((row[i] as number) - max);
    sum += out[i] as number;
  }
  for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) / sum;
  return out;
}

/**
 * Labels `[batch, classes]` logits: one list per sample, the `topK` most probable classes first
 * (ties by class index).
 *
 * @throws RuntimeError INFERENCE_FAILED when the output is not `[batch, classes]` or the labels do not match it
 */
export function labelLogits(
  logits: Float32Array,
  dims: readonly number[],
  manifest: Manifest,
  topK: number,
): ScoredLabel[][] {
  if (dims.length !== 2) {
    throw new RuntimeError(
      'INFERENCE_FAILED',
      `classify needs a [batch, classes] output; the model gave [${dims.join(', ')}]`,
      {
        hint: 'Use run() for a model that is not a classifier.',
      },
    );
  }
  const [batch, classes] = dims as [number, number];
  const labels = classLabels(manifest, classes);
  const out: ScoredLabel[][] = [];
  for (let b = 0; b < batch; b++) {
    const p = softmax(logits.subarray(b * classes, (b + 1) * classes));
    const order = Array.from(p.keys()).sort((i, j) => (p[j] as number) - (p[i] as number) || i - j);
    out.push(order.slice(0, topK).map((i) => ({ label: labels[i] as string, index: i, score: p[i] as number })));
  }
  return out;
}
