import path from 'node:path';
import { writeIdx } from '../builder/family.js';
import { cli } from './helpers.js';

/** Depth of the fixture family's anchors. */
export const DEPTH = 3;

/**
 * SN-Net v1 stitch count for three depth-3 anchors: the paired window (kernel 2, stride 1) over
 * 3 blocks has windows {0,1} and {1,2}, giving 4 + 3 = 7 positions per neighbouring pair, so
 * 3 anchors + 2 pairs × 7 = 17 ids and 2 stitching layers per pair.
 */
export const V1_STITCHES = 17;
export const V1_LAYERS = 4;

export interface Fixture {
  anchors: string[];
  calib: string;
  eval: string;
}

/**
 * A tiny three-anchor ViT family written by `stitchnet synth vit` (widths 16/24/32, depth 3,
 * 28×28 grey, 10 classes) and seeded random MNIST-format calibration and evaluation sets.
 */
export async function makeFixture(dir: string): Promise<Fixture> {
  const fam = path.join(dir, 'family');
  const r = await cli([
    ...synthVitArgs(fam, { dims: '16,24,32', heads: '1,1,2', depth: DEPTH }),
    '--mlp-ratio',
    '2',
    '--json',
  ]);
  if (r.code !== 0) throw new Error(`synth failed: ${r.stderr}`);
  const anchors = (JSON.parse(r.stdout) as { anchors: { file: string }[] }).anchors.map((a) => a.file);
  return { anchors, calib: writeIdx(dir, 'calib', 300, 28, 11), eval: writeIdx(dir, 'eval', 200, 28, 12) };
}

/** `stitchnet synth vit` of ViT anchors of the given widths for 28×28 grey images (patch 7) and 10 classes, into `out`. */
export function synthVitArgs(out: string, vit: { dims: string; heads: string; depth: number }): string[] {
  return [
    'synth',
    'vit',
    '--dims',
    vit.dims,
    '--heads',
    vit.heads,
    '--depth',
    String(vit.depth),
    '--image',
    '28',
    '--patch',
    '7',
    '--channels',
    '1',
    '--classes',
    '10',
    '--out',
    out,
  ];
}

/**
 * `stitchnet build` of the fixture family into `out`, profiled on the CPU in short (1 warm-up,
 * 3 rounds, 1 thread), with the report as JSON; `options` adds the rest (calibration samples,
 * evaluation, preprocessing, batches), each option with its value.
 */
export function buildArgs(fx: Fixture, out: string, options: Record<string, string>): string[] {
  return [
    'build',
    '--anchors',
    ...fx.anchors,
    '--calib',
    fx.calib,
    ...Object.entries(options).flat(),
    '--profile',
    'cpu',
    '--warmup',
    '1',
    '--rounds',
    '3',
    '--threads',
    '1',
    '--out',
    out,
    '--json',
  ];
}
