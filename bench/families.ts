/**
 * Random-weight ViT families written as stitch packages, for benchmarks, the soak script and tests.
 *
 * Each anchor is a whole ViT from `buildVitModel`, cut at the residual stream (`vitBoundaries`)
 * into embed / block / head pieces with `extractSubgraph`; neighbouring anchors (a0→a1, a1→a2, …)
 * are joined by random token-wise Linear stitching layers (`linearModel`) at the given SN-Net
 * positions.
 *
 * Piece interfaces: embed `input` `[batch, C, H, W]` → `tokens` `[batch, T, dim]`; blocks and
 * stitching layers `tokens` → `tokens_out`; head `tokens` → `logits` `[batch, classes]`.
 *
 * Stitch ids follow SN-Net's order: the anchors first (0, 1, …), then for each neighbouring pair
 * one stitch per entry of `positions`, in that order. A position `[j, k]` runs the front anchor's
 * blocks `0..j`, the stitching layer, then the end anchor's blocks `k..depth-1`.
 *
 * Every stitch comes with its `segments` and `layers`, so the same route can be built as one
 * graph by a path independent of piece composition: {@link routeModelBytes}.
 */
import {
  DEIT_B,
  DEIT_S,
  DEIT_TI,
  type RouteSegment,
  type StitchSpec,
  type VitConfig,
  type VitWeights,
  buildRouteModel,
  buildVitModel,
  encodeModel,
  extractSubgraph,
  linearModel,
  randomVitWeights,
  vitBoundaries,
} from '../src/onnx/index.js';
import { OptionError } from '../src/errors.js';
import {
  type ExternalDataMode,
  type Manifest,
  type ManifestDraft,
  type PieceDraft,
  writePackage,
} from '../src/package/index.js';

/** What every anchor of a family shares. */
export interface FamilyImage {
  imageSize: number;
  patchSize: number;
  channels: number;
  mlpRatio: number;
  classes: number;
}

/** A family to generate. */
export interface FamilySpec {
  /** Package name. */
  name: string;
  description: string;
  image: FamilyImage;
  /** Anchors, smallest first. */
  anchors: readonly { dim: number; heads: number }[];
  /** Blocks per anchor. */
  depth: number;
  /** SN-Net positions `[j, k]` stitched for every neighbouring pair. */
  positions: readonly (readonly [number, number])[];
  /** Seed of all random weights (the same seed writes the same bytes). */
  seed: number;
}

export interface FamilyAnchor {
  /** Anchor id in the manifest: `a0`, `a1`, … (smallest first). */
  id: string;
  dim: number;
  /** The anchor's weights, as given to `buildVitModel` / `buildRouteModel`. */
  weights: VitWeights;
}

export interface FamilyStitch {
  /** Stitch id in the manifest. */
  id: number;
  /** The route as `buildRouteModel` segments (anchor indices into `anchors`). */
  segments: RouteSegment[];
  /** The stitching layers between consecutive segments (empty for an anchor). */
  layers: StitchSpec[];
  /** The manifest's stitching-layer id; absent for an anchor. */
  stitchLayer?: string;
  /** The SN-Net position `[j, k]`; absent for an anchor. */
  position?: [number, number];
}

export interface FamilyPackage {
  /** The folder it was written to. */
  dir: string;
  /** The manifest as written. */
  manifest: Manifest;
  anchors: FamilyAnchor[];
  /** Every stitch of the manifest, anchors first, in id order. */
  stitches: FamilyStitch[];
  /** Total size of the piece files (ONNX bytes, nearly all of it weights). */
  pieceBytes: number;
}

const DEIT_IMAGE: FamilyImage = {
  imageSize: DEIT_TI.imageSize,
  patchSize: DEIT_TI.patchSize,
  channels: DEIT_TI.channels,
  mlpRatio: DEIT_TI.mlpRatio,
  classes: DEIT_TI.classes,
};
const deitAnchor = (c: VitConfig) => ({ dim: c.dim, heads: c.heads });

/** The tiny benchmark family: 28×28×1, patch 4 (50 tokens), widths 48/96/192, depth 6, 10 classes. */
export const TINY_FAMILY: FamilySpec = {
  name: 'tiny-vit',
  description: 'Random-weight tiny ViT family (benchmark)',
  image: { imageSize: 28, patchSize: 4, channels: 1, mlpRatio: 4, classes: 10 },
  anchors: [
    { dim: 48, heads: 3 },
    { dim: 96, heads: 6 },
    { dim: 192, heads: 12 },
  ],
  depth: 6,
  positions: [
    [1, 2],
    [2, 3],
    [3, 4],
  ],
  seed: 7,
};

