/**
 * Stitch enumeration, following the official SN-Net code so that stitch ids line up with the
 * papers' tables.
 *
 * - **v1** (SN-Net, CVPR'23, `stitching_deit/utils.py`, `stitching_swin/models/snnet.py`): anchors
 *   smallest first; only neighbouring pairs `(i, i+1)` are stitched, from the smaller (front) to
 *   the larger (end) anchor. Equal depths use the paired sliding window (kernel 2, stride 1) over
 *   positions `(j, k)` including `k ≤ j`; positions first seen in one window share one stitching
 *   layer. Unequal depths use the unpaired nearest-interpolation mapping, keeping its quirk that
 *   the n-th position gets layer `map[n]`. Ids: the anchors first, then each pair's positions.
 * - **v2** (SN-Netv2, `classification/snnet.py` `get_stitch_configs_bidirection`): per
 *   neighbouring pair, the two-way routes SL, LS, LSL and SLS.
 *
 * A position `(j, k)` means: run the front anchor's blocks `0..j`, apply a stitching layer, then
 * run the end anchor from block `k` to its last block.
 */
import { BuilderError } from '../errors.js';
import type { RouteStep } from '../package/schema.js';

/** What enumeration needs to know about one anchor. */
export interface AnchorShape {
  /** Anchor id as used in routes. */
  id: string;
  /** Number of blocks. */
  depth: number;
}

/** A stitch position `[j, k]`: front runs blocks `0..j`, the end anchor resumes at block `k`. */
export type Position = [number, number];

/** Which family of route a stitch belongs to. */
export type StitchKind = 'anchor' | 'v1' | 'SL' | 'LS' | 'LSL' | 'SLS';

/** Routes mode: SN-Net v1 one-way stitching, or SN-Netv2 two-way routes. */
export type RoutesMode = 'v1' | 'v2';

/** One enumerated stitch. */
export interface EnumeratedStitch {
  /** Positional id (anchors first), as in the official code. */
  id: number;
  kind: StitchKind;
  route: RouteStep[];
  /** The stitch positions along the route, one per stitching layer. Empty for anchors. */
  positions: Position[];
  /** Ids of the stitching layers along the route, in order. */
  stitchLayers: string[];
  /**
   * False for a route the official code enumerates but never runs: an SN-Netv2 SL stitch whose
   * end anchor would resume after its last block (excluded from `all_cfgs`).
   */
  runnable: boolean;
}

/** One stitching layer (a `Linear` from the front anchor's width to the end anchor's). */
export interface EnumeratedLayer {
  /** `"<from>-<to>.<index>"`, e.g. `"ti-s.3"`. */
  id: string;
  from: string;
  to: string;
  /** Index of the layer within its (from, to) direction, as in the official code. */
  index: number;
  /**
   * The positions whose least-squares fits are averaged into this layer (SN-Net fits each
   * position and averages W and b over the positions that share the layer).
   */
  positions: Position[];
}

export interface Enumeration {
  mode: RoutesMode;
  stitches: EnumeratedStitch[];
  layers: EnumeratedLayer[];
}

/** Positions and their layer indices for one (front, end) direction. */
interface PairPlan {
  positions: Position[];
  layerOf: number[];
}

/**
 * Paired stitching for two anchors of equal depth (`paired_stitching`, DeiT variant: all `(j,k)`
 * inside each window, `k ≤ j` included). Depth 12 gives 34 positions and 11 layers.
 */
export function pairedStitching(depth: number, kernelSize = 2, stride = 1): PairPlan {
  const positions: Position[] = [];
  const layerOf: number[] = [];
  const seen = new Set<string>();
  let layer = -1;
  for (let start = 0; start < depth; start += stride) {
    const window: number[] = [];
    for (let b = start; b < Math.min(start + kernelSize, depth); b++) window.push(b);
    let added = false;
    for (const j of window) {
      for (const k of window) {
        const key = `${j},${k}`;
        if (seen.has(key)) continue;
        seen.add(key);
        positions.push([j, k]);
        layerOf.push(layer + 1);
        added = true;
      }
    }
    if (added) layer += 1;
  }
  return { positions, layerOf };
}

/**
 * `torch.nn.functional.interpolate(arange(inSize), outSize)` in its default `nearest` mode,
 * computed in float32 like PyTorch's CPU kernel (`floor(i * (float)(in/out))`, clamped).
 */
