/**
 * Fitting the stitching layers by least squares on activations captured from a calibration set,
 * as SN-Net initialises them: for a position `(j, k)` from anchor F to anchor E, the source is F's
 * output of block `j` and the target is E's input to block `k` (its embedding output when
 * `k = 0`), every token a row (cls included). A layer shared by several positions is fitted per
 * position and the fits are averaged.
 */
import { batchesOf, type Dataset } from '../data/datasets.js';
import type { EnumeratedLayer } from './enumerate.js';
import { averageLinearMaps, CrossMoments, type LinearMap, solveLinearMap, SourceMoments } from './lstsq.js';
import type { Batch, PieceRunner } from './runner.js';

/** The pieces of one anchor as loaded in the runner. */
export interface AnchorPieces {
  id: string;
  dim: number;
  embed: string;
  blocks: string[];
}

export interface FitOptions {
  /** Samples per captured batch (default 32). */
  batchSize?: number;
  /** Relative ridge of the solve (see `solveLinearMap`). */
  ridge?: number;
  /** Called after each calibration batch. */
  onBatch?: (done: number, total: number) => void;
}

/**
 * The residual stream of one anchor on one batch: `stream[0]` is the embedding output,
 * `stream[i + 1]` the output of block `i`.
 */
export async function captureStream(
  runner: PieceRunner,
  anchor: AnchorPieces,
  input: Batch,
  upTo = anchor.blocks.length,
): Promise<Batch[]> {
  const stream = [await runner.run([anchor.embed], input)];
  for (let i = 0; i < upTo; i++) stream.push(await runner.run([anchor.blocks[i] as string], stream[i] as Batch));
  return stream;
}

/**
 * Captures activations batch by batch and fits every stitching layer.
 *
 * @returns the fitted map of each layer id.
 */
export async function fitStitchLayers(
  layers: readonly EnumeratedLayer[],
  anchors: readonly AnchorPieces[],
  data: Dataset,
  runner: PieceRunner,
  options: FitOptions = {},
): Promise<Map<string, LinearMap>> {
  const byId = new Map(anchors.map((a) => [a.id, a]));
  const sources = new Map<string, SourceMoments>();
  const crosses = new Map<string, CrossMoments>();
  // How deep each anchor's stream must be captured.
  const need = new Map<string, number>();
  const deepen = (id: string, index: number) => need.set(id, Math.max(need.get(id) ?? 0, index));
  for (const layer of layers) {
    const from = byId.get(layer.from) as AnchorPieces;
    const to = byId.get(layer.to) as AnchorPieces;
    for (const [j, k] of layer.positions) {
      if (!sources.has(`${layer.from}:${j}`)) sources.set(`${layer.from}:${j}`, new SourceMoments(from.dim));
      crosses.set(`${layer.id}:${j}:${k}`, new CrossMoments(from.dim, to.dim));
      deepen(layer.from, j + 1);
      deepen(layer.to, k);
    }
  }

  for (const { index, total, input } of batchesOf(data, options.batchSize ?? 32)) {
    const streams = new Map<string, Batch[]>();
    for (const [id, depth] of need)
      streams.set(id, await captureStream(runner, byId.get(id) as AnchorPieces, input, depth));
    const at = (id: string, index: number): Float32Array => ((streams.get(id) as Batch[])[index] as Batch).data;
    for (const [key, moments] of sources) {
      const [id, j] = splitKey(key);
      moments.add(at(id, j + 1));
    }
    for (const layer of layers) {
      for (const [j, k] of layer.positions) {
        (crosses.get(`${layer.id}:${j}:${k}`) as CrossMoments).add(at(layer.from, j + 1), at(layer.to, k));
      }
    }
    options.onBatch?.(index + 1, total);
  }

  const fitted = new Map<string, LinearMap>();
  for (const layer of layers) {
    const fits = layer.positions.map(([j, k]) =>
      solveLinearMap(
        sources.get(`${layer.from}:${j}`) as SourceMoments,
        crosses.get(`${layer.id}:${j}:${k}`) as CrossMoments,
        options.ridge === undefined ? {} : { ridge: options.ridge },
      ),
    );
    fitted.set(layer.id, averageLinearMaps(fits));
  }
  return fitted;
}

function splitKey(key: string): [string, number] {
  const i = key.lastIndexOf(':');
  return [key.slice(0, i), Number(key.slice(i + 1))];
}
