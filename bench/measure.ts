/**
 * Measurement loops: interleaved latency cells, switch trials, fresh-session trials and
 * event-loop lag.
 */
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { RuntimeError, type StitchRuntime } from '../src/index.js';
import { OrtSession, type SessionSettings } from '../src/engine/ort.js';
import { pairedRatio } from './stats.js';

/** One thing to time: a single inference. */
export interface Cell {
  name: string;
  run: () => Promise<void>;
}

/**
 * Times every cell once per round, for `rounds` rounds after `warmup` untimed runs each. The
 * order rotates by one cell per round, so that every cell runs equally often right after every
 * other one and slow drifts of the machine's load hit all cells alike.
 */
export async function interleaved(
  cells: readonly Cell[],
  opts: { warmup: number; rounds: number; onRound?: (round: number) => void },
): Promise<Record<string, number[]>> {
  for (const cell of cells) for (let i = 0; i < opts.warmup; i++) await cell.run();
  const times: Record<string, number[]> = Object.fromEntries(cells.map((c) => [c.name, []]));
  for (let r = 0; r < opts.rounds; r++) {
    const k = r % cells.length;
    for (const cell of [...cells.slice(k), ...cells.slice(0, k)]) {
      const t0 = performance.now();
      await cell.run();
      (times[cell.name] as number[]).push(performance.now() - t0);
    }
    opts.onRound?.(r);
  }
  return times;
}

/** How long {@link pairedRounds} goes on. */
export interface RoundsOptions {
  /** Untimed runs of each cell first. */
  warmup: number;
  minRounds: number;
  maxRounds: number;
  /**
   * Stop (after `minRounds`) once the 95% interval of every ratio to the reference is at most
   * ± this fraction of it.
   */
  targetHalfWidth: number;
  onRound?: (round: number) => void;
}

/**
 * Times the reference (`cells[0]`) and the other cells side by side: every round runs each cell
 * once, the order alternating (A B, B A, …; rotating for more cells) so that neither profits from
 * always coming first. Rounds go on until every cell's per-round ratio to the reference has a 95%
 * interval within `targetHalfWidth` (checked every 10 rounds), or `maxRounds`. Cells named in
 * `unpaired` are timed along but not waited for.
 */
export async function pairedRounds(
  cells: readonly Cell[],
  opts: RoundsOptions,
  unpaired: readonly string[] = [],
): Promise<Record<string, number[]>> {
  for (const cell of cells) for (let i = 0; i < opts.warmup; i++) await cell.run();
  const times: Record<string, number[]> = Object.fromEntries(cells.map((c) => [c.name, []]));
  const reference = times[(cells[0] as Cell).name] as number[];
  const settled = () =>
    cells
      .slice(1)
      .every(
        (c) =>
          unpaired.includes(c.name) ||
          pairedRatio(times[c.name] as number[], reference).halfWidth <= opts.targetHalfWidth,
      );
  for (let r = 0; r < opts.maxRounds; r++) {
    const k = r % cells.length;
    const rotated = [...cells.slice(k), ...cells.slice(0, k)];
    for (const cell of r % 2 === 0 ? rotated : rotated.reverse()) {
      const t0 = performance.now();
      await cell.run();
      (times[cell.name] as number[]).push(performance.now() - t0);
    }
    opts.onRound?.(r);
    if (r + 1 >= opts.minRounds && (r + 1) % 10 === 0 && settled()) break;
  }
  return times;
}

/** One switch trial (ms). */
export interface SwitchSample {
  /** The `setStitch()` call alone. */
  setStitchMs: number;
  /** The first `run()` after it, to its result. */
  firstRunMs: number;
  /** `setStitch()` → first result (`setStitchMs + firstRunMs`). */
  switchToResultMs: number;
  /** The run right after the first one, on the same stitch. */
  steadyRunMs: number;
  /** `firstRunMs − steadyRunMs`: what the switch added to the first run. */
  overheadMs: number;
}

/**
 * Alternates switch trials (the active stitch `from` has run `settleRuns` times; `setStitch(to)`;
 * two runs) with control trials that do the same with `to = from`, so the control's "overhead" is
 * the noise floor of the paired difference on this machine. Pairs are visited in turn.
 */
