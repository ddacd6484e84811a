/**
 * The demo's stand-in until a trained family ships: a package built on the fly from the tiny
 * random-weight ViT family of `stitchnet synth vit --preset tiny`, with stitching layers fitted by
 * least squares on random images and every stitch's latency measured on the CPU. Its costs and
 * latencies are real, so the policy's switching is too; its accuracy is chance.
 *
 * Built once into a cache folder (a few seconds) and reused.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { cacheRoot } from '../base/cache-dir.js';
import { seededRandom } from '../base/random.js';
import { buildPackage, type BuildProgress } from '../builder/index.js';
import { buildVitModel, randomVitWeights, writeModel } from '../onnx/index.js';
import { PRESETS } from './commands/synth.js';

/** Bumped when the demo package changes, so that an old cached one is rebuilt. */
const DEMO_PACKAGE_VERSION = 1;
const SIDE = 28;
const CLASSES = 10;

/** The default cache folder of the random-weight stand-in: stitchnet's cache folder. */
export function defaultCacheDir(): string {
  return cacheRoot();
}

/**
 * Writes `count` random 28×28 greyscale images and labels as an MNIST-format pair
 * (`<prefix>-images-idx3-ubyte`, `<prefix>-labels-idx1-ubyte`); returns the images file.
 */
export async function writeRandomIdx(dir: string, prefix: string, count: number, seed: number): Promise<string> {
  const next = seededRandom(seed); // the same data on every machine
  const images = new Uint8Array(16 + count * SIDE * SIDE);
  const header = new DataView(images.buffer);
  images.set([0, 0, 8, 3]);
  header.setUint32(4, count);
  header.setUint32(8, SIDE);
  header.setUint32(12, SIDE);
  for (let i = 16; i < images.length; i++) images[i] = Math.floor(next() * 256);
  const labels = new Uint8Array(8 + count);
  labels.set([0, 0, 8, 1]);
  new DataView(labels.buffer).setUint32(4, count);
  for (let i = 8; i < labels.length; i++) labels[i] = Math.floor(next() * CLASSES);
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `${prefix}-images-idx3-ubyte`);
  await writeFile(file, images);
  await writeFile(path.join(dir, `${prefix}-labels-idx1-ubyte`), labels);
  return file;
}

/** The random-weight demo package in the cache. */
export interface DemoPackage {
  /** The package folder. */
  dir: string;
  /** Its sample images (IDX, with labels next to them). */
  samples: string;
  /** False when it was already in the cache. */
  built: boolean;
}

/**
 * The random-weight demo package under `cacheDir`, built there first if needed. The build goes to a
 * temporary folder that is renamed into place when complete, so an interrupted build leaves no
 * half package behind.
 */
export async function randomDemoPackage(cacheDir: string, progress?: BuildProgress): Promise<DemoPackage> {
  const dir = path.join(cacheDir, `demo-random-vit-v${DEMO_PACKAGE_VERSION}`);
  const samples = path.join(dir, 'samples', 'samples-images-idx3-ubyte');
  if (existsSync(path.join(dir, 'stitchnet.json')) && existsSync(samples)) return { dir, samples, built: false };
  const work = path.join(cacheDir, `.demo-build-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const anchors: string[] = [];
    for (const [i, [name, config]] of PRESETS.tiny.entries()) {
      const file = path.join(work, 'anchors', `${name}.onnx`);
      await mkdir(path.dirname(file), { recursive: true });
      await writeModel(file, buildVitModel(randomVitWeights({ ...config }, 1 + i)));
      anchors.push(file);
    }
    const calib = await writeRandomIdx(path.join(work, 'calib'), 'calib', 128, 11);
    const out = path.join(work, 'package');
    await buildPackage(
      {
        anchors,
        out,
        calib,
        name: 'random-vit-demo',
        description:
          'Random weights: a stand-in for the demo until a trained family ships. Costs and latencies are real; accuracy is chance.',
        preprocess: { scale: 1 / 255, mean: [0.5], std: [0.5] },
        profile: { provider: 'cpu', batches: [1], warmup: 2, rounds: 10 },
        threads: { intraOp: 1 },
      },
      progress,
    );
    await writeRandomIdx(path.join(out, 'samples'), 'samples', 500, 12);
    await rm(dir, { recursive: true, force: true });
    await rename(out, dir);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return { dir, samples, built: true };
}
