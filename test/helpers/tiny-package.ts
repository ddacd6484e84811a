/**
 * A tiny, valid stitch package written to disk for tests: a family of random-weight ViTs
 * (28×28×1 input, patch 7 → 16+1 tokens, 10 classes; widths 32/48/64, depth 4 by default) cut
 * into embed / block / head pieces at the residual stream, plus random stitching layers between
 * each pair of neighbouring anchors (see `bench/families.ts`, which writes it).
 *
 * Piece interfaces: embed `input` `[batch, 1, 28, 28]` → `tokens` `[batch, 17, dim]`; blocks and
 * stitching layers `tokens` → `tokens_out`; head `tokens` → `logits` `[batch, 10]`.
 *
 * Stitch ids follow SN-Net's order: the anchors first (0, 1, 2), then for each neighbouring pair
 * (a0→a1, a1→a2) one stitch per entry of `positions`, in that order. A position `[j, k]` runs the
 * front anchor's blocks `0..j`, the stitching layer, then the end anchor's blocks `k..depth-1`.
 *
 * Every stitch comes with its `segments` and `layers`, so a test can build the same route as one
 * graph independently: `buildRouteModel(tiny.anchors.map((a) => a.weights), s.segments, s.layers)`.
 */
import type { ExternalDataMode } from '../../src/package/index.js';
import { type FamilyAnchor, type FamilyPackage, type FamilyStitch, writeFamilyPackage } from '../../bench/families.js';

export interface TinyPackageOptions {
  /** Anchor widths, smallest first; each gets `dim / 16` heads. @defaultValue [32, 48, 64] */
  dims?: readonly number[];
  /** Blocks per anchor. @defaultValue 4 */
  depth?: number;
  /** SN-Net positions `[j, k]` stitched for every neighbouring pair. @defaultValue [[0, 1], [1, 1], [2, 3]] */
  positions?: readonly (readonly [number, number])[];
  /** Seed of all random weights (the same seed writes the same bytes). @defaultValue 1 */
  seed?: number;
  /** Which pieces keep their weights as ONNX external data (`writePackage`'s option). @defaultValue 'auto' (none: all are small) */
  externalData?: ExternalDataMode;
}

export type TinyAnchor = FamilyAnchor;
export type TinyStitch = FamilyStitch;
export type TinyPackage = Omit<FamilyPackage, 'pieceBytes'>;

/** Writes the tiny package to `dir` (created if needed) and returns what it holds. */
export async function makeTinyPackage(dir: string, opts: TinyPackageOptions = {}): Promise<TinyPackage> {
  const dims = opts.dims ?? [32, 48, 64];
  const { pieceBytes: _, ...tiny } = await writeFamilyPackage(
    dir,
    {
      name: 'tiny-vit',
      description: 'Random-weight ViT family for tests',
      image: { imageSize: 28, patchSize: 7, channels: 1, mlpRatio: 4, classes: 10 },
      anchors: dims.map((dim) => ({ dim, heads: dim / 16 })),
      depth: opts.depth ?? 4,
      positions: opts.positions ?? [
        [0, 1],
        [1, 1],
        [2, 3],
      ],
      seed: opts.seed ?? 1,
    },
    opts.externalData,
  );
  return tiny;
}