export function nearestMapping(inSize: number, outSize: number): number[] {
  const out: number[] = [];
  if (outSize === 2 * inSize) {
    for (let i = 0; i < outSize; i++) out.push(i >> 1);
    return out;
  }
  const scale = Math.fround(inSize / outSize);
  for (let i = 0; i < outSize; i++) {
    out.push(Math.min(Math.floor(Math.fround(Math.fround(i) * scale)), inSize - 1));
  }
  return out;
}

/**
 * Unpaired stitching for a shallower front anchor (`unpaired_stitching`): position `(idx, i)` for
 * every end block `i` whose nearest-interpolated front index is `idx` and `i > idx`. Layer ids are
 * assigned as the official code does, by zipping the positions with the mapping itself, so the
 * n-th position gets layer `map[n]`.
 */
export function unpairedStitching(frontDepth: number, endDepth: number): PairPlan {
  const map = nearestMapping(frontDepth, endDepth);
  const positions: Position[] = [];
  for (let idx = 0; idx < frontDepth; idx++) {
    map.forEach((e, i) => {
      if (e === idx && idx < i) positions.push([idx, i]);
    });
  }
  // zip(stitch_cfgs, end_mapping_ids): there are never more positions than end blocks.
  const layerOf = positions.map((_, n) => map[n] as number);
  return { positions, layerOf };
}

function layerId(from: string, to: string, index: number): string {
  return `${from}-${to}.${index}`;
}

function fullRoute(a: AnchorShape): RouteStep[] {
  return [{ anchor: a.id, blocks: [0, a.depth - 1] }];
}

function validateAnchors(anchors: readonly AnchorShape[]): void {
  if (anchors.length === 0) {
    throw new BuilderError('BUILD_ANCHORS_INVALID', 'No anchors given', {
      option: 'anchors',
      hint: 'Pass the anchor models smallest first',
    });
  }
  const ids = new Set<string>();
  anchors.forEach((a, i) => {
    if (!Number.isInteger(a.depth) || a.depth < 1) {
      throw new BuilderError('BUILD_ANCHORS_INVALID', `Anchor "${a.id}" has depth ${a.depth}`, {
        option: `anchors[${i}]`,
        hint: 'Every anchor needs at least one block',
      });
    }
    if (ids.has(a.id)) {
      throw new BuilderError('BUILD_ANCHORS_INVALID', `Anchor id "${a.id}" is used twice`, {
        option: `anchors[${i}]`,
        hint: 'Give every anchor a distinct id',
      });
    }
    ids.add(a.id);
  });
  for (let i = 0; i + 1 < anchors.length; i++) {
    const f = anchors[i] as AnchorShape;
    const e = anchors[i + 1] as AnchorShape;
    if (f.depth > e.depth) {
      throw new BuilderError(
        'BUILD_ANCHORS_INVALID',
        `Anchor "${f.id}" (depth ${f.depth}) is deeper than the next, larger anchor "${e.id}" (depth ${e.depth}); SN-Net only maps a shallower front anchor onto a deeper end anchor`,
        {
          option: `anchors[${i}]`,
          hint: 'List anchors smallest first; a smaller anchor must not have more blocks than a larger one',
        },
      );
    }
  }
}

/**
 * Enumerates every stitch of an anchor family in SN-Net's order.
 *
 * @param anchors - the anchors, smallest first (the order decides the stitching direction).
 * @param mode - `'v1'` (default): SN-Net's one-way nearest-pair stitching; for three depth-12
 *   anchors this gives 71 ids and 11 stitching layers per pair. `'v2'`: SN-Netv2's two-way
 *   routes per neighbouring pair (SL, LS, LSL, SLS); a depth-12 pair gives 135 ids.
 * @returns the stitches with their routes, and the stitching layers with the positions whose
 *   fits they average.
 * @throws BuilderError `BUILD_ANCHORS_INVALID` when the anchors are empty, duplicated, or a
 *   front anchor is deeper than the anchor after it.
 */
export function enumerateStitches(anchors: readonly AnchorShape[], mode: RoutesMode = 'v1'): Enumeration {
  validateAnchors(anchors);
  const stitches: EnumeratedStitch[] = anchors.map((a, i) => ({
    id: i,
    kind: 'anchor',
    route: fullRoute(a),
    positions: [],
    stitchLayers: [],
    runnable: true,
  }));
  const layers: EnumeratedLayer[] = [];
  for (let i = 0; i + 1 < anchors.length; i++) {
    const front = anchors[i] as AnchorShape;
    const end = anchors[i + 1] as AnchorShape;
    if (mode === 'v1') enumerateV1Pair(front, end, stitches, layers);
    else enumerateV2Pair(front, end, stitches, layers);
  }
  return { mode, stitches, layers };
}

