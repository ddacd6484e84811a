/**
 * A tiny, valid stitch package written to disk for tests: a family of random-weight ViTs
 * (28×28×1 input, patch 7 → 16+1 tokens, 10 classes; widths 32/48/64, depth 4 by default) cut
 * into embed / block / head pieces at the residual stream, plus random stitching layers between
 * each pair of neighbouring anchors.
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
import {
  type RouteSegment,
  type StitchSpec,
  type VitConfig,
  type VitWeights,
  buildVitModel,
  encodeModel,
  extractSubgraph,
  linearModel,
  randomVitWeights,
  vitBoundaries,
} from '../../src/onnx/index.js';
import { type Manifest, type ManifestDraft, type PieceDraft, writePackage } from '../../src/package/index.js';

export interface TinyPackageOptions {
  /** Anchor widths, smallest first; each gets `dim / 16` heads. @defaultValue [32, 48, 64] */
  dims?: readonly number[];
  /** Blocks per anchor. @defaultValue 4 */
  depth?: number;
  /** SN-Net positions `[j, k]` stitched for every neighbouring pair. @defaultValue [[0, 1], [1, 1], [2, 3]] */
  positions?: readonly (readonly [number, number])[];
  /** Seed of all random weights (the same seed writes the same bytes). @defaultValue 1 */
  seed?: number;
}

export interface TinyAnchor {
  /** Anchor id in the manifest: `a0`, `a1`, … (smallest first). */
  id: string;
  dim: number;
  /** The anchor's weights, as given to `buildVitModel` / `buildRouteModel`. */
  weights: VitWeights;
}

export interface TinyStitch {
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

export interface TinyPackage {
  /** The folder it was written to. */
  dir: string;
  /** The manifest as written. */
  manifest: Manifest;
  anchors: TinyAnchor[];
  /** Every stitch of the manifest, anchors first, in id order. */
  stitches: TinyStitch[];
}

const IMAGE = { imageSize: 28, patchSize: 7, channels: 1, mlpRatio: 4, classes: 10 };
const TOKENS = (IMAGE.imageSize / IMAGE.patchSize) ** 2 + 1;

/** A deterministic pseudo-random Float32Array in [-scale, scale). */
function random(n: number, seed: number, scale: number): Float32Array {
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

const stream = (name: string, dim: number) => ({ name, shape: ['batch', TOKENS, dim] });

/** Writes the tiny package to `dir` (created if needed) and returns what it holds. */
export async function makeTinyPackage(dir: string, opts: TinyPackageOptions = {}): Promise<TinyPackage> {
  const dims = opts.dims ?? [32, 48, 64];
  const depth = opts.depth ?? 4;
  const positions = opts.positions ?? [
    [0, 1],
    [1, 1],
    [2, 3],
  ];
  const seed = opts.seed ?? 1;
  const files = new Map<string, Uint8Array>();
  const pieces: Record<string, PieceDraft> = {};
  const addPiece = (id: string, kind: PieceDraft['kind'], bytes: Uint8Array, input: PieceDraft['input'], output: PieceDraft['output']) => {
    const file = `pieces/${id}.onnx`;
    files.set(file, bytes);
    pieces[id] = { kind, file, input, output };
  };

  const bounds = vitBoundaries(depth);
  const anchors: TinyAnchor[] = [];
  const manifestAnchors: ManifestDraft['anchors'] = [];
  dims.forEach((dim, a) => {
    const id = `a${a}`;
    const config: VitConfig = { ...IMAGE, dim, heads: dim / 16, depth };
    const weights = randomVitWeights(config, seed * 1000 + a);
    const whole = buildVitModel(weights);
    const cut = (inputs: string[], outputs: string[], rename: Record<string, string>) =>
      encodeModel(extractSubgraph(whole, { inputs, outputs, rename }));

    addPiece(`${id}.embed`, 'embed', cut(['input'], [bounds.embedOut], { [bounds.embedOut]: 'tokens' }), {
      name: 'input',
      shape: ['batch', IMAGE.channels, IMAGE.imageSize, IMAGE.imageSize],
    }, stream('tokens', dim));
    const blocks = bounds.blockOut.map((out, b) => {
      const input = b === 0 ? bounds.embedOut : (bounds.blockOut[b - 1] as string);
      addPiece(`${id}.block.${b}`, 'block', cut([input], [out], { [input]: 'tokens', [out]: 'tokens_out' }), stream('tokens', dim), stream('tokens_out', dim));
      return `${id}.block.${b}`;
    });
    addPiece(`${id}.head`, 'head', cut([bounds.headIn], ['logits'], { [bounds.headIn]: 'tokens' }), stream('tokens', dim), {
      name: 'logits',
      shape: ['batch', IMAGE.classes],
    });
    anchors.push({ id, dim, weights });
    manifestAnchors.push({ id, dim, depth, embed: `${id}.embed`, blocks, head: `${id}.head` });
  });

  const stitches: TinyStitch[] = anchors.map((_, a) => ({ id: a, segments: [{ anchor: a, from: 0, to: depth - 1 }], layers: [] }));
  const stitchLayers: ManifestDraft['stitchLayers'] = [];
  for (let a = 0; a + 1 < anchors.length; a++) {
    const front = anchors[a] as TinyAnchor;
    const end = anchors[a + 1] as TinyAnchor;
    for (const [j, k] of positions) {
      const layerId = `${front.id}-${end.id}.${j}.${k}`;
      const id = stitches.length;
      const layer: StitchSpec = {
        weight: random(front.dim * end.dim, seed * 1000 + 100 + id, 1 / Math.sqrt(front.dim)),
        bias: random(end.dim, seed * 1000 + 500 + id, 0.02),
      };
      const model = linearModel({
        ...layer,
        dimIn: front.dim,
        dimOut: end.dim,
        inputName: 'tokens',
        outputName: 'tokens_out',
        inputShape: ['batch', TOKENS, front.dim],
      });
      addPiece(layerId, 'stitch', encodeModel(model), stream('tokens', front.dim), stream('tokens_out', end.dim));
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

  const manifest = await writePackage(dir, {
    manifest: {
      name: 'tiny-vit',
      description: 'Random-weight ViT family for tests',
      input: { name: 'input', shape: ['batch', IMAGE.channels, IMAGE.imageSize, IMAGE.imageSize] },
      output: { name: 'logits', shape: ['batch', IMAGE.classes] },
      anchors: manifestAnchors,
      pieces,
      stitchLayers,
      stitches: stitches.map((s) => ({
        id: s.id,
        route: s.segments.flatMap((seg, i) => {
          const step = { anchor: (anchors[seg.anchor] as TinyAnchor).id, blocks: [seg.from, seg.to] as [number, number] };
          return i === 0 ? [step] : [{ stitchLayer: s.stitchLayer as string }, step];
        }),
        ...(s.position ? { positions: [s.position] } : {}),
      })),
      frontier: anchors.map((_, a) => a),
    },
    files,
  });
  return { dir, manifest, anchors, stitches };
}
