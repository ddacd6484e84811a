/**
 * Latency of every stitch on this device, through the runtime an application would use.
 *
 * The package is loaded into a `StitchRuntime` on one provider with the fused fast path off, so
 * each stitch runs as its route of piece sessions (what a switch to it costs at once). Runs are
 * interleaved — every round runs each stitch once, in a shuffled order — so that slow drifts of
 * the machine (heat, other load) spread over all stitches instead of favouring some; warm-up
 * rounds are not counted. Each stitch gets the median and the 95th percentile of its rounds.
 */
import { cpus } from 'node:os';
import { StitchRuntime } from '../runtime/stitch-runtime.js';
import type { ProviderName } from '../runtime/providers.js';
import type { ThreadOptions } from '../runtime/options.js';

export interface ProfileOptions {
  provider: ProviderName;
  /** Batch sizes to measure. */
  batches: readonly number[];
  /** Uncounted rounds first (default 3). */
  warmup?: number;
  /** Counted rounds (default 20). */
  rounds?: number;
  /** One preprocessed sample, repeated to fill a batch (default: zeros). */
  sample?: Float32Array;
  threads?: ThreadOptions;
  onRound?: (done: number, total: number) => void;
}

export interface StitchLatency {
  p50Ms: number;
  p95Ms: number;
}

export interface ProfileResult {
  /** What ran the measurements, e.g. `"cpu: AMD EPYC 7B13 ×2"`. */
  device: string;
  /** The provider that actually ran (the runtime may refuse an unavailable one). */
  provider: string;
  /** `latency.get(stitchId).get(batch)`. */
  latency: Map<number, Map<number, StitchLatency>>;
}

/** The `q`-quantile (0..1) of `values` by the nearest-rank method. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1] ?? Number.NaN;
}

/** A short description of the machine for a provider. */
export async function describeDevice(provider: string): Promise<string> {
  const cpu = cpus();
  const cpuText = `${(cpu[0]?.model ?? 'unknown CPU').trim()} ×${cpu.length}`;
  if (provider === 'cpu') return `cpu: ${cpuText}`;
  const si = await import('systeminformation');
  const gpus = (await si.graphics()).controllers.map((c) => c.model).filter(Boolean);
  return `${provider}: ${gpus.join(', ') || 'unknown GPU'} (host ${cpuText})`;
}

/** A deterministic shuffle (so runs are reproducible), different every round. */
function shuffled<T>(items: readonly T[], round: number): T[] {
  const out = [...items];
  let s = (round + 1) * 0x9e3779b1;
  for (let i = out.length - 1; i > 0; i--) {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0;
    const j = (s >>> 0) % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * Measures every stitch of the package in `dir` (ids as given) at each batch size.
 */
export async function profileStitches(dir: string, ids: readonly number[], options: ProfileOptions): Promise<ProfileResult> {
  const rt = await StitchRuntime.create({ model: dir, providers: [options.provider], fastPath: false, ...(options.threads ? { threads: options.threads } : {}) });
  try {
    const sampleShape = rt.manifest.input.shape.slice(1) as number[];
    const per = sampleShape.reduce((a, b) => a * b, 1);
    const warmup = options.warmup ?? 3;
    const rounds = options.rounds ?? 20;
    const total = options.batches.length * (warmup + rounds);
    const latency = new Map<number, Map<number, StitchLatency>>(ids.map((id) => [id, new Map()]));
    let done = 0;
    for (const batch of options.batches) {
      const data = new Float32Array(batch * per);
      if (options.sample) for (let i = 0; i < batch; i++) data.set(options.sample, i * per);
      const input = { data, dims: [batch, ...sampleShape] };
      const times = new Map<number, number[]>(ids.map((id) => [id, []]));
      for (let r = 0; r < warmup + rounds; r++) {
        for (const id of shuffled(ids, r)) {
          const res = await rt.run(input, { stitch: id });
          if (r >= warmup) (times.get(id) as number[]).push(res.ms);
        }
        options.onRound?.(++done, total);
      }
      for (const [id, t] of times) (latency.get(id) as Map<number, StitchLatency>).set(batch, { p50Ms: quantile(t, 0.5), p95Ms: quantile(t, 0.95) });
    }
    return { device: await describeDevice(rt.provider), provider: rt.provider, latency };
  } finally {
    await rt.close();
  }
}
