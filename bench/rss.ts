/**
 * Resident memory of a loaded family, each configuration measured in a fresh child process (RSS
 * never shrinks reliably once a process has grown, so sharing one process would measure history).
 *
 * The child loads a micro package first, so the baseline already holds onnxruntime and (for the
 * runtime) an inference worker; then every piece of the family, then runs every stitch once.
 * Variant `runtime` is `StitchRuntime` in worker mode (the default): its sessions live in a worker
 * thread of the child, so the child's RSS counts them. The `raw:*` variants create one ORT
 * session per piece directly, with stitchnet's session options plus an override, to show what
 * each option does to memory and latency.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { RuntimeError, StitchRuntime } from '../src/index.js';
import { readPackage, type StitchPackage } from '../src/package/index.js';
import { resolveThreads } from '../src/runtime/options.js';
import { loadOrt, sessionOptions, type OrtTensor } from '../src/runtime/ort.js';
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
  /** Raw: options merged over stitchnet's session options (`extra.session` is merged key by key). */
  overrides?: Partial<SessionOptions>;
  /** Raw: keep every piece's model bytes referenced after its session is created. */
  keepBytes?: boolean;
  /** Also run every stitch once at batch 8 and measure again. */
  batch8?: boolean;
}

/** What one child reports (MB are 2^20 bytes). */
export interface RssResult {
  variant: string;
  description: string;
  weightMB: number;
  baselineMB: number;
  /** Runtime only: the RSS a second micro runtime (worker thread + its ORT state) adds. */
  extraWorkerMB?: number;
  loadedMB: number;
  afterRunB1MB: number;
  afterRunB8MB?: number;
  /** (RSS − baseline) ÷ weight bytes at each point. */
  overWeights: { loaded: number; afterRunB1: number; afterRunB8?: number };
  sessions: number;
  loadSeconds: number;
  /** Median b1 latency of one stitch over a few runs (ms; indicative only, the machine is shared). */
  latencyB1Ms: number;
}

/** Arguments of one child. */
interface ProbeArgs {
  variant: RssVariant;
  dir: string;
  microDir: string;
  latencyStitch: number;
  latencyRuns: number;
}

export const PROBE_FLAG = '--rss-probe';

const MB = 1024 ** 2;
const rss = () => process.memoryUsage.rss() / MB;

async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await sleep(100);
  }
}

function input(pkg: StitchPackage, batch: number): { data: Float32Array; dims: number[] } {
  const dims = pkg.manifest.input.shape.map((d) => (typeof d === 'number' ? d : batch));
  return { data: uniform(dims.reduce((a, b) => a * b, 1), 99, 1), dims };
}

/** Every piece any stitch uses, each once, in first-use order. */
function usedPieces(pkg: StitchPackage): string[] {
  return [...new Set(pkg.manifest.stitches.flatMap((s) => pkg.routePieces(s.id)))];
}

