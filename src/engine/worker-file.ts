/**
 * Where the inference worker's entry file is.
 *
 * Built: the worker is its own bundle, `dist/engine/worker.js` (ESM) or `.cjs`, next to whatever
 * bundle is running now (`dist/index.*`, `dist/cli/main.js`, …), so it is looked up relative to
 * this module in the same format.
 *
 * From TypeScript sources (tests, `tsx`-less development): Node cannot start a `.ts` worker, so
 * the worker entry is bundled once with esbuild (a build-time dependency, present wherever the
 * sources are) into `node_modules/.cache/stitchnet/`, named by its content hash. Dependencies stay
 * external and resolve from the project's `node_modules`.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RuntimeError } from '../errors.js';

let resolved: Promise<string> | undefined;

/** The absolute path of the worker entry for this installation (resolved once per process). */
export function workerFile(): Promise<string> {
  resolved ??= locate().catch((e: unknown) => {
    resolved = undefined;
    throw e;
  });
  return resolved;
}

async function locate(): Promise<string> {
  const here = fileURLToPath(import.meta.url);
  const dir = path.dirname(here);
  const ext = path.extname(here);
  if (ext === '.ts') return bundleFromSource(path.join(dir, 'worker.ts'));
  const candidates = [
    path.join(dir, 'engine', `worker${ext}`),
    path.join(dir, '..', 'engine', `worker${ext}`),
    path.join(dir, `worker${ext}`),
  ];
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    throw new RuntimeError(
      'WORKER_FAILED',
      `the inference worker entry (engine/worker${ext}) is missing next to ${path.basename(here)}`,
      {
        file: candidates[0],
        hint: 'Rebuild or reinstall stitchnet, or pass worker: false to run in-process.',
      },
    );
  }
  return found;
}

interface EsbuildLike {
  build(options: Record<string, unknown>): Promise<{ outputFiles: { text: string }[] }>;
}

async function bundleFromSource(entry: string): Promise<string> {
  // The specifier is a variable so that bundlers leave this development-only import alone.
  const esbuildName = 'esbuild';
  let esbuild: EsbuildLike;
  try {
    esbuild = (await import(esbuildName)) as EsbuildLike;
  } catch (e) {
    throw new RuntimeError(
      'WORKER_FAILED',
      'running from TypeScript sources needs esbuild to bundle the inference worker',
      {
        hint: 'Install the dev dependencies (npm ci), use the built package, or pass worker: false.',
        cause: e,
      },
    );
  }
  const out = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    write: false,
    logLevel: 'silent',
  });
  const text = out.outputFiles[0]?.text ?? '';
  const root = projectRoot(path.dirname(entry));
  const cacheDir = path.join(root, 'node_modules', '.cache', 'stitchnet');
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 16);
  const file = path.join(cacheDir, `worker-${hash}.mjs`);
  if (!existsSync(file)) {
    await mkdir(cacheDir, { recursive: true });
    // Write then rename: several processes may bundle at the same time.
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, text);
    await rename(tmp, file);
  }
  return file;
}

function projectRoot(from: string): string {
  let dir = from;
  while (!existsSync(path.join(dir, 'node_modules'))) {
    const up = path.dirname(dir);
    if (up === dir) return from;
    dir = up;
  }
  return dir;
}
