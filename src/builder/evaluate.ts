/**
 * Top-1 accuracy of every stitch on a labelled set.
 *
 * Per batch, each anchor's residual stream is computed once and kept; a stitch then starts from
 * its first anchor's stream after the blocks it runs, and only its own remaining pieces (the
 * stitching layer onwards) run. The result is the same as running every route from the input.
 */
import { expandRoute } from '../package/route.js';
import type { Manifest } from '../package/schema.js';
import { batchesOf, type Dataset } from '../data/datasets.js';
import { captureStream, type AnchorPieces } from './fit.js';
import type { Batch, PieceRunner } from './runner.js';

export interface EvaluateOptions {
  /** Samples per batch (default 32). */
  batchSize?: number;
  onBatch?: (done: number, total: number) => void;
}

/** Index of the largest value in each row of `[rows, classes]` logits. */
export function argmaxRows(logits: Float32Array, classes: number): Int32Array {
  const rows = logits.length / classes;
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++)
      if ((logits[r * classes + c] as number) > (logits[r * classes + best] as number)) best = c;
    out[r] = best;
  }
  return out;
}

/**
 * Accuracy of each of `ids` (stitch ids of `manifest`, every piece loaded in `runner`).
 *
 * @returns accuracy in `[0, 1]` by stitch id.
 */
export async function evaluateStitches(
  manifest: Manifest,
  ids: readonly number[],
  data: Dataset,
  runner: PieceRunner,
  options: EvaluateOptions = {},
): Promise<Map<number, number>> {
  const labels = data.labels as Int32Array;
  const anchors = new Map<string, AnchorPieces>(
    manifest.anchors.map((a) => [a.id, { id: a.id, dim: a.dim, embed: a.embed, blocks: a.blocks }]),
  );
  const plans = ids.map((id) => {
    const stitch = manifest.stitches.find((s) => s.id === id);
    const route = stitch?.route ?? [];
    const first = route[0] as { anchor: string; blocks: [number, number] };
    const pieces = expandRoute(manifest, route);
    // The embed and the first step's blocks come from the cached stream; the head is always left.
    const skip = 1 + first.blocks[1] + 1;
    return { id, anchor: first.anchor, streamIndex: first.blocks[1] + 1, rest: pieces.slice(skip) };
  });
  const correct = new Map(ids.map((id) => [id, 0]));
  for (const { index, total, start, input } of batchesOf(data, options.batchSize ?? 32)) {
    const streams = new Map<string, Batch[]>();
    for (const p of plans) {
      if (!streams.has(p.anchor))
        streams.set(p.anchor, await captureStream(runner, anchors.get(p.anchor) as AnchorPieces, input));
      const from = (streams.get(p.anchor) as Batch[])[p.streamIndex] as Batch;
      const logits = await runner.run(p.rest, from);
      const classes = logits.dims[logits.dims.length - 1] as number;
      const predicted = argmaxRows(logits.data, classes);
      let hits = 0;
      predicted.forEach((c, i) => (hits += c === labels[start + i] ? 1 : 0));
      correct.set(p.id, (correct.get(p.id) as number) + hits);
    }
    options.onBatch?.(index + 1, total);
  }
  return new Map(ids.map((id) => [id, (correct.get(id) as number) / data.size]));
}
