/**
 * Resident memory of a loaded family, each configuration measured in a fresh child process (RSS
 * never shrinks reliably once a process has grown, so sharing one process would measure history).
 *
 * The child first loads a micro package, so that the baseline already holds onnxruntime and (for
 * the runtime in worker mode) an inference worker. Only then does it read the family, load every
 * piece, and run every stitch once. Variants `runtime*` are `StitchRuntime`: in worker mode (the
 * default) its sessions live in a worker thread of the child, so the child's RSS counts them.
 * The `raw:*` variants create one ORT session per piece directly on the main thread, with
 * stitchnet's session options plus an override, to show what each option does to memory and
 * latency. Between measurements the child forces a garbage collection of its main thread (a
 * worker's heap cannot be collected from outside).
 *
 * The family is written twice: as `writePackage` writes it by default (DeiT-scale pieces keep
 * their weights as ONNX external data, which onnxruntime maps from disk), and with every piece's
 * weights inside its ONNX file (variant `runtime:inline-pieces`). Both divide by the same weight
 * bytes: the inline pieces' size.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeError, StitchRuntime } from '../src/index.js';
import { readPackage, type StitchPackage } from '../src/package/index.js';
import { resolveThreads } from '../src/engine/options.js';
import type { ProviderName } from '../src/engine/providers.js';
import { loadOrt, sessionOptions, type OrtTensor } from '../src/engine/ort.js';
import { uniform } from './families.js';
import { median } from './stats.js';

type SessionOptions = ReturnType<typeof sessionOptions>;
type Ort = Awaited<ReturnType<typeof loadOrt>>;
type Session = Awaited<ReturnType<Ort['InferenceSession']['create']>>;

/** A configuration to measure. */
export interface RssVariant {
  name: string;
  /** What it changes, in words. */
  description: string;
  kind: 'runtime' | 'raw';
  /** Runtime: run inference in the worker (default) or in-process. */
  worker?: boolean;
  /** Runtime: its `cpuMemArena` option (default: the runtime's default). */
  cpuMemArena?: boolean;
  /** Runtime: its `prepackWeights` option (default: the runtime's default). */
  prepackWeights?: boolean;
  /** Raw: options merged over stitchnet's session options (`extra.session` is merged key by key). */
  overrides?: Partial<SessionOptions>;
  /** Raw: keep every piece's model bytes referenced after its session is created. */
  keepBytes?: boolean;
  /** Raw: create each session from the piece's file (onnxruntime reads it) instead of bytes read in JS. */
  fromFile?: boolean;
  /** Load the family written with every piece's weights inside its ONNX file (`externalData: 'none'`). */
  inlinePieces?: boolean;
  /** Environment variables of the child (e.g. glibc malloc tuning). */
  env?: Record<string, string>;
  /**
   * Also run every anchor once at batch 8 (every piece but the stitching layers, whose
   * activations are small), measure again, and time a few b8 runs.
   */
  batch8?: boolean;
}

/** Resident memory three ways (MB): RSS, proportional set size, anonymous memory. */
export interface MemoryReading {
  rss: number;
  /** From /proc/self/smaps_rollup (null where it does not exist). */
  pss: number | null;
  anon: number | null;
}

/** (reading − baseline) ÷ weight bytes at each point, for one measure. */
export interface OverWeights {
  loaded: number;
  afterRunB1: number;
  afterRunB8?: number;
}

/** What one child reports (MB are 2^20 bytes). */
export interface RssResult {
  variant: string;
  description: string;
  weightMB: number;
  baselineMB: number;
  /** Runtime in worker mode only: the RSS a second micro runtime (a worker thread and its ORT state) adds. */
  extraWorkerMB?: number;
  loadedMB: number;
  afterRunB1MB: number;
  afterRunB8MB?: number;
  /** (RSS − baseline) ÷ weight bytes at each point. */
  overWeights: OverWeights;
  /** The same for anonymous memory and for PSS (null without smaps_rollup). */
  anonOverWeights: OverWeights | null;
  pssOverWeights: OverWeights | null;
  /** Every reading, for the record. */
  readings: { baseline: MemoryReading; loaded: MemoryReading; afterRunB1: MemoryReading; afterRunB8?: MemoryReading };
  sessions: number;
  loadSeconds: number;
  /** Median latency of one stitch over a few runs (ms; indicative only, the machine is shared). */
  latencyB1Ms: number;
  latencyB8Ms?: number;
}

