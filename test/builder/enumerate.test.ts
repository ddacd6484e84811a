import { describe, expect, it } from 'vitest';
import {
  enumerateStitches,
  nearestMapping,
  pairedStitching,
  unpairedStitching,
  type EnumeratedStitch,
} from '../../src/builder/enumerate.js';
import { BuilderError } from '../../src/errors.js';
import type { RouteStep } from '../../src/package/schema.js';
import { SNNETV2_DEIT3_SL_FLOPS, SNNET_V1_DEIT_FLOPS } from './fixtures/snnet-tables.js';

const DEIT = [
  { id: 'ti', depth: 12 },
  { id: 's', depth: 12 },
  { id: 'b', depth: 12 },
];
const DIM: Record<string, number> = { ti: 192, s: 384, b: 768, l: 1024 };

/**
 * Closed-form fvcore FLOPs of a DeiT route at 224×224 (N = 197 tokens). Test-only: it is the
 * independent reference that ties our ids to the official result tables.
 */
function deitFlops(route: RouteStep[], finalNorm: boolean): number {
  const N = 197;
  const anchors = route.filter((s): s is Extract<RouteStep, { anchor: string }> => 'anchor' in s);
  const first = DIM[anchors[0]!.anchor]!;
  const last = DIM[anchors[anchors.length - 1]!.anchor]!;
  let flops = 196 * 768 * first + 1000 * last + (finalNorm ? 5 * N * last : 0);
  let prev = first;
  for (const step of route) {
    if ('anchor' in step) {
      const D = DIM[step.anchor]!;
      if (D !== prev) flops += N * prev * D;
      const blocks = step.blocks[1] - step.blocks[0] + 1;
      flops += blocks * (12 * N * D * D + 2 * N * N * D + 10 * N * D);
      prev = D;
    }
  }
  return flops;
}

const pos = (s: EnumeratedStitch) => s.positions;

describe('SN-Net v1 enumeration', () => {
  it('paired window gives 34 positions and 11 layers at depth 12', () => {
    const p = pairedStitching(12);
    expect(p.positions).toHaveLength(34);
    expect(p.positions.slice(0, 7)).toEqual([
      [0, 0],
      [0, 1],
      [1, 0],
      [1, 1],
      [1, 2],
      [2, 1],
      [2, 2],
    ]);
    expect(p.layerOf.slice(0, 7)).toEqual([0, 0, 0, 0, 1, 1, 1]);
    expect(Math.max(...p.layerOf)).toBe(10);
  });

  it('gives 71 ids for DeiT-Ti/S/B in the order of the official table', () => {
    const e = enumerateStitches(DEIT);
    expect(e.stitches).toHaveLength(71);
    expect(e.stitches.map((s) => s.id)).toEqual([...Array(71).keys()]);
    expect(e.stitches.slice(0, 3).map((s) => s.route)).toEqual([
      [{ anchor: 'ti', blocks: [0, 11] }],
      [{ anchor: 's', blocks: [0, 11] }],
      [{ anchor: 'b', blocks: [0, 11] }],
    ]);
    // The paper's named examples.
    expect(pos(e.stitches[3]!)).toEqual([[0, 0]]);
    expect(pos(e.stitches[24]!)).toEqual([[7, 7]]);
    expect(pos(e.stitches[39]!)).toEqual([[1, 0]]);
    expect(pos(e.stitches[56]!)).toEqual([[6, 7]]);
    expect(e.stitches[24]!.route).toEqual([
      { anchor: 'ti', blocks: [0, 7] },
      { stitchLayer: 'ti-s.6' },
      { anchor: 's', blocks: [7, 11] },
    ]);
    expect(e.stitches[56]!.route[0]).toEqual({ anchor: 's', blocks: [0, 6] });
    expect(e.stitches[56]!.stitchLayers).toEqual(['s-b.6']);
    expect(e.stitches.slice(3, 37).every((s) => (s.route[0] as { anchor: string }).anchor === 'ti')).toBe(true);
    expect(e.stitches.slice(37).every((s) => (s.route[2] as { anchor: string }).anchor === 'b')).toBe(true);
    // Every id's closed-form FLOPs equal the shipped table (stitched rows there skip the final norm).
    e.stitches.forEach((s) => expect(deitFlops(s.route, s.kind === 'anchor')).toBe(SNNET_V1_DEIT_FLOPS[s.id]));
  });

  it('lists 11 stitching layers per pair with the positions that share them', () => {
    const e = enumerateStitches(DEIT);
    expect(e.layers).toHaveLength(22);
    expect(e.layers.filter((l) => l.from === 'ti' && l.to === 's').map((l) => l.index)).toEqual([...Array(11).keys()]);
    expect(e.layers[0]).toEqual({
      id: 'ti-s.0',
      from: 'ti',
      to: 's',
      index: 0,
      positions: [
        [0, 0],
        [0, 1],
        [1, 0],
        [1, 1],
      ],
    });
    expect(e.layers.find((l) => l.id === 's-b.10')!.positions).toEqual([
      [10, 11],
      [11, 10],
      [11, 11],
    ]);
  });

  it('maps unequal depths with the unpaired mapping and its layer-id quirk', () => {
    expect(nearestMapping(6, 18)).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5, 5, 5]);
    expect(nearestMapping(12, 24)).toEqual([...Array(24).keys()].map((i) => i >> 1));
    const u = unpairedStitching(6, 18);
    expect(u.positions).toHaveLength(17);
    const e = enumerateStitches([
      { id: 'a', depth: 6 },
      { id: 'b', depth: 18 },
    ]);
    expect(e.stitches).toHaveLength(2 + 17);
    const byLayer = Object.fromEntries(e.layers.map((l) => [l.index, l.positions]));
    expect(byLayer).toEqual({
      0: [
        [0, 1],
        [0, 2],
        [1, 3],
      ],
      1: [
        [1, 4],
        [1, 5],
        [2, 6],
      ],
      2: [
        [2, 7],
        [2, 8],
        [3, 9],
      ],
      3: [
        [3, 10],
        [3, 11],
        [4, 12],
      ],
      4: [
        [4, 13],
        [4, 14],
        [5, 15],
      ],
      5: [
        [5, 16],
        [5, 17],
      ],
    });
    expect(e.stitches[2]!.route).toEqual([
      { anchor: 'a', blocks: [0, 0] },
      { stitchLayer: 'a-b.0' },
      { anchor: 'b', blocks: [1, 17] },
    ]);
  });

  it('rejects a front anchor deeper than the next one, duplicates and an empty list', () => {
    const bad = () =>
      enumerateStitches([
        { id: 'a', depth: 12 },
        { id: 'b', depth: 6 },
      ]);
    expect(bad).toThrow(BuilderError);
    expect(bad).toThrow(/deeper/);
    expect(() => enumerateStitches([])).toThrow(/No anchors/);
    expect(() =>
      enumerateStitches([
        { id: 'a', depth: 2 },
        { id: 'a', depth: 2 },
      ]),
    ).toThrow(/twice/);
  });
});

