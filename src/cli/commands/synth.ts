/**
 * `stitchnet synth vit`: write a family of random-weight DeiT-style ViT anchors as whole ONNX
 * models — what `stitchnet build` takes — to ask what a family would cost on this device before
 * having trained weights.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { note } from '../style.js';
import { OptionError } from '../../errors.js';
import {
  DEIT_B,
  DEIT_S,
  DEIT_TI,
  buildVitModel,
  randomVitWeights,
  writeModel,
  type VitConfig,
} from '../../onnx/index.js';
import { intList, oneOf, positiveInt } from '../options.js';

/** The families `--preset` names: DeiT-Ti/S/B, and a tiny 28×28 greyscale family. */
export const PRESETS = {
  deit: [
    ['deit-ti', DEIT_TI],
    ['deit-s', DEIT_S],
    ['deit-b', DEIT_B],
  ],
  tiny: [
    ['tiny-s', { imageSize: 28, patchSize: 7, channels: 1, dim: 48, heads: 3, depth: 6, mlpRatio: 4, classes: 10 }],
    ['tiny-m', { imageSize: 28, patchSize: 7, channels: 1, dim: 96, heads: 3, depth: 6, mlpRatio: 4, classes: 10 }],
    ['tiny-l', { imageSize: 28, patchSize: 7, channels: 1, dim: 192, heads: 6, depth: 6, mlpRatio: 4, classes: 10 }],
  ],
} as const satisfies Record<string, readonly (readonly [string, VitConfig])[]>;

interface SynthOptions {
  out: string;
  preset?: keyof typeof PRESETS;
  dims?: number[];
  heads?: number[];
  depth: number;
  image: number;
  patch: number;
  channels: number;
  mlpRatio: number;
  classes: number;
  seed: number;
  json?: boolean;
}

/** The anchors the options describe, smallest first. */
export function synthConfigs(o: SynthOptions): [string, VitConfig][] {
  if (o.preset) return PRESETS[o.preset].map(([n, c]) => [n, { ...c }]);
  if (!o.dims) {
    throw new OptionError('OPTION_INVALID', 'give either --preset or --dims', {
      option: '--dims',
      hint: 'For example: --preset deit, or --dims 192,384,768 --heads 3,6,12',
    });
  }
  const heads = o.heads ?? o.dims.map((d) => Math.max(1, Math.round(d / 64)));
  if (heads.length !== o.dims.length) {
    throw new OptionError('OPTION_INVALID', `--heads has ${heads.length} values but --dims has ${o.dims.length}`, {
      option: '--heads',
    });
  }
  const given = o.dims;
  const dims = [...given].sort((a, b) => a - b);
  return dims.map((dim) => {
    const h = heads[given.indexOf(dim)] as number;
    const config: VitConfig = {
      imageSize: o.image,
      patchSize: o.patch,
      channels: o.channels,
      dim,
      heads: h,
      depth: o.depth,
      mlpRatio: o.mlpRatio,
      classes: o.classes,
    };
    return [`vit-d${dim}`, config];
  });
}

export function registerSynth(program: Command): void {
  const synth = program.command('synth').description('Generate random-weight model families.');
  synth
    .command('vit')
    .description('Write DeiT-style ViT anchors (random weights) as whole ONNX models, smallest first.')
    .requiredOption('--out <dir>', 'output folder')
    .option(
      '--preset <name>',
      'deit (DeiT-Ti/S/B, 224×224) or tiny (28×28 greyscale)',
      oneOf('--preset', Object.keys(PRESETS) as (keyof typeof PRESETS)[]),
    )
    .option('--dims <list>', 'token widths, e.g. 192,384,768', intList('--dims'))
    .option('--heads <list>', 'attention heads per anchor (default dim/64)', intList('--heads'))
    .option('--depth <n>', 'blocks per anchor', positiveInt('--depth'), 12)
    .option('--image <px>', 'input side', positiveInt('--image'), 224)
    .option('--patch <px>', 'patch side', positiveInt('--patch'), 16)
    .option('--channels <n>', 'input channels', positiveInt('--channels'), 3)
    .option('--mlp-ratio <n>', 'MLP width ÷ dim', positiveInt('--mlp-ratio'), 4)
    .option('--classes <n>', 'classifier outputs', positiveInt('--classes'), 1000)
    .option('--seed <n>', 'random seed', positiveInt('--seed'), 1)
    .option('--json', 'print the written files as JSON')
    .action(async (o: SynthOptions) => {
      const configs = synthConfigs(o);
      await mkdir(o.out, { recursive: true });
      const written: { file: string; config: VitConfig }[] = [];
      for (const [i, [name, config]] of configs.entries()) {
        const file = path.join(o.out, `${name}.onnx`);
        await writeModel(file, buildVitModel(randomVitWeights(config, o.seed + i)));
        written.push({ file, config });
        if (!o.json) note(`wrote ${file} (dim ${config.dim}, heads ${config.heads}, depth ${config.depth})`);
      }
      if (o.json) process.stdout.write(`${JSON.stringify({ anchors: written }, null, 2)}\n`);
    });
}