/** Arguments of one child. */
export interface ProbeArgs {
  variant: RssVariant;
  dir: string;
  /** The weight bytes the ratios divide by: the family's pieces with their weights inside (the same for both layouts). */
  weightBytes: number;
  microDir: string;
  latencyStitch: number;
  latencyRuns: number;
  provider: ProviderName;
}

export const PROBE_FLAG = '--rss-probe';

const MB = 1024 ** 2;
const rss = () => process.memoryUsage.rss() / MB;

/** RSS, and PSS and anonymous memory from /proc/self/smaps_rollup where the kernel has it (MB). */
function memory(): MemoryReading {
  let text = '';
  try {
    text = readFileSync('/proc/self/smaps_rollup', 'utf8');
  } catch {
    // Not Linux, or a kernel before 4.14: RSS only.
  }
  const field = (name: string) => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text);
    return m ? Number(m[1]) / 1024 : null;
  };
  return { rss: rss(), pss: field('Pss'), anon: field('Anonymous') };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await sleep(100);
  }
}

type Sample = { data: Float32Array; dims: number[] };

function input(pkg: StitchPackage, batch: number): Sample {
  const dims = pkg.manifest.input.shape.map((d) => (typeof d === 'number' ? d : batch));
  return {
    data: uniform(
      dims.reduce((a, b) => a * b, 1),
      99,
      1,
    ),
    dims,
  };
}

/** Every piece any stitch uses, each once, in first-use order. */
function usedPieces(pkg: StitchPackage): string[] {
  return [...new Set(pkg.manifest.stitches.flatMap((s) => pkg.routePieces(s.id)))];
}

/** How one variant loads and runs the family. */
interface Loaded {
  sessions: number;
  run(stitch: number, x: Sample): Promise<void>;
  close(): Promise<void>;
}

/** How one variant sets up its baseline and then loads the family. */
interface Harness {
  baseline(): Promise<{ extraWorkerMB?: number }>;
  load(): Promise<{ pkg: StitchPackage; loaded: Loaded }>;
  close(): Promise<void>;
}

