import { describe, expect, it } from 'vitest';
import { graphCost, routeCost, type GraphCost } from '../../src/onnx/cost.js';
import { enumerateStitches } from '../../src/builder/enumerate.js';
import { splitAnchor, type AnchorSplit } from '../../src/builder/split.js';
import { DEIT_B, DEIT_S, DEIT_TI, buildVitModel, linearModel } from '../../src/onnx/index.js';
import type { RouteStep } from '../../src/package/schema.js';
import { zeroVitWeights } from '../builder/vit-zero.js';

/**
 * The SN-Net DeiT figures (fvcore, 224×224, patch 16, 1000 classes) reproduced by counting
 * generated DeiT-shaped graphs cut into pieces. The paper's stitched rows skip the end anchor's
 * final LayerNorm (5·N·D) and the front anchor's cls token and position embedding; our routes
 * run the full head and count every parameter they hold.
 */
const N = 197;
const EXPECTED: Record<number, { paperMacs: number; macs: number; params: number }> = {
  0: { paperMacs: 1_258_411_200, macs: 1_258_411_200, params: 5_717_416 },
  1: { paperMacs: 4_608_338_304, macs: 4_608_338_304, params: 22_050_664 },
  2: { paperMacs: 17_582_740_224, macs: 17_582_740_224, params: 86_567_656 },
  3: { paperMacs: 4_696_010_496, macs: 4_696_010_496 + 5 * N * 384, params: 22_383_976 },
  24: { paperMacs: 2_758_967_808, macs: 2_758_967_808 + 5 * N * 384, params: 13_076_776 },
  56: { paperMacs: 10_048_040_448, macs: 10_048_040_448 + 5 * N * 768, params: 49_298_152 },
};

describe('cost of DeiT stitches counted from ONNX pieces', () => {
  // Ti and S are cut at full depth. DeiT-B's twelve blocks are the same graph up to weights, so it
  // is generated with one block (same embed, block and head graphs) and that block piece stands
  // for each of its blocks; the S test below checks that equal blocks do count the same.
  const splits: Record<string, AnchorSplit> = {
    ti: splitAnchor(buildVitModel(zeroVitWeights(DEIT_TI))),
    s: splitAnchor(buildVitModel(zeroVitWeights(DEIT_S))),
    b: splitAnchor(buildVitModel(zeroVitWeights({ ...DEIT_B, depth: 1 }))),
  };
  const costs = new Map<string, GraphCost>();
  for (const [id, sp] of Object.entries(splits)) {
    costs.set(`${id}.embed`, graphCost(sp.embed));
    const blocks = sp.blocks.map((m) => graphCost(m));
    for (let i = 0; i < 12; i++) costs.set(`${id}.block.${i}`, blocks[Math.min(i, blocks.length - 1)]!);
    costs.set(`${id}.head`, graphCost(sp.head));
  }
  const e = enumerateStitches([
    { id: 'ti', depth: 12 },
    { id: 's', depth: 12 },
    { id: 'b', depth: 12 },
  ]);
  for (const l of e.layers) {
    const dimIn = splits[l.from]!.dim;
    const dimOut = splits[l.to]!.dim;
    const model = linearModel({
      weight: new Float32Array(dimIn * dimOut),
      bias: new Float32Array(dimOut),
      dimIn,
      dimOut,
      inputShape: splits[l.from]!.streamShape,
    });
    costs.set(l.id, graphCost(model));
  }
  const pieces = (route: RouteStep[]): string[] => {
    const anchors = route.filter((s): s is Extract<RouteStep, { anchor: string }> => 'anchor' in s);
    const out = [`${anchors[0]!.anchor}.embed`];
    for (const step of route) {
      if ('stitchLayer' in step) out.push(step.stitchLayer);
      else for (let b = step.blocks[0]; b <= step.blocks[1]; b++) out.push(`${step.anchor}.block.${b}`);
    }
    out.push(`${anchors[anchors.length - 1]!.anchor}.head`);
    return out;
  };

  it('cuts the generated anchors at their residual stream', () => {
    expect(splits.ti!.depth).toBe(12);
    expect(splits.ti!.streamShape).toEqual(['batch', 197, 192]);
    expect(splits.s!.boundaries[0]).toBe('/Add_output_0');
    expect(splits.s!.boundaries[12]).toBe('/blocks.11/Add_1_output_0');
    const s = [...Array(12).keys()].map((i) => costs.get(`s.block.${i}`)!);
    expect(new Set(s.map((c) => `${c.macs}/${c.params}`)).size).toBe(1);
  });

  it('pieces of an anchor add up to the whole anchor', () => {
    const whole = graphCost(buildVitModel(zeroVitWeights(DEIT_TI)));
    const sum = routeCost(pieces(e.stitches[0]!.route), costs);
    expect(sum).toEqual({ macs: whole.macs, params: whole.params });
  });

  for (const [id, want] of Object.entries(EXPECTED)) {
    it(`stitch ${id}: ${want.macs.toLocaleString('en')} MACs, ${want.params.toLocaleString('en')} params`, () => {
      const got = routeCost(pieces(e.stitches[Number(id)]!.route), costs);
      expect(got.macs).toBe(want.macs);
      expect(Math.abs(got.macs - want.paperMacs) / want.paperMacs).toBeLessThanOrEqual(0.0005);
      expect(got.params).toBe(want.params);
    });
  }
});