/** DeiT-Ti and DeiT-S (224×224, patch 16, depth 12) with Ti→S stitches at three cuts. */
export const DEIT_TS_FAMILY: FamilySpec = {
  name: 'deit-ts',
  description: 'Random-weight DeiT-Ti/S family (benchmark)',
  image: DEIT_IMAGE,
  anchors: [deitAnchor(DEIT_TI), deitAnchor(DEIT_S)],
  depth: DEIT_TI.depth,
  positions: [
    [3, 4],
    [5, 6],
    [7, 8],
  ],
  seed: 11,
};

/** DeiT-Ti, -S and -B with Ti→S and S→B stitches at three cuts each. */
export const DEIT_TSB_FAMILY: FamilySpec = {
  ...DEIT_TS_FAMILY,
  name: 'deit-tsb',
  description: 'Random-weight DeiT-Ti/S/B family (benchmark)',
  anchors: [deitAnchor(DEIT_TI), deitAnchor(DEIT_S), deitAnchor(DEIT_B)],
  seed: 13,
};

/** A one-anchor, one-block family of a few kilobytes (a baseline that loads ORT and a worker). */
export const MICRO_FAMILY: FamilySpec = {
  name: 'micro-vit',
  description: 'Smallest valid package',
  image: { imageSize: 28, patchSize: 7, channels: 1, mlpRatio: 1, classes: 10 },
  anchors: [{ dim: 16, heads: 1 }],
  depth: 1,
  positions: [],
  seed: 1,
};

/** A deterministic pseudo-random Float32Array in [-scale, scale) (mulberry32). */
export function uniform(n: number, seed: number, scale: number): Float32Array {
  let s = seed | 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    out[i] = (((t ^ (t >>> 14)) >>> 0) / 2 ** 31 - 1) * scale;
  }
  return out;
}

/** Values in one input sample of the family (`C·H·W`). */
export function sampleSize(spec: FamilySpec): number {
  return spec.image.channels * spec.image.imageSize ** 2;
}

/** The pieces of a family being written: their ONNX bytes by file, and their manifest entries. */
class PieceSet {
  readonly files = new Map<string, Uint8Array>();
  readonly pieces: Record<string, PieceDraft> = {};

  add(
    id: string,
    kind: PieceDraft['kind'],
    bytes: Uint8Array,
    input: PieceDraft['input'],
    output: PieceDraft['output'],
  ) {
    const file = `pieces/${id}.onnx`;
    this.files.set(file, bytes);
    this.pieces[id] = { kind, file, input, output };
  }
}

/** The tensor between blocks, `[batch, tokens, dim]`. */
function tokenStream(spec: FamilySpec, name: string, dim: number): PieceDraft['input'] {
  const tokens = (spec.image.imageSize / spec.image.patchSize) ** 2 + 1;
  return { name, shape: ['batch', tokens, dim] };
}

/**
 * Writes the family as a stitch package to `dir` (created if needed) and returns what it holds.
 * Anchor `a` gets weights seeded `seed·1000 + a`; the stitching layer of stitch `id` is uniform
 * in ±1/√dimIn (weight, seed `seed·1000 + 100 + id`) and ±0.02 (bias, seed `seed·1000 + 500 + id`).
 */
export async function writeFamilyPackage(
  dir: string,
  spec: FamilySpec,
  externalData?: ExternalDataMode,
): Promise<FamilyPackage> {
  const { image } = spec;
  const set = new PieceSet();
  const cut = spec.anchors.map((_, a) => addAnchorPieces(spec, a, set));
  const anchors = cut.map((c) => c.anchor);
  const { stitches, stitchLayers } = addStitchLayers(spec, anchors, set);
  const manifest = await writePackage(dir, {
    manifest: {
      name: spec.name,
      description: spec.description,
      input: { name: 'input', shape: ['batch', image.channels, image.imageSize, image.imageSize] },
      output: { name: 'logits', shape: ['batch', image.classes] },
      anchors: cut.map((c) => c.entry),
      pieces: set.pieces,
      stitchLayers,
      stitches: stitches.map((s) => manifestStitch(s, anchors)),
      frontier: anchors.map((_, a) => a),
    },
    files: set.files,
    ...(externalData ? { externalData } : {}),
  });
  const pieceBytes = [...set.files.values()].reduce((n, b) => n + b.length, 0);
  return { dir, manifest, anchors, stitches, pieceBytes };
}

