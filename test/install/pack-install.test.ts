/**
 * As an app developer gets it: `npm pack` the project and the family package, install both
 * tarballs into a fresh app folder offline (from the npm cache, with a lockfile as an app's `npm ci`
 * would have; onnxruntime-node as the app's own dependency satisfying the peer), then from ESM, CJS
 * and strict TypeScript (node16 run, bundler and node10 type-checked) classify shipped samples with
 * `profile: 'balanced'` and `model: '@stitchnet/fmnist-vit'`. Also: publint and
 * @arethetypeswrong/cli on the tarball, what the tarball holds, and that the optional peer
 * dependencies are neither installed for a consumer nor needed by `import 'stitchnet'`.
 *
 * `npm test` builds first (`pretest`), so `dist/` is current here.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const OPTIONAL_PEERS = ['vega', 'vega-lite', '@resvg/resvg-js', 'ml-matrix', 'cli-progress'];

let tmp: string;
let app: string;
let tarball: string;
let familyTarball: string;
let tarballFiles: string[];
let installLog: string;

interface LockEntry {
  version: string;
  integrity?: string;
  resolved?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  [key: string]: unknown;
}
interface Lock {
  packages: Record<string, LockEntry>;
}

/** `npm …` in `cwd` without the settings of an npm process that may be running this test. */
async function runNpm(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_(config|package|lifecycle)_/i.test(k)),
  );
  return exec(npm, args, { cwd, env: { ...clean, ...env }, maxBuffer: 64 << 20, timeout: 120_000 });
}

async function pack(dir: string): Promise<{ file: string; files: string[] }> {
  const { stdout } = await runNpm(['pack', '--json', '--pack-destination', tmp, dir], root);
  const [info] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  if (!info) throw new Error(`npm pack printed nothing for ${dir}`);
  return { file: info.filename, files: info.files.map((f) => f.path) };
}

/** The lock entries of `names` and everything they depend on, resolved as Node would from the root. */
function closure(lock: Lock, names: readonly string[]): Map<string, LockEntry> {
  const out = new Map<string, LockEntry>();
  const visit = (from: string, name: string): void => {
    for (
      let base = from;
      ;
      base = base.includes('/node_modules/') ? base.slice(0, base.lastIndexOf('/node_modules/')) : ''
    ) {
      const key = `${base ? `${base}/` : ''}node_modules/${name}`;
      const entry = lock.packages[key];
      if (entry) {
        if (out.has(key)) return;
        out.set(key, entry);
        for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) visit(key, dep);
        return;
      }
      if (!base) throw new Error(`${name} (needed by ${from || 'the app'}) is not in package-lock.json`);
    }
  };
  for (const name of names) visit('', name);
  return out;
}

/** An app lockfile for `deps`, with registry URLs so that `npm ci --offline` needs only the cached tarballs. */
function appLock(
  repoLock: Lock,
  deps: Record<string, string>,
  tarballs: Record<string, { file: string; integrity: string; manifest: Record<string, unknown> }>,
): unknown {
  const packages: Record<string, unknown> = { '': { name: 'app', version: '1.0.0', dependencies: deps } };
  const fromRegistry = Object.keys(deps).filter((n) => !(n in tarballs));
  const needs = [
    ...fromRegistry,
    ...Object.values(tarballs).flatMap((t) =>
      Object.keys((t.manifest.dependencies as Record<string, string> | undefined) ?? {}),
    ),
  ];
  for (const [key, entry] of closure(repoLock, needs)) {
    const name = key.slice(key.lastIndexOf('node_modules/') + 'node_modules/'.length);
    const { dev: _d, devOptional: _o, peer: _p, ...rest } = entry;
    packages[key] = {
      ...rest,
      resolved: `https://registry.npmjs.org/${name}/-/${name.split('/').pop()}-${entry.version}.tgz`,
    };
  }
  for (const [name, t] of Object.entries(tarballs)) {
    const m = t.manifest;
    packages[`node_modules/${name}`] = {
      version: m.version,
      resolved: `file:${t.file}`,
      integrity: t.integrity,
      license: m.license,
      ...(m.dependencies ? { dependencies: m.dependencies } : {}),
      ...(m.peerDependencies ? { peerDependencies: m.peerDependencies } : {}),
      ...(m.peerDependenciesMeta ? { peerDependenciesMeta: m.peerDependenciesMeta } : {}),
      ...(m.bin ? { bin: m.bin } : {}),
      ...(m.engines ? { engines: m.engines } : {}),
    };
  }
  return { name: 'app', version: '1.0.0', lockfileVersion: 3, requires: true, packages };
}