/** Runs in the child: measures one variant and prints its result as one JSON line. */
export async function runProbe(args: ProbeArgs): Promise<void> {
  const { variant } = args;
  const harness = variant.kind === 'runtime' ? runtimeHarness(args) : await rawHarness(args);
  const { extraWorkerMB } = await harness.baseline();
  await settle();
  const baseline = memory();

  const t0 = performance.now();
  const { pkg, loaded } = await harness.load();
  const loadSeconds = (performance.now() - t0) / 1000;
  await settle();
  const atLoad = memory();
  const x1 = input(pkg, 1);
  for (const s of pkg.manifest.stitches) await loaded.run(s.id, x1);
  await settle();
  const afterB1 = memory();
  const latencyB1Ms = await timeStitch(loaded, args.latencyStitch, x1, args.latencyRuns);
  const b8 = variant.batch8 ? await batch8(pkg, loaded, args) : undefined;
  await loaded.close();
  await harness.close();

  const weightMB = args.weightBytes / MB;
  const readings = { baseline, loaded: atLoad, afterRunB1: afterB1, ...(b8 ? { afterRunB8: b8.reading } : {}) };
  const out: RssResult = {
    variant: variant.name,
    description: variant.description,
    weightMB,
    baselineMB: baseline.rss,
    ...(extraWorkerMB === undefined ? {} : { extraWorkerMB }),
    loadedMB: atLoad.rss,
    afterRunB1MB: afterB1.rss,
    ...(b8 ? { afterRunB8MB: b8.reading.rss } : {}),
    overWeights: overWeights(readings, 'rss', weightMB) as OverWeights,
    anonOverWeights: overWeights(readings, 'anon', weightMB),
    pssOverWeights: overWeights(readings, 'pss', weightMB),
    readings,
    sessions: loaded.sessions,
    loadSeconds,
    latencyB1Ms,
    ...(b8 ? { latencyB8Ms: b8.latencyMs } : {}),
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

/** Median time of `runs` runs of one stitch after one untimed run (ms). */
async function timeStitch(loaded: Loaded, stitch: number, x: Sample, runs: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i <= runs; i++) {
    const t = performance.now();
    await loaded.run(stitch, x);
    if (i > 0) times.push(performance.now() - t);
  }
  return median(times);
}

/** Every anchor once at batch 8, then the memory reading and a few timed b8 runs. */
async function batch8(
  pkg: StitchPackage,
  loaded: Loaded,
  args: ProbeArgs,
): Promise<{ reading: MemoryReading; latencyMs: number }> {
  const x8 = input(pkg, 8);
  const anchors = pkg.manifest.stitches.filter((s) => s.route.length === 1).map((s) => s.id);
  for (const stitch of anchors) await loaded.run(stitch, x8);
  await settle();
  const reading = memory();
  return {
    reading,
    latencyMs: await timeStitch(loaded, args.latencyStitch, x8, Math.max(2, Math.floor(args.latencyRuns / 2))),
  };
}

function overWeights(r: RssResult['readings'], key: keyof MemoryReading, weightMB: number): OverWeights | null {
  const base = r.baseline[key];
  const at = (m: MemoryReading | undefined) =>
    m && m[key] !== null && base !== null ? ((m[key] as number) - base) / weightMB : null;
  const [loaded, b1, b8] = [at(r.loaded), at(r.afterRunB1), at(r.afterRunB8)];
  if (loaded === null || b1 === null) return null;
  return { loaded, afterRunB1: b1, ...(b8 === null ? {} : { afterRunB8: b8 }) };
}

function runtimeHarness(args: ProbeArgs): Harness {
  const worker = args.variant.worker ?? true;
  const base = {
    providers: [args.provider],
    fastPath: false as const,
    worker,
    ...(args.variant.cpuMemArena === undefined ? {} : { cpuMemArena: args.variant.cpuMemArena }),
    ...(args.variant.prepackWeights === undefined ? {} : { prepackWeights: args.variant.prepackWeights }),
  };
  let micro: StitchRuntime | undefined;
  return {
    async baseline() {
      const microPkg = await readPackage(args.microDir);
      micro = await StitchRuntime.create({ ...base, model: microPkg });
      await micro.run(input(microPkg, 1));
      if (!worker) return {};
      await settle();
      const before = rss();
      const second = await StitchRuntime.create({ ...base, model: microPkg });
      await second.run(input(microPkg, 1));
      await settle();
      const extraWorkerMB = rss() - before;
      await second.close();
      return { extraWorkerMB };
    },
    async load() {
      // The runtime reads and checks the package itself, as a user's call would.
      const rt = await StitchRuntime.create({ ...base, model: args.dir });
      return {
        pkg: rt.pkg,
        loaded: {
          sessions: usedPieces(rt.pkg).length,
          run: async (stitch, x) => {
            await rt.run(x, { stitch });
          },
          close: () => rt.close(),
        },
      };
    },
    async close() {
      await micro?.close();
    },
  };
}

/** stitchnet's session options with `overrides` on top (`extra.session` merged key by key). */
export function withOverrides(base: SessionOptions, overrides: Partial<SessionOptions> = {}): SessionOptions {
  const baseExtra = (base.extra ?? {}) as { session?: Record<string, unknown> };
  const moreExtra = (overrides.extra ?? {}) as { session?: Record<string, unknown> };
  return {
    ...base,
    ...overrides,
    extra: { ...baseExtra, ...moreExtra, session: { ...baseExtra.session, ...moreExtra.session } },
  };
}

async function rawHarness(args: ProbeArgs): Promise<Harness> {
  const ort = await loadOrt();
  const options = withOverrides(
    sessionOptions({ provider: args.provider, threads: resolveThreads(undefined) }),
    args.variant.overrides,
  );
  const kept: Uint8Array[] = [];
  const load = async (pkg: StitchPackage, keep: boolean): Promise<Loaded> => {
    const sessions = new Map<string, Session>();
    for (const id of usedPieces(pkg)) {
      if (args.variant.fromFile) {
        sessions.set(id, await ort.InferenceSession.create(pkg.piecePath(id), options));
        continue;
      }
      const bytes = await pkg.pieceBytes(id);
      sessions.set(id, await ort.InferenceSession.create(bytes, options));
      if (keep) kept.push(bytes);
    }
    return {
      sessions: sessions.size,
      async run(stitch, x) {
        let t: OrtTensor = new ort.Tensor('float32', x.data, x.dims);
        for (const id of pkg.routePieces(stitch)) {
          const s = sessions.get(id) as Session;
          t = (await s.run({ [s.inputNames[0] as string]: t }))[s.outputNames[0] as string] as OrtTensor;
        }
      },
      async close() {
        for (const s of sessions.values()) await s.release();
        kept.length = 0;
      },
    };
  };
  let micro: Loaded | undefined;
  return {
    async baseline() {
      const microPkg = await readPackage(args.microDir);
      micro = await load(microPkg, false);
      await micro.run(0, input(microPkg, 1));
      return {};
    },
    async load() {
      const pkg = await readPackage(args.dir);
      return { pkg, loaded: await load(pkg, args.variant.keepBytes ?? false) };
    },
    async close() {
      await micro?.close();
    },
  };
}

/** Runs one variant in a fresh child process (this script with {@link PROBE_FLAG}) and returns its result. */
export function probeInChild(script: string, args: ProbeArgs): Promise<RssResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', script, PROBE_FLAG, JSON.stringify(args)], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...args.variant.env },
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        reject(
          new RuntimeError(
            'WORKER_FAILED',
            `the RSS probe "${args.variant.name}" exited with code ${code}: ${out.slice(-500)}`,
            { hint: 'Its own error is printed above.' },
          ),
        );
        return;
      }
      resolve(JSON.parse(line) as RssResult);
    });
  });
}