/** Anchor `a`: random weights, cut into embed, blocks and head pieces. */
function addAnchorPieces(
  spec: FamilySpec,
  a: number,
  set: PieceSet,
): { anchor: FamilyAnchor; entry: ManifestDraft['anchors'][number] } {
  const { image, depth, seed } = spec;
  const { dim, heads } = spec.anchors[a] as FamilySpec['anchors'][number];
  const id = `a${a}`;
  const bounds = vitBoundaries(depth);
  const weights = randomVitWeights({ ...image, dim, heads, depth }, seed * 1000 + a);
  const whole = buildVitModel(weights);
  const cut = (inputs: string[], outputs: string[], rename: Record<string, string>) =>
    encodeModel(extractSubgraph(whole, { inputs, outputs, rename }));
  set.add(
    `${id}.embed`,
    'embed',
    cut(['input'], [bounds.embedOut], { [bounds.embedOut]: 'tokens' }),
    { name: 'input', shape: ['batch', image.channels, image.imageSize, image.imageSize] },
    tokenStream(spec, 'tokens', dim),
  );
  const blocks = bounds.blockOut.map((out, b) => {
    const input = b === 0 ? bounds.embedOut : (bounds.blockOut[b - 1] as string);
    set.add(
      `${id}.block.${b}`,
      'block',
      cut([input], [out], { [input]: 'tokens', [out]: 'tokens_out' }),
      tokenStream(spec, 'tokens', dim),
      tokenStream(spec, 'tokens_out', dim),
    );
    return `${id}.block.${b}`;
  });
  set.add(
    `${id}.head`,
    'head',
    cut([bounds.headIn], ['logits'], { [bounds.headIn]: 'tokens' }),
    tokenStream(spec, 'tokens', dim),
    { name: 'logits', shape: ['batch', image.classes] },
  );
  return { anchor: { id, dim, weights }, entry: { id, dim, depth, embed: `${id}.embed`, blocks, head: `${id}.head` } };
}

/** The anchors as stitches, then one random stitching layer (and stitch) per position between neighbouring anchors. */
function addStitchLayers(
  spec: FamilySpec,
  anchors: readonly FamilyAnchor[],
  set: PieceSet,
): { stitches: FamilyStitch[]; stitchLayers: ManifestDraft['stitchLayers'] } {
  const { depth, seed } = spec;
  const stitches: FamilyStitch[] = anchors.map((_, a) => ({
    id: a,
    segments: [{ anchor: a, from: 0, to: depth - 1 }],
    layers: [],
  }));
  const stitchLayers: ManifestDraft['stitchLayers'] = [];
  for (let a = 0; a + 1 < anchors.length; a++) {
    const front = anchors[a] as FamilyAnchor;
    const end = anchors[a + 1] as FamilyAnchor;
    for (const [j, k] of spec.positions) {
      const layerId = `${front.id}-${end.id}.${j}.${k}`;
      const id = stitches.length;
      const layer: StitchSpec = {
        weight: uniform(front.dim * end.dim, seed * 1000 + 100 + id, 1 / Math.sqrt(front.dim)),
        bias: uniform(end.dim, seed * 1000 + 500 + id, 0.02),
      };
      const input = tokenStream(spec, 'tokens', front.dim);
      const model = linearModel({
        ...layer,
        dimIn: front.dim,
        dimOut: end.dim,
        inputName: 'tokens',
        outputName: 'tokens_out',
        inputShape: input.shape,
      });
      set.add(layerId, 'stitch', encodeModel(model), input, tokenStream(spec, 'tokens_out', end.dim));
      stitchLayers.push({ id: layerId, piece: layerId, from: front.id, to: end.id, origin: 'random' });
      stitches.push({
        id,
        segments: [
          { anchor: a, from: 0, to: j },
          { anchor: a + 1, from: k, to: depth - 1 },
        ],
        layers: [layer],
        stitchLayer: layerId,
        position: [j, k],
      });
    }
  }
  return { stitches, stitchLayers };
}

/** A stitch's manifest entry: its route of anchor steps joined by its stitching layer. */
function manifestStitch(s: FamilyStitch, anchors: readonly FamilyAnchor[]): ManifestDraft['stitches'][number] {
  return {
    id: s.id,
    route: s.segments.flatMap((seg, i) => {
      const step = { anchor: (anchors[seg.anchor] as FamilyAnchor).id, blocks: [seg.from, seg.to] as [number, number] };
      return i === 0 ? [step] : [{ stitchLayer: s.stitchLayer as string }, step];
    }),
    ...(s.position ? { positions: [s.position] } : {}),
  };
}

/**
 * The ONNX bytes of one stitch of the family built directly as one graph (`buildRouteModel`):
 * what a user without stitchnet would export and run, and an independent reference for the
 * runtime's results.
 */
export function routeModelBytes(family: Pick<FamilyPackage, 'anchors' | 'stitches'>, stitchId: number): Uint8Array {
  const stitch = family.stitches.find((s) => s.id === stitchId);
  if (!stitch) {
    throw new OptionError('OPTION_INVALID', `the family has no stitch ${stitchId}`, {
      option: 'stitchId',
      validValues: family.stitches.map((s) => s.id),
    });
  }
  return encodeModel(
    buildRouteModel(
      family.anchors.map((a) => a.weights),
      stitch.segments,
      stitch.layers,
    ),
  );
}