/** Runs in the child: measures one variant and prints its result as one JSON line. */
export async function runProbe(args: ProbeArgs): Promise<void> {
  const { variant } = args;
  const micro = await readPackage(args.microDir);
  const pkg = await readPackage(args.dir);
  const weightMB = Object.values(pkg.manifest.pieces).reduce((n, p) => n + p.bytes, 0) / MB;
  const stitches = pkg.manifest.stitches.map((s) => s.id);
  const x1 = input(pkg, 1);
  const x8 = input(pkg, 8);
  const result = variant.kind === 'runtime' ? await probeRuntime(args, micro, pkg, stitches, x1, x8) : await probeRaw(args, micro, pkg, stitches, x1, x8);
  const over = (mb: number) => (mb - result.baselineMB) / weightMB;
  const out: RssResult = {
    variant: variant.name,
    description: variant.description,
    weightMB,
    ...result,
    overWeights: {
      loaded: over(result.loadedMB),
      afterRunB1: over(result.afterRunB1MB),
      ...(result.afterRunB8MB === undefined ? {} : { afterRunB8: over(result.afterRunB8MB) }),
    },
  };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

type Measured = Omit<RssResult, 'variant' | 'description' | 'weightMB' | 'overWeights'>;
type Sample = { data: Float32Array; dims: number[] };

async function probeRuntime(args: ProbeArgs, micro: StitchPackage, pkg: StitchPackage, stitches: number[], x1: Sample, x8: Sample): Promise<Measured> {
  const base = { model: micro, providers: ['cpu' as const], fastPath: false as const };
  const microX = input(micro, 1);
  const rt0 = await StitchRuntime.create(base);
  await rt0.run(microX);
  await settle();
  const baselineMB = rss();
  const rt1 = await StitchRuntime.create(base);
  await rt1.run(microX);
  await settle();
  const extraWorkerMB = rss() - baselineMB;
  await rt1.close();
  await settle();

  const t0 = performance.now();
  const rt = await StitchRuntime.create({ model: pkg, providers: ['cpu'], fastPath: false });
  const loadSeconds = (performance.now() - t0) / 1000;
  await settle();
  const loadedMB = rss();
  for (const stitch of stitches) await rt.run(x1, { stitch });
  await settle();
  const afterRunB1MB = rss();
  const times: number[] = [];
  for (let i = 0; i <= args.latencyRuns; i++) {
    const t = performance.now();
    await rt.run(x1, { stitch: args.latencyStitch });
    if (i > 0) times.push(performance.now() - t);
  }
  let afterRunB8MB: number | undefined;
  if (args.variant.batch8) {
    for (const stitch of stitches) await rt.run(x8, { stitch });
    await settle();
    afterRunB8MB = rss();
  }
  const sessions = usedPieces(pkg).length;
  await rt.close();
  await rt0.close();
  return { baselineMB, extraWorkerMB, loadedMB, afterRunB1MB, ...(afterRunB8MB === undefined ? {} : { afterRunB8MB }), sessions, loadSeconds, latencyB1Ms: median(times) };
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

async function probeRaw(args: ProbeArgs, micro: StitchPackage, pkg: StitchPackage, stitches: number[], x1: Sample, x8: Sample): Promise<Measured> {
  const ort = await loadOrt();
  const options = withOverrides(sessionOptions({ provider: 'cpu', threads: resolveThreads(undefined) }), args.variant.overrides);
  const load = async (p: StitchPackage, ids: string[], kept: Uint8Array[]) => {
    const sessions = new Map<string, Session>();
    for (const id of ids) {
      const bytes = await p.pieceBytes(id);
      sessions.set(id, await ort.InferenceSession.create(bytes, options));
      if (args.variant.keepBytes) kept.push(bytes);
    }
    return sessions;
  };
  const runRoute = async (p: StitchPackage, sessions: Map<string, Session>, stitch: number, x: Sample) => {
    let t: OrtTensor = new ort.Tensor('float32', x.data, x.dims);
    for (const id of p.routePieces(stitch)) {
      const s = sessions.get(id) as Session;
      t = (await s.run({ [s.inputNames[0] as string]: t }))[s.outputNames[0] as string] as OrtTensor;
    }
    return t;
  };
  const microSessions = await load(micro, usedPieces(micro), []);
  await runRoute(micro, microSessions, 0, input(micro, 1));
  await settle();
  const baselineMB = rss();

  const kept: Uint8Array[] = [];
  const t0 = performance.now();
  const sessions = await load(pkg, usedPieces(pkg), kept);
  const loadSeconds = (performance.now() - t0) / 1000;
  await settle();
  const loadedMB = rss();
  for (const stitch of stitches) await runRoute(pkg, sessions, stitch, x1);
  await settle();
  const afterRunB1MB = rss();
  const times: number[] = [];
  for (let i = 0; i <= args.latencyRuns; i++) {
    const t = performance.now();
    await runRoute(pkg, sessions, args.latencyStitch, x1);
    if (i > 0) times.push(performance.now() - t);
  }
  let afterRunB8MB: number | undefined;
  if (args.variant.batch8) {
    for (const stitch of stitches) await runRoute(pkg, sessions, stitch, x8);
    await settle();
    afterRunB8MB = rss();
  }
  const count = sessions.size;
  for (const s of [...sessions.values(), ...microSessions.values()]) await s.release();
  kept.length = 0;
  return { baselineMB, loadedMB, afterRunB1MB, ...(afterRunB8MB === undefined ? {} : { afterRunB8MB }), sessions: count, loadSeconds, latencyB1Ms: median(times) };
}

/** Runs one variant in a fresh child process (this script with {@link PROBE_FLAG}) and returns its result. */
export function probeInChild(script: string, args: ProbeArgs): Promise<RssResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', script, PROBE_FLAG, JSON.stringify(args)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const line = out.trim().split('\n').at(-1) ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        reject(new RuntimeError('WORKER_FAILED', `the RSS probe "${args.variant.name}" exited with code ${code}: ${out.slice(-500)}`, { hint: 'Its own error is printed above.' }));
        return;
      }
      resolve(JSON.parse(line) as RssResult);
    });
  });
}

/** The configurations compared when the runtime's RSS is over its target. */
export const RAW_VARIANTS: RssVariant[] = [
  { name: 'raw:default', kind: 'raw', description: "stitchnet's session options, sessions on the main thread (control)" },
  { name: 'raw:keep-bytes', kind: 'raw', keepBytes: true, description: 'same, but the model bytes stay referenced after create' },
  { name: 'raw:no-arena', kind: 'raw', batch8: true, overrides: { enableCpuMemArena: false }, description: 'enableCpuMemArena: false' },
  { name: 'raw:no-mem-pattern', kind: 'raw', overrides: { enableMemPattern: false }, description: 'enableMemPattern: false' },
  { name: 'raw:no-prepacking', kind: 'raw', overrides: { extra: { session: { disable_prepacking: '1' } } }, description: "config 'session.disable_prepacking' = '1'" },
  {
    name: 'raw:initializers-no-arena',
    kind: 'raw',
    overrides: { extra: { session: { use_device_allocator_for_initializers: '1' } } },
    description: "config 'session.use_device_allocator_for_initializers' = '1'",
  },
];
