/**
 * The fast path's decisions and bookkeeping: when a route has run long enough to be worth fusing
 * into one session, and which fused sessions to keep within a memory budget.
 *
 * It lives with the engine, which sees every run (whoever asked for it) and holds the fused
 * sessions, so there is one account of what is fused, being fused, or refused. Pure: no ORT, no
 * I/O; time comes from the caller (each run's `at`, by the runtime's clock).
 */

/** Resolved fast-path settings as the engine uses them. */
export interface FastPathPolicy {
  /** Runs in a row of the same route before fusing it. */
  afterRuns: number;
  /** …over at least this long (ms, by the caller's clock). */
  afterMs: number;
  /** Fused sessions kept at most. */
  cacheSize: number;
  /** Weight bytes all fused sessions together may hold (each holds a second copy of its route's weights). */
  memoryBudgetBytes: number;
  /** Deprecated gate: fuse only while the streak's runs take at most this long on average (ms). */
  maxRunMs: number;
  /**
   * Fuse a route on its first run. Set on device providers (CUDA, DirectML, …), where every piece
   * boundary of a route copies the activation to the host and back.
   */
  eager: boolean;
}

interface Streak {
  key: string;
  runs: number;
  since: number;
  /** Total duration of those runs (ms). */
  ms: number;
}

/** Why a route is not fused, for errors and reports. */
export type Refusal = 'failed' | 'over-budget';

/** Which routes are fused, being fused or refused, and when to fuse the next one. */
export class FastPathBook {
  /** Fused routes and the weight bytes each holds; insertion order is recency order. */
  private readonly ready = new Map<string, number>();
  private readonly building = new Set<string>();
  private readonly refused = new Map<string, Refusal>();
  private streak: Streak | undefined;

  constructor(readonly policy: FastPathPolicy) {}

  /**
   * Counts a finished run of the route `key` that started at `at` and took `ms`; true when that
   * route should be fused now (long enough a streak, not fused, being fused or refused).
   */
  noteRun(key: string, at: number, ms: number): boolean {
    if (this.streak?.key !== key) this.streak = { key, runs: 0, since: at, ms: 0 };
    this.streak.runs++;
    this.streak.ms += ms;
    if (this.ready.has(key) || this.building.has(key) || this.refused.has(key)) return false;
    if (this.policy.eager) return true;
    const { afterRuns, afterMs, maxRunMs } = this.policy;
    return (
      this.streak.runs >= afterRuns &&
      at - this.streak.since >= afterMs &&
      this.streak.ms / this.streak.runs <= maxRunMs
    );
  }

  /** Whether a fused session of `bytes` weight bytes can be kept at all under the budget. */
  fits(bytes: number): boolean {
    return bytes <= this.policy.memoryBudgetBytes;
  }

  isReady(key: string): boolean {
    return this.ready.has(key);
  }

  /** Marks `key` as the most recently used fused route. */
  touch(key: string): void {
    const bytes = this.ready.get(key);
    if (bytes === undefined) return;
    this.ready.delete(key);
    this.ready.set(key, bytes);
  }

  startBuilding(key: string): void {
    this.building.add(key);
    this.refused.delete(key);
  }

  /**
   * Records a fused route of `bytes` weight bytes as ready and returns the fused routes to release
   * to stay within the cache size and the memory budget (least recently used first).
   */
  admit(key: string, bytes: number): string[] {
    this.building.delete(key);
    this.ready.set(key, bytes);
    const evicted: string[] = [];
    let total = [...this.ready.values()].reduce((a, b) => a + b, 0);
    for (const [k, b] of this.ready) {
      if (k === key || (this.ready.size <= this.policy.cacheSize && total <= this.policy.memoryBudgetBytes)) break;
      this.ready.delete(k);
      total -= b;
      evicted.push(k);
    }
    return evicted;
  }

  /** Records that `key` will not be fused by itself again (an explicit fuse may still retry). */
  refuse(key: string, why: Refusal): void {
    this.building.delete(key);
    this.refused.set(key, why);
  }

  /** Fused routes, least recently used first. */
  fused(): string[] {
    return [...this.ready.keys()];
  }
}

/** Megabytes (2^20 bytes) as bytes. */
export const MB = 1024 ** 2;