describe('SN-Netv2 two-way enumeration', () => {
  it('gives 135 ids for a depth-12 pair in SL, LS, LSL, SLS order', () => {
    const e = enumerateStitches(
      [
        { id: 's', depth: 12 },
        { id: 'b', depth: 12 },
      ],
      'v2',
    );
    expect(e.stitches).toHaveLength(135);
    const kinds = e.stitches.map((s) => s.kind);
    const range = (k: string) => [kinds.indexOf(k as never), kinds.lastIndexOf(k as never)];
    expect(range('anchor')).toEqual([0, 1]);
    expect(range('SL')).toEqual([2, 13]);
    expect(range('LS')).toEqual([14, 24]);
    expect(range('LSL')).toEqual([25, 79]);
    expect(range('SLS')).toEqual([80, 134]);
    // SL with front 11 would resume after the large anchor's last block: enumerated, never run.
    expect(e.stitches.filter((s) => !s.runnable).map((s) => s.id)).toEqual([13]);
    expect(e.stitches[25]!.route).toEqual([
      { anchor: 'b', blocks: [0, 0] },
      { stitchLayer: 'b-s.0' },
      { anchor: 's', blocks: [1, 1] },
      { stitchLayer: 's-b.1' },
      { anchor: 'b', blocks: [2, 11] },
    ]);
    // Layers are fitted from the two-segment routes: 11 SL (the 12th is never run) and 11 LS.
    expect(e.layers.map((l) => l.id)).toEqual([
      ...[...Array(11).keys()].map((i) => `s-b.${i}`),
      ...[...Array(11).keys()].map((i) => `b-s.${i}`),
    ]);
    expect(e.layers.every((l) => l.positions.length === 1)).toBe(true);
  });

  it('matches the DeiT3-S/L table of the official code (depths 12/24)', () => {
    const e = enumerateStitches(
      [
        { id: 's', depth: 12 },
        { id: 'l', depth: 24 },
      ],
      'v2',
    );
    expect(e.stitches).toHaveLength(135);
    for (const [id, flops] of Object.entries(SNNETV2_DEIT3_SL_FLOPS)) {
      expect(deitFlops(e.stitches[Number(id)]!.route, true), `id ${id}`).toBe(flops);
    }
  });

  it('enumerates each neighbouring pair of a three-anchor family', () => {
    const e = enumerateStitches(DEIT, 'v2');
    expect(e.stitches).toHaveLength(3 + 2 * 133);
    expect(e.stitches[136]!.kind).toBe('SL');
    expect(e.stitches[136]!.route[0]).toEqual({ anchor: 's', blocks: [0, 0] });
  });
});
