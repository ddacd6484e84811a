/**
 * Latency of every stitch on this device, measured through the engine the runtime uses.
 *
 * The package's pieces are loaded into an in-process engine on one provider with no fused
 * sessions, so each stitch runs as its route of piece sessions (what a switch to it costs at
 * once). The measurement itself (interleaved rounds, warm-up, median and p95) is the engine's
 * `measureLatency`, the same one the runtime's calibration uses.
 */
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Engine } from '../engine/engine.js';
import { measureLatency, type RouteLatency } from '../engine/latency.js';
import { resolveThreads, type ThreadOptions } from '../engine/options.js';
import type { ProviderName } from '../base/providers.js';
import { readPackage } from '../package/index.js';

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

export type StitchLatency = RouteLatency;

export interface ProfileResult {
  /** What ran the measurements, e.g. `"cpu: AMD EPYC 7B13 ×2"`. */
  device: string;
  /** The provider that ran. */
  provider: string;
  /** `latency.get(stitchId).get(batch)`. */
  latency: Map<number, Map<number, StitchLatency>>;
}

/** A short description of the machine for a provider. */
export async function describeDevice(provider: string): Promise<string> {
  const cpu = cpus();
  const cpuText = `${(cpu[0]?.model ?? 'unknown CPU').trim()} ×${cpu.length}`;
  if (provider === 'cpu') return `cpu: ${cpuText}`;
  return `${provider} (host ${cpuText})`;
}

/** Measures every stitch of the package in `dir` (ids as given) at each batch size. */
export async function profileStitches(
  dir: string,
  ids: readonly number[],
  options: ProfileOptions,
): Promise<ProfileResult> {
  const pkg = await readPackage(dir);
  const engine = new Engine({
    session: { provider: options.provider, threads: resolveThreads(options.threads) },
    fastPath: false,
  });
  try {
    const routes = ids.map((id) => ({ key: id, pieces: pkg.routePieces(id) }));
    for (const id of new Set(routes.flatMap((r) => r.pieces)))
      await engine.loadPiece({ id, bytes: await pkg.pieceBytes(id) });
    const timedRun = async (pieces: readonly string[], data: Float32Array, dims: readonly number[]) => {
      const t0 = performance.now();
      await engine.run({ pieces, data, dims });
      return performance.now() - t0;
    };
    const latency = await measureLatency(timedRun, routes, {
      sampleShape: pkg.manifest.input.shape.slice(1) as number[],
      batches: options.batches,
      ...(options.warmup !== undefined ? { warmup: options.warmup } : {}),
      ...(options.rounds !== undefined ? { rounds: options.rounds } : {}),
      ...(options.sample ? { sample: options.sample } : {}),
      ...(options.onRound ? { onRound: options.onRound } : {}),
    });
    return { device: await describeDevice(options.provider), provider: options.provider, latency };
  } finally {
    await engine.close();
  }
}