export async function switchTrials(
  rt: StitchRuntime,
  x: Float32Array,
  pairs: readonly (readonly [number, number])[],
  opts: { trials: number; settleRuns: number; onTrial?: (trial: number) => void },
): Promise<{ switched: SwitchSample[]; control: SwitchSample[] }> {
  const switched: SwitchSample[] = [];
  const control: SwitchSample[] = [];
  for (let i = 0; i < 2 * opts.trials; i++) {
    const pair = pairs[Math.floor(i / 2) % pairs.length] as readonly [number, number];
    const isSwitch = i % 2 === 0;
    const [from, to] = isSwitch ? pair : [pair[0], pair[0]];
    rt.setStitch(from);
    for (let k = 0; k < opts.settleRuns; k++) await rt.run(x);
    const t0 = performance.now();
    rt.setStitch(to);
    const t1 = performance.now();
    const first = await rt.run(x);
    const t2 = performance.now();
    const second = await rt.run(x);
    const t3 = performance.now();
    if (first.stitch !== to || second.stitch !== to) {
      throw new RuntimeError(
        'INFERENCE_FAILED',
        `a switch trial ran stitches ${first.stitch} and ${second.stitch} after setStitch(${to})`,
        {
          hint: 'run() must use the stitch that is active when it is called.',
        },
      );
    }
    const sample = {
      setStitchMs: t1 - t0,
      firstRunMs: t2 - t1,
      switchToResultMs: t2 - t0,
      steadyRunMs: t3 - t2,
      overheadMs: t2 - t1 - (t3 - t2),
    };
    (isSwitch ? switched : control).push(sample);
    if (isSwitch) opts.onTrial?.(switched.length);
  }
  return { switched, control };
}

/**
 * What a user without stitchnet does to change models: create a session for the new stitch's
 * fused graph (bytes already in memory) and run it once. Returns the time of each trial (ms).
 */
export async function freshSessionTrials(
  bytes: Uint8Array,
  settings: SessionSettings,
  x: { data: Float32Array; dims: number[] },
  trials: number,
): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < trials; i++) {
    const t0 = performance.now();
    const session = await OrtSession.create(bytes, settings, 'a fresh fused session');
    await session.run(session.tensor(x.data, x.dims), 'a fresh fused session');
    times.push(performance.now() - t0);
    await session.release();
  }
  return times;
}

/** Event-loop delay of the main thread over one window (ms). */
export interface Lag {
  p50: number;
  p99: number;
  max: number;
  /** Inferences completed in the window. */
  runs: number;
  seconds: number;
}

/**
 * Samples the main thread's event-loop delay (`monitorEventLoopDelay`, 1 ms resolution) for
 * `ms` while `work` runs back to back (or while idle when `work` is undefined).
 */
export async function eventLoopLag(ms: number, work?: () => Promise<unknown>): Promise<Lag> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const t0 = performance.now();
  let runs = 0;
  if (work) {
    while (performance.now() - t0 < ms) {
      await work();
      runs++;
    }
  } else {
    await sleep(ms);
  }
  h.disable();
  const toMs = (ns: number) => ns / 1e6;
  return {
    p50: toMs(h.percentile(50)),
    p99: toMs(h.percentile(99)),
    max: toMs(h.max),
    runs,
    seconds: (performance.now() - t0) / 1000,
  };
}

/** A bare worker thread for measuring one round trip of the runtime's worker protocol. */
export interface EchoWorker {
  /** Copies `data`, transfers the copy to the worker and waits for a `replyFloats`-long array back. */
  roundTrip(data: Float32Array): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts a worker that answers every message at once with a fresh `replyFloats`-long array: the
 * message traffic of one `run()` in worker mode (input copied and transferred, logits
 * transferred back) without the inference.
 */
export function echoWorker(replyFloats: number): EchoWorker {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    parentPort.on('message', (m) => {
      const out = new Float32Array(workerData.replyFloats);
      parentPort.postMessage({ id: m.id, data: out }, [out.buffer]);
    });`;
  const worker = new Worker(code, { eval: true, workerData: { replyFloats } });
  const pending = new Map<number, () => void>();
  let next = 0;
  worker.on('message', (m: { id: number }) => {
    pending.get(m.id)?.();
    pending.delete(m.id);
  });
  return {
    roundTrip(data) {
      const id = next++;
      const copy = data.slice();
      return new Promise<void>((resolve) => {
        pending.set(id, resolve);
        worker.postMessage({ id, data: copy }, [copy.buffer as ArrayBuffer]);
      });
    },
    async close() {
      await worker.terminate();
    },
  };
}