/** …the same from 4 MiB: weight-sized buffers are mapped, most activations come from the heap. */
const MMAP_4M = { MALLOC_MMAP_THRESHOLD_: '4194304' };

/** The runtime as users get it: worker mode, fast path off so only pieces are loaded. */
export const RUNTIME_VARIANT: RssVariant = {
  name: 'runtime',
  kind: 'runtime',
  batch8: true,
  description:
    'StitchRuntime, worker mode, defaults (fast path off), the family as written by default (DeiT pieces: external data)',
};

/** The runtime on the same family with every piece's weights inside its ONNX file: what the default is compared with. */
export const INLINE_VARIANT: RssVariant = {
  name: 'runtime:inline-pieces',
  kind: 'runtime',
  batch8: true,
  inlinePieces: true,
  description: "StitchRuntime, worker mode, defaults, the family written with externalData: 'none'",
};

/** The configurations compared when the runtime's RSS is over its target (each a child of a minute or two at DeiT scale). */
export const MORE_VARIANTS: RssVariant[] = [
  {
    name: 'runtime:in-process',
    kind: 'runtime',
    batch8: true,
    worker: false,
    description: "StitchRuntime, worker: false (sessions in the main thread's allocator arena)",
  },
  {
    name: 'runtime:no-prepack',
    kind: 'runtime',
    batch8: true,
    prepackWeights: false,
    description: 'StitchRuntime, worker mode, prepackWeights: false (external data stays file-backed)',
  },
  {
    name: 'runtime:arena-on',
    kind: 'runtime',
    batch8: true,
    cpuMemArena: true,
    description: 'StitchRuntime, worker mode, cpuMemArena: true',
  },
  {
    name: 'runtime:arena-off+mmap-4m',
    kind: 'runtime',
    batch8: true,
    cpuMemArena: false,
    env: MMAP_4M,
    description: 'StitchRuntime, worker mode, cpuMemArena: false, MALLOC_MMAP_THRESHOLD_=4194304',
  },
  {
    name: 'raw:no-arena',
    kind: 'raw',
    batch8: true,
    overrides: { enableCpuMemArena: false },
    description: "stitchnet's session options, arena off, sessions on the main thread from bytes",
  },
  {
    name: 'raw:no-arena+from-file',
    kind: 'raw',
    batch8: true,
    fromFile: true,
    overrides: { enableCpuMemArena: false },
    description: 'the same, each session created from its file (onnxruntime reads it)',
  },
  {
    name: 'raw:no-arena+from-file+no-prepack',
    kind: 'raw',
    batch8: true,
    fromFile: true,
    overrides: { enableCpuMemArena: false, extra: { session: { disable_prepacking: '1' } } },
    description:
      'the same with session.disable_prepacking: MLAS keeps no packed copy of the MatMul weights, so external data stays file-backed',
  },
  {
    name: 'raw:no-arena+from-file+no-mem-pattern',
    kind: 'raw',
    batch8: true,
    fromFile: true,
    overrides: { enableCpuMemArena: false, enableMemPattern: false },
    description:
      'the same with prepacking, but enableMemPattern: false: each activation its own allocation instead of one block per run',
  },
];
