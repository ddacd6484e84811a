/**
 * A small, valid stitch package written to disk for tests (provisional: Linear pieces).
 */
import { encodeModel, linearModel } from '../../src/onnx/index.js';
import { type Manifest, type ManifestDraft, type PieceDraft, writePackage } from '../../src/package/index.js';

export interface TinyPackageOptions {
  /** Anchor widths, smallest first. @defaultValue [32, 48, 64] */
  dims?: readonly number[];
  /** Blocks per anchor. @defaultValue 4 */
  depth?: number;
  /** SN-Net positions `[j, k]` stitched between every neighbouring pair. @defaultValue [[0, 0], [1, 2], [2, 2]] */
  positions?: readonly (readonly [number, number])[];
  /** Seed of the random weights. @defaultValue 1 */
  seed?: number;
}

export interface TinyStitchLayerSpec {
  weight: Float32Array;
  bias: Float32Array;
  dimIn: number;
  dimOut: number;
}

export interface TinyStitchSpec {
  /** Stitch id in the manifest. */
  id: number;
  /** Indices into `anchors` of the front and end anchor. */
  from: number;
  to: number;
  position: [number, number];
  stitchLayer: string;
  layer: TinyStitchLayerSpec;
}

export interface TinyPackage {
  dir: string;
  manifest: Manifest;
  anchors: { id: string; dim: number }[];
  stitches: TinyStitchSpec[];
}

const TOKENS = 17;
const FEATURES = 16;
const CLASSES = 10;

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

/** Writes the tiny package to `dir` and returns what it holds. */
export async function makeTinyPackage(dir: string, opts: TinyPackageOptions = {}): Promise<TinyPackage> {
  const dims = opts.dims ?? [32, 48, 64];
  const depth = opts.depth ?? 4;
  const positions = opts.positions ?? [
    [0, 0],
    [1, 2],
    [2, 2],
  ];
  let seed = opts.seed ?? 1;
  const files = new Map<string, Uint8Array>();
  const pieces: Record<string, PieceDraft> = {};
  const spec = (d: number | string) => ({ name: 'x', shape: ['batch', TOKENS, d] });
  const linear = (id: string, kind: PieceDraft['kind'], dimIn: number, dimOut: number): TinyStitchLayerSpec => {
    const layer = { weight: random(dimIn * dimOut, seed++, 1 / Math.sqrt(dimIn)), bias: random(dimOut, seed++, 0.1), dimIn, dimOut };
    const file = `pieces/${id}.onnx`;
    files.set(file, encodeModel(linearModel({ ...layer, inputName: 'x', outputName: 'y', inputShape: ['batch', TOKENS, dimIn] })));
    pieces[id] = { kind, file, input: spec(dimIn), output: { name: 'y', shape: ['batch', TOKENS, dimOut] } };
    return layer;
  };

  const anchors = dims.map((dim, a) => {
    const id = `a${a}`;
    linear(`${id}.embed`, 'embed', FEATURES, dim);
    const blocks = Array.from({ length: depth }, (_, b) => {
      linear(`${id}.block.${b}`, 'block', dim, dim);
      return `${id}.block.${b}`;
    });
    linear(`${id}.head`, 'head', dim, CLASSES);
    return { id, dim, depth, embed: `${id}.embed`, blocks, head: `${id}.head` };
  });

  const stitchLayers: ManifestDraft['stitchLayers'] = [];
  const stitches: ManifestDraft['stitches'] = anchors.map((a, i) => ({ id: i, route: [{ anchor: a.id, blocks: [0, depth - 1] }] }));
  const specs: TinyStitchSpec[] = [];
  for (let a = 0; a + 1 < anchors.length; a++) {
    const front = anchors[a]!;
    const end = anchors[a + 1]!;
    for (const [j, k] of positions) {
      const layerId = `${front.id}-${end.id}.${j}.${k}`;
      const layer = linear(layerId, 'stitch', front.dim, end.dim);
      stitchLayers.push({ id: layerId, piece: layerId, from: front.id, to: end.id, origin: 'random' });
      const id = stitches.length;
      stitches.push({
        id,
        route: [{ anchor: front.id, blocks: [0, j] }, { stitchLayer: layerId }, { anchor: end.id, blocks: [k, depth - 1] }],
        positions: [[j, k]],
      });
      specs.push({ id, from: a, to: a + 1, position: [j, k], stitchLayer: layerId, layer });
    }
  }

  const manifest = await writePackage(dir, {
    manifest: {
      name: 'tiny',
      input: { name: 'x', shape: ['batch', TOKENS, FEATURES] },
      output: { name: 'y', shape: ['batch', TOKENS, CLASSES] },
      anchors,
      pieces,
      stitchLayers,
      stitches,
      frontier: anchors.map((_, i) => i),
    },
    files,
  });
  return { dir, manifest, anchors: anchors.map(({ id, dim }) => ({ id, dim })), stitches: specs };
}