async function integrity(file: string): Promise<string> {
  return `sha512-${createHash('sha512')
    .update(await readFile(file))
    .digest('base64')}`;
}

beforeAll(async () => {
  expect(existsSync(path.join(root, 'dist', 'index.js')), 'dist/ is missing: run npm run build').toBe(true);
  tmp = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-install-'));
  const main = await pack(root);
  tarball = path.join(tmp, main.file);
  tarballFiles = main.files;
  familyTarball = path.join(tmp, (await pack(path.join(root, 'models', 'fmnist-vit'))).file);

  app = path.join(tmp, 'app');
  const repoLock = JSON.parse(await readFile(path.join(root, 'package-lock.json'), 'utf8')) as Lock;
  const manifest = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  const family = JSON.parse(await readFile(path.join(root, 'models', 'fmnist-vit', 'package.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  const deps = {
    stitchnet: `file:../${path.basename(tarball)}`,
    '@stitchnet/fmnist-vit': `file:../${path.basename(familyTarball)}`,
    'onnxruntime-node': (repoLock.packages['node_modules/onnxruntime-node'] as LockEntry).version,
    '@types/node': (repoLock.packages['node_modules/@types/node'] as LockEntry).version,
  };
  const pkgJson = {
    name: 'app',
    version: '1.0.0',
    private: true,
    dependencies: deps,
    // What docs/install.md tells consumers: onnxruntime-node's CPU binaries are in its npm package;
    // its install script only downloads CUDA libraries on linux-x64.
    allowScripts: { 'onnxruntime-node': false },
  };
  const tarballs = {
    stitchnet: { file: `../${path.basename(tarball)}`, integrity: await integrity(tarball), manifest },
    '@stitchnet/fmnist-vit': {
      file: `../${path.basename(familyTarball)}`,
      integrity: await integrity(familyTarball),
      manifest: family,
    },
  };
  await mkdir(app, { recursive: true });
  await writeFile(path.join(app, 'package.json'), `${JSON.stringify(pkgJson, null, 2)}\n`);
  await writeFile(
    path.join(app, 'package-lock.json'),
    `${JSON.stringify(appLock(repoLock, deps, tarballs), null, 2)}\n`,
  );
  const r = await runNpm(['ci', '--offline', '--no-audit', '--no-fund'], app, { ONNXRUNTIME_NODE_INSTALL: 'skip' });
  installLog = r.stdout + r.stderr;
}, 240_000);

afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('the published tarball', () => {
  it('holds the library, the CLI, the profiles and the LICENSE; no benchmarks, no source maps', () => {
    expect(tarballFiles).toEqual(
      expect.arrayContaining([
        'LICENSE',
        'README.md',
        'package.json',
        'dist/index.js',
        'dist/index.cjs',
        'dist/index.d.ts',
        'dist/cli/main.js',
        'dist/engine/worker.js',
        'profiles/balanced.yaml',
      ]),
    );
    expect(
      tarballFiles.filter((f) => f.startsWith('dist/bench') || f.endsWith('.map') || f.startsWith('src/')),
    ).toEqual([]);
  });

  it('passes publint (@arethetypeswrong/cli runs in CI: npm run check:package)', async () => {
    const publint = await exec(
      process.execPath,
      [path.join(root, 'node_modules', 'publint', 'src', 'cli.js'), 'run', '--strict', tarball],
      { cwd: tmp },
    );
    expect(publint.stdout).toContain('All good!');
  });

  it('installs offline without install-script warnings, and without the optional peer dependencies', () => {
    expect(installLog).not.toMatch(/install-scripts|ERR!/);
    for (const name of OPTIONAL_PEERS) expect(existsSync(path.join(app, 'node_modules', name)), name).toBe(false);
    expect(existsSync(path.join(app, 'node_modules', 'onnx-proto'))).toBe(false);
    expect(existsSync(path.join(app, 'node_modules', '@stitchnet', 'fmnist-vit', 'stitchnet.json'))).toBe(true);
    expect(existsSync(path.join(app, 'node_modules', '@stitchnet', 'fmnist-vit', 'recipe'))).toBe(false);
  });
});

/**
 * Classifies the first 20 shipped samples; prints `{ stitch, correct, first }` as JSON. Until
 * `classify()` lands this preprocesses by hand (the manifest's `preprocess`) and takes the argmax of
 * `run()`'s logits: swap in `rt.classify(pixels, { topK: 1 })` here and in the TypeScript app.
 */
const classifyBody = `
  const rt = await StitchRuntime.create({ model: '@stitchnet/fmnist-vit', profile: 'balanced' });
  try {
    const pkgDir = require_.resolve('@stitchnet/fmnist-vit/stitchnet.json').replace(/stitchnet\\.json$/, '');
    const images = gunzipSync(readFileSync(pkgDir + 'samples/images-idx3-ubyte.gz')).subarray(16);
    const labels = gunzipSync(readFileSync(pkgDir + 'samples/labels-idx1-ubyte.gz')).subarray(8);
    const pre = rt.manifest.preprocess;
    const scale = pre?.scale ?? 1;
    const mean = pre?.mean?.[0] ?? 0;
    const std = pre?.std?.[0] ?? 1;
    const labelNames = rt.manifest.output.labels ?? [];
    let correct = 0;
    let first = '';
    let stitch = -1;
    const n = 20;
    for (let i = 0; i < n; i++) {
      const data = Float32Array.from(images.subarray(i * 784, (i + 1) * 784), (v) => (v * scale - mean) / std);
      const r = await rt.run({ data, dims: [1, 1, 28, 28] });
      let best = 0;
      for (let c = 1; c < r.logits.length; c++) if ((r.logits[c] ?? 0) > (r.logits[best] ?? 0)) best = c;
      if (best === labels[i]) correct++;
      if (i === 0) first = labelNames[best] ?? '';
      stitch = r.stitch;
    }
    let unknownProfile = '';
    try { await StitchRuntime.create({ model: '@stitchnet/fmnist-vit', profile: 'balance' }); } catch (e) { unknownProfile = isStitchnetError(e) ? e.code : String(e); }
    console.log(JSON.stringify({ stitch, correct, n, first, truth: labelNames[labels[0] ?? 0], unknownProfile }));
  } finally {
    await rt.close();
  }
`;

interface Classified {
  stitch: number;
  correct: number;
  n: number;
  first: string;
  truth: string;
  unknownProfile: string;
}

function expectClassified(stdout: string): void {
  const out = JSON.parse(stdout.trim()) as Classified;
  expect(out.correct).toBeGreaterThanOrEqual(14);
  expect(out.first).toBe(out.truth);
  expect(Number.isInteger(out.stitch)).toBe(true);
  expect(out.unknownProfile).toBe('PROFILE_NOT_FOUND');
}

async function node(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return exec(process.execPath, args, { cwd: app, timeout: 90_000 });
}

describe('an app using the installed packages', () => {
  it('classifies from ESM with profile "balanced" and the family package', async () => {
    const file = path.join(app, 'classify.mjs');
    await writeFile(
      file,
      `import { StitchRuntime, isStitchnetError } from 'stitchnet';\nimport { readFileSync } from 'node:fs';\nimport { gunzipSync } from 'node:zlib';\nimport { createRequire } from 'node:module';\nconst require_ = createRequire(import.meta.url);\n${classifyBody}`,
    );
    const { stdout, stderr } = await node([file]);
    expect(stderr).toBe('');
    expectClassified(stdout);
  });

  it('classifies from CommonJS', async () => {
    const file = path.join(app, 'classify.cjs');
    await writeFile(
      file,
      `const { StitchRuntime, isStitchnetError } = require('stitchnet');\nconst { readFileSync } = require('node:fs');\nconst { gunzipSync } = require('node:zlib');\nconst require_ = require;\n(async () => {${classifyBody}})().catch((e) => { console.error(e); process.exit(1); });`,
    );
    const { stdout, stderr } = await node([file]);
    expect(stderr).toBe('');
    expectClassified(stdout);
  });

  it('compiles under strict TypeScript: node16 with every declaration file checked (skipLibCheck false), then run; bundler and node10 resolve', {
    timeout: 180_000,
  }, async () => {
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const strict = {
      strict: true,
      skipLibCheck: false,
      noEmitOnError: true,
      target: 'ES2022',
      lib: ['ES2023'],
      types: ['node'],
      noUncheckedIndexedAccess: true,
    };
    const ts = `import { StitchRuntime, isStitchnetError, type RunResult, type ProviderName } from 'stitchnet';
import { VirtualClock } from 'stitchnet/testing';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
const require_ = createRequire(import.meta.url);
const clock: VirtualClock | undefined = undefined;
void clock;
const provider: ProviderName | undefined = undefined;
void provider;
async function main(): Promise<void> {
  const keep: RunResult | undefined = undefined;
  void keep;
${classifyBody}
}
await main();
`;
    await writeFile(path.join(app, 'main.mts'), ts);
    await writeFile(
      path.join(app, 'tsconfig.node16.json'),
      JSON.stringify({
        compilerOptions: { ...strict, module: 'node16', moduleResolution: 'node16', outDir: 'out' },
        files: ['main.mts'],
      }),
    );
    await writeFile(
      path.join(app, 'tsconfig.bundler.json'),
      JSON.stringify({
        compilerOptions: { ...strict, skipLibCheck: true, module: 'esnext', moduleResolution: 'bundler', noEmit: true },
        files: ['main.mts'],
      }),
    );
    // node10 cannot read "exports": the subpath resolves through typesVersions.
    await writeFile(
      path.join(app, 'node10.ts'),
      `import { VirtualClock } from 'stitchnet/testing';\nimport { StitchRuntime } from 'stitchnet';\nexport const kinds: [typeof VirtualClock, typeof StitchRuntime] = [VirtualClock, StitchRuntime];\n`,
    );
    await writeFile(
      path.join(app, 'tsconfig.node10.json'),
      JSON.stringify({
        compilerOptions: {
          ...strict,
          skipLibCheck: true,
          module: 'commonjs',
          moduleResolution: 'node10',
          noEmit: true,
        },
        files: ['node10.ts'],
      }),
    );
    const configs = ['tsconfig.node16.json', 'tsconfig.bundler.json', 'tsconfig.node10.json'];
    for (const config of configs) {
      const r = await exec(process.execPath, [tsc, '-p', config], { cwd: app, timeout: 150_000 }).catch(
        (e: { stdout: string }) => ({ stdout: e.stdout }),
      );
      expect(r.stdout, config).toBe('');
    }
    const { stdout, stderr } = await node([path.join(app, 'out', 'main.mjs')]);
    expect(stderr).toBe('');
    expectClassified(stdout);
  });

  it('runs the CLI (a package by name, the demo on the installed family) and names the package to install for a command that needs an optional one', {
    timeout: 120_000,
  }, async () => {
    const cli = path.join(app, 'node_modules', '.bin', process.platform === 'win32' ? 'stitchnet.cmd' : 'stitchnet');
    // The table needs no optional dependency; the plot needs vega.
    const table = await exec(cli, ['inspect', '@stitchnet/fmnist-vit'], { cwd: app, timeout: 60_000 });
    expect(table.stdout).toMatch(/frontier/i);
    const plot = await exec(cli, ['inspect', '@stitchnet/fmnist-vit', '--plot', path.join(tmp, 'pareto.svg')], {
      cwd: app,
      timeout: 60_000,
    }).catch((e: { stdout: string; stderr: string; code: number }) => e);
    expect((plot as { code?: number }).code).toBe(1);
    expect((plot as { stderr: string }).stderr).toContain(
      'needs the package vega, which is not installed. Install it next to stitchnet: npm install vega [DEPENDENCY_MISSING]',
    );
    // The demo from an installed copy runs the installed trained family, not the random stand-in.
    const trace = path.join(root, 'examples', 'traces', 'laptop-unplugged.csv');
    const demo = await exec(
      cli,
      ['demo', '--duration', '1', '--trace', trace, '--speed', '2400', '--provider', 'cpu'],
      { cwd: app, timeout: 60_000 },
    );
    expect(demo.stdout).not.toContain('RANDOM WEIGHTS');
    expect(demo.stdout).toMatch(/\nRan \d+ inferences in [\d.]+ s/);
  });
});