/** Adds a layer if new and records that `position` uses it. */
function useLayer(layers: EnumeratedLayer[], from: string, to: string, index: number, position: Position): string {
  const id = layerId(from, to, index);
  let layer = layers.find((l) => l.id === id);
  if (!layer) {
    layer = { id, from, to, index, positions: [] };
    layers.push(layer);
  }
  if (!layer.positions.some(([j, k]) => j === position[0] && k === position[1])) layer.positions.push(position);
  return id;
}

function enumerateV1Pair(
  front: AnchorShape,
  end: AnchorShape,
  stitches: EnumeratedStitch[],
  layers: EnumeratedLayer[],
): void {
  const plan = front.depth === end.depth ? pairedStitching(front.depth) : unpairedStitching(front.depth, end.depth);
  plan.positions.forEach((p, n) => {
    const sl = useLayer(layers, front.id, end.id, plan.layerOf[n] as number, p);
    stitches.push({
      id: stitches.length,
      kind: 'v1',
      route: [
        { anchor: front.id, blocks: [0, p[0]] },
        { stitchLayer: sl },
        { anchor: end.id, blocks: [p[1], end.depth - 1] },
      ],
      positions: [p],
      stitchLayers: [sl],
      runnable: true,
    });
  });
}

interface V2Config {
  position: Position;
  layer: number;
}

function enumerateV2Pair(
  small: AnchorShape,
  large: AnchorShape,
  stitches: EnumeratedStitch[],
  layers: EnumeratedLayer[],
): void {
  const d0 = small.depth;
  const d1 = large.depth;
  const ratio = Math.floor(d1 / d0);
  const sl: V2Config[] = [];
  for (let i = 0; i < d0; i++) sl.push({ position: [i, (i + 1) * ratio], layer: i });
  const map = nearestMapping(d0, d1);
  const ls: V2Config[] = [];
  for (let i = 0; i < d1; i++) {
    const take = d1 !== d0 ? i % 2 === 1 && i < d1 - 1 : i < d1 - 1;
    if (take) ls.push({ position: [i, (map[i] as number) + 1], layer: Math.floor(i / ratio) });
  }
  // The stitching layers are fitted from the two-segment routes only.
  const slLayer = (c: V2Config): string =>
    c.position[1] < d1
      ? useLayer(layers, small.id, large.id, c.layer, c.position)
      : layerId(small.id, large.id, c.layer);
  const lsLayer = (c: V2Config): string => useLayer(layers, large.id, small.id, c.layer, c.position);
  const slIds = sl.map(slLayer);
  const lsIds = ls.map(lsLayer);

  const push = (kind: StitchKind, ids: AnchorShape[], cfgs: V2Config[], layerIds: string[]): void => {
    const route: RouteStep[] = [];
    let from = 0;
    cfgs.forEach((c, n) => {
      route.push({ anchor: (ids[n] as AnchorShape).id, blocks: [from, c.position[0]] });
      route.push({ stitchLayer: layerIds[n] as string });
      from = c.position[1];
    });
    const last = ids[ids.length - 1] as AnchorShape;
    route.push({ anchor: last.id, blocks: [from, last.depth - 1] });
    stitches.push({
      id: stitches.length,
      kind,
      route,
      positions: cfgs.map((c) => c.position),
      stitchLayers: layerIds,
      runnable: from < last.depth,
    });
  };

  sl.forEach((c, n) => push('SL', [small, large], [c], [slIds[n] as string]));
  ls.forEach((c, n) => push('LS', [large, small], [c], [lsIds[n] as string]));
  ls.forEach((a, m) => {
    sl.forEach((b, n) => {
      if (b.layer === d0 - 1) return;
      if (b.position[0] >= a.position[1])
        push('LSL', [large, small, large], [a, b], [lsIds[m] as string, slIds[n] as string]);
    });
  });
  sl.forEach((a, n) => {
    ls.forEach((b, m) => {
      if (b.position[0] >= a.position[1])
        push('SLS', [small, large, small], [a, b], [slIds[n] as string, lsIds[m] as string]);
    });
  });
}
