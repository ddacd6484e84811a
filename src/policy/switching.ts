/**
 * The switching discipline: turns what the policy wants now (its decisions) into the switches
 * the runtime makes, without flapping and without getting stuck.
 *
 * {@link Switcher} is the discipline as a plain state machine with time passed in (pure and
 * synchronous); the policy loop (`loop.ts`) drives it from a scheduler, and
 * {@link switchingDiscipline} wraps it as an RxJS operator on decisions.
 */
import { asyncScheduler, Observable, type OperatorFunction, type SchedulerLike, type Subscription } from 'rxjs';
import type { Switching } from '../profiles/schema.js';
import type { StitchCatalog } from './catalog.js';
import type { Decision } from './decide.js';

/** A change of the active stitch made by the policy. */
export interface StitchSwitch {
  /** The stitch before (`undefined` for the first choice). */
  readonly from: number | undefined;
  readonly to: number;
  /** Scheduler time of the switch, ms. */
  readonly at: number;
  /**
   * `degrade`: to a cheaper stitch; `upgrade`: to a costlier one; `initial`: the first choice — the
   * profile's choice before any reading, its correction by the first reading, or the first
   * decision after an unpin (these apply at once and start no dwell).
   */
  readonly direction: 'initial' | 'degrade' | 'upgrade';
  /** How long a switch in this direction had been wanted when it happened, ms. */
  readonly wantedForMs: number;
  /** The decision that is applied (the latest one). */
  readonly decision: Decision;
}

/** Why the policy's choice is not (yet) the active stitch. */
export interface SwitchHold {
  /**
   * `pinned`: the app holds a stitch; `dwell`: the last switch was less than `minDwellMs` ago;
   * `degrade-wait`: a degrade waits out `degradeAfterMs`; `upgrade-wait`: an upgrade waits out
   * `upgradeAfterMs` (or has not been wanted for `upgradeQuorum` of it); `backoff`: an earlier
   * upgrade to this stitch or a costlier one was reversed, and the wait is longer.
   */
  readonly kind: 'pinned' | 'dwell' | 'degrade-wait' | 'upgrade-wait' | 'backoff';
  /** The stitch held back. */
  readonly stitch: number;
  /** Scheduler time at which the switch is due if the policy keeps wanting it, ms (absent while pinned). */
  readonly untilMs: number | undefined;
  /** The hold in words, for the decision's reason. */
  readonly summary: string;
}

/** What one step of the {@link Switcher} asks for. */
export interface SwitchStep {
  /** The switch to make now. */
  readonly switch?: StitchSwitch | undefined;
  /** Why the latest decision's stitch is not active (no switch). */
  readonly hold?: SwitchHold | undefined;
  /** Scheduler time at which to call {@link Switcher.tick} again, ms. */
  readonly recheckAt?: number | undefined;
}

/** Where the {@link Switcher} starts. */
export interface SwitcherStart {
  /** The stitch already active; `undefined`: none yet. */
  readonly active?: number | undefined;
  /** The next decision applies at once, like a first choice (default: when nothing is active). */
  readonly free?: boolean | undefined;
  /** Scheduler time of the last switch, for the dwell. Default: none. */
  readonly lastSwitchAt?: number | undefined;
}

/** A pending upgrade: since when it is wanted, and the decisions since (each holds until the next). */
interface UpgradeEpisode {
  since: number;
  marks: { at: number; wanted: boolean }[];
  /** Start of the current run of decisions that do not want an upgrade. */
  gapSince: number | undefined;
}

/** The backoff of failed upgrades. */
interface Backoff {
  level: number;
  /** Rank of the stitch whose upgrade failed: upgrades to it or a costlier one wait longer. */
  rank: number;
  /** Time of the last failure. */
  at: number;
}

const fmtS = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/**
 * The switching discipline as a state machine. Every method takes the scheduler time `now`.
 *
 * - a **degrade** (to a cheaper stitch) happens once it has been wanted for `degradeAfterMs`
 *   (0: at once);
 * - an **upgrade** happens once it has been wanted for `upgradeAfterMs`, smoothed over time: the
 *   decisions must have wanted an upgrade for at least `upgradeQuorum` of the last
 *   `upgradeAfterMs`, and only a gap longer than the rest (`(1 − upgradeQuorum) × upgradeAfterMs`)
 *   restarts the wait — one noisy sample does not;
 * - an upgrade that a latency rule (a rule on `inference.*`, or `maxLatencyMs`) reverses within
 *   `backoff.windowMs` **failed**: the next upgrade to that stitch or a costlier one waits
 *   `upgradeAfterMs × backoff.factor^failures` (at most `backoff.maxMs`), until
 *   `backoff.resetAfterMs` pass without a failure;
 * - at most one switch per `minDwellMs`; a switch due earlier waits for the dwell to end and then
 *   goes to the latest decision's stitch. The first choice (and the first after an unpin) applies
 *   at once and starts no dwell.
 *
 * An upgrade is only ever to the latest decision's stitch, which the engine chose because its
 * predicted latency (its latency × the observed slowdown) meets the limits with
 * `latencyMargin` to spare.
 */
export class Switcher {
  private activeId: number | undefined;
  private free: boolean;
  private lastSwitchAt: number;
  private pinnedId: number | undefined;
  private latest: Decision | undefined;
  private degradeSince: number | undefined;
  private episode: UpgradeEpisode | undefined;
  private probation: { rank: number; at: number } | undefined;
  private backoff: Backoff = { level: 0, rank: Infinity, at: -Infinity };

  constructor(
    private readonly catalog: StitchCatalog,
    start: SwitcherStart = {},
  ) {
    this.activeId = start.active;
    this.free = start.free ?? start.active === undefined;
    this.lastSwitchAt = start.lastSwitchAt ?? -Infinity;
  }

  /** The active stitch (`undefined` before the first choice). */
  get active(): number | undefined {
    return this.activeId;
  }

  /**
   * A new decision at `now`. A `provisional` one (made before any reading existed, from the
   * profile alone) applies at once and leaves the next decision free to apply at once too: the
   * first reading corrects the first choice without waiting.
   */
  decide(d: Decision, now: number, provisional = false): SwitchStep {
    this.latest = d;
    this.markUpgradeWanted(d, now);
    const step = this.evaluate(now);
    if (provisional && this.pinnedId === undefined) this.free = true;
    return step;
  }

  /** A timer asked for by {@link SwitchStep.recheckAt} fired. */
  tick(now: number): SwitchStep {
    return this.evaluate(now);
  }

  /**
   * `setStitch`: makes `id` active now (a switch for the dwell); while pinned, moves the pin. The
   * latest decision then counts from the new stitch: the step says when it is due.
   */
  manual(id: number, now: number): SwitchStep {
    if (this.pinnedId !== undefined) this.pinnedId = id;
    if (id !== this.activeId) this.moveTo(id, now, true);
    if (this.latest) this.markUpgradeWanted(this.latest, now);
    return this.evaluate(now);
  }

  /** Holds `id` until {@link unpin}: decisions go on, switches stop. */
  pin(id: number, now: number): void {
    this.pinnedId = id;
    if (id !== this.activeId) this.moveTo(id, now, false);
  }

  /** Hands the stitch back to the policy: the latest decision applies at once. */
  unpin(now: number): SwitchStep {
    if (this.pinnedId === undefined) return {};
    this.pinnedId = undefined;
    this.free = true;
    return this.evaluate(now);
  }

  private moveTo(id: number, now: number, dwell: boolean): void {
    this.activeId = id;
    if (dwell) this.lastSwitchAt = now;
    this.free = false;
    this.resetWants();
    this.probation = undefined;
  }

  private rank(id: number): number {
    return this.catalog.rank.get(id) ?? -1;
  }

  private resetWants(): void {
    this.degradeSince = undefined;
    this.episode = undefined;
  }

  /** Keeps the time line of "an upgrade is wanted" that smooths the upgrade wait. */
  private markUpgradeWanted(d: Decision, now: number): void {
    const wanted = this.activeId !== undefined && this.rank(d.stitch) > this.rank(this.activeId);
    const ep = this.episode;
    if (!ep) {
      if (wanted) this.episode = { since: now, marks: [{ at: now, wanted }], gapSince: undefined };
      return;
    }
    const tolerance = (1 - d.switching.upgradeQuorum) * d.switching.upgradeAfterMs;
    if (ep.gapSince !== undefined && now - ep.gapSince > tolerance) {
      // A real change, not a noisy sample: the wait starts again when an upgrade is next wanted.
      this.episode = wanted ? { since: now, marks: [{ at: now, wanted }], gapSince: undefined } : undefined;
      return;
    }
    if (!wanted) ep.gapSince ??= now;
    else ep.gapSince = undefined;
    ep.marks.push({ at: now, wanted });
    // Only the longest wait (a backoff's) looks back: older marks can go.
    const horizon = now - Math.max(d.switching.upgradeAfterMs, d.switching.backoff.maxMs);
    let drop = 0;
    while (drop + 1 < ep.marks.length && (ep.marks[drop + 1] as { at: number }).at <= horizon) drop++;
    if (drop > 0) ep.marks.splice(0, drop);
  }

  private evaluate(now: number): SwitchStep {
    const d = this.latest;
    const active = this.activeId;
    if (!d) return {};
    if (this.pinnedId !== undefined) {
      return d.stitch === active
        ? {}
        : {
            hold: {
              kind: 'pinned',
              stitch: d.stitch,
              untilMs: undefined,
              summary: `pinned to stitch ${this.pinnedId}`,
            },
          };
    }
    if (active === undefined || this.free) return { switch: this.emit('initial', d, now, 0) };
    if (d.stitch === active) {
      this.degradeSince = undefined;
      return {};
    }
    return this.rank(d.stitch) < this.rank(active) ? this.evaluateDegrade(d, now) : this.evaluateUpgrade(d, now);
  }

  private evaluateDegrade(d: Decision, now: number): SwitchStep {
    this.degradeSince ??= now;
    const waitDue = this.degradeSince + d.switching.degradeAfterMs;
    const dwellDue = this.lastSwitchAt + d.switching.minDwellMs;
    const due = Math.max(waitDue, dwellDue);
    if (due <= now) return { switch: this.emit('degrade', d, now, now - this.degradeSince) };
    const kind = dwellDue >= waitDue ? 'dwell' : 'degrade-wait';
    return {
      hold: {
        kind,
        stitch: d.stitch,
        untilMs: due,
        summary: `degrade to stitch ${d.stitch} held by the ${kind === 'dwell' ? 'dwell' : 'degrade wait'} until ${fmtS(due)}`,
      },
      recheckAt: due,
    };
  }

  private evaluateUpgrade(d: Decision, now: number): SwitchStep {
    this.degradeSince = undefined;
    const ep = this.episode;
    if (!ep) return {};
    const sw = d.switching;
    const target = this.rank(d.stitch);
    const { waitMs, backedOff } = this.upgradeWait(sw, target, now);
    const wantedMs = this.wantedWithin(ep, now - waitMs, now);
    const quorumMs = sw.upgradeQuorum * waitMs;
    const waitDue = ep.since + waitMs;
    const dwellDue = this.lastSwitchAt + sw.minDwellMs;
    if (now >= waitDue && now >= dwellDue && wantedMs >= quorumMs) {
      return { switch: this.emit('upgrade', d, now, now - ep.since) };
    }
    // The earliest time the switch can be due if the policy keeps wanting it.
    const due = Math.max(waitDue, dwellDue, now + Math.max(1, quorumMs - wantedMs));
    const kind: SwitchHold['kind'] =
      backedOff && waitDue >= dwellDue ? 'backoff' : dwellDue > waitDue ? 'dwell' : 'upgrade-wait';
    const why =
      kind === 'backoff'
        ? `held by backoff (${this.backoff.level} failed upgrade${this.backoff.level > 1 ? 's' : ''}: wait ${fmtS(waitMs)})`
        : kind === 'dwell'
          ? 'held by the dwell'
          : `held until wanted for ${fmtS(waitMs)} (wanted ${fmtS(wantedMs)})`;
    return {
      hold: { kind, stitch: d.stitch, untilMs: due, summary: `upgrade to stitch ${d.stitch} ${why}` },
      recheckAt: due,
    };
  }

  /** Time in `[from, to]` during which an upgrade was wanted; drops marks no longer needed. */
  private wantedWithin(ep: UpgradeEpisode, from: number, to: number): number {
    while (ep.marks.length > 1 && (ep.marks[1] as { at: number }).at <= from) ep.marks.shift();
    let total = 0;
    for (let i = 0; i < ep.marks.length; i++) {
      const m = ep.marks[i] as { at: number; wanted: boolean };
      const end = ep.marks[i + 1]?.at ?? to;
      if (m.wanted) total += Math.max(0, Math.min(end, to) - Math.max(m.at, from));
    }
    return total;
  }

  private expireBackoff(now: number): void {
    const b = this.backoff;
    if (b.level > 0 && this.latest && now - b.at >= this.latest.switching.backoff.resetAfterMs)
      this.backoff = { level: 0, rank: Infinity, at: -Infinity };
  }

  /** The wait of an upgrade to rank `target`: `upgradeAfterMs`, longer under a backoff. */
  private upgradeWait(sw: Switching, target: number, now: number): { waitMs: number; backedOff: boolean } {
    this.expireBackoff(now);
    const b = this.backoff;
    if (b.level === 0 || target < b.rank) return { waitMs: sw.upgradeAfterMs, backedOff: false };
    const longer = sw.upgradeAfterMs * sw.backoff.factor ** b.level;
    const waitMs = Math.max(sw.upgradeAfterMs, Math.min(sw.backoff.maxMs, longer));
    return { waitMs, backedOff: waitMs > sw.upgradeAfterMs };
  }

  /** Counts a degrade that reverses a recent upgrade on a latency rule as a failed upgrade. */
  private noteDegrade(d: Decision, from: number | undefined, now: number): void {
    const p = this.probation;
    this.probation = undefined;
    if (!p || from === undefined || now - p.at > d.switching.backoff.windowMs || !latencyDriven(d, from)) return;
    this.expireBackoff(now);
    this.backoff = { level: this.backoff.level + 1, rank: Math.min(p.rank, this.backoff.rank), at: now };
  }

  private emit(direction: StitchSwitch['direction'], d: Decision, now: number, wantedForMs: number): StitchSwitch {
    const from = this.activeId;
    if (direction === 'degrade') this.noteDegrade(d, from, now);
    this.probation = direction === 'upgrade' ? { rank: this.rank(d.stitch), at: now } : undefined;
    this.activeId = d.stitch;
    // The first choice is not a move away from anything: it starts no dwell.
    if (direction !== 'initial') this.lastSwitchAt = now;
    this.free = false;
    this.resetWants();
    return { from, to: d.stitch, at: now, direction, wantedForMs, decision: d };
  }
}

/**
 * True when `d` moves away from `from` because of latency: a matched rule reads an `inference.*`
 * signal, or a latency limit is in force and `from` is not among the stitches that meet the limits.
 */
export function latencyDriven(d: Decision, from: number): boolean {
  if (d.reason.rules.some((r) => r.readings.some((x) => x.signal.startsWith('inference.')))) return true;
  return d.limits.maxLatencyMs !== undefined && !d.reason.feasible.includes(from);
}

/** Options of {@link switchingDiscipline}. */
export interface SwitchingOptions {
  /** Scheduler of the waits. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
  /**
   * The stitch already active (e.g. when the discipline restarts after an unpin). The first
   * decision is then treated like any other; without it, the first decision is applied at once.
   */
  active?: number | undefined;
  /** Scheduler time of the last switch before this operator started (for the dwell). Default: none. */
  lastSwitchAt?: number | undefined;
}

/**
 * The {@link Switcher} as an operator on decisions (each decision's `switching` block applies, so
 * a reloaded profile takes effect at once). Completion waits for a pending switch; errors pass
 * through. The runtime and `simulate` use the policy loop (`policyLoop`), which drives the same
 * switcher with the control input as well.
 */
export function switchingDiscipline(
  catalog: StitchCatalog,
  options: SwitchingOptions = {},
): OperatorFunction<Decision, StitchSwitch> {
  const scheduler = options.scheduler ?? asyncScheduler;
  return (source) =>
    new Observable<StitchSwitch>((subscriber) => {
      const switcher = new Switcher(catalog, { active: options.active, lastSwitchAt: options.lastSwitchAt });
      let pending: Subscription | undefined;
      let done = false;
      const apply = (step: SwitchStep): void => {
        pending?.unsubscribe();
        pending = undefined;
        if (step.switch) subscriber.next(step.switch);
        if (step.recheckAt !== undefined) {
          pending = scheduler.schedule(
            () => apply(switcher.tick(scheduler.now())),
            Math.max(0, step.recheckAt - scheduler.now()),
          );
        }
        if (done && !pending) subscriber.complete();
      };
      const inner = source.subscribe({
        next: (d) => apply(switcher.decide(d, scheduler.now())),
        error: (e: unknown) => subscriber.error(e),
        complete() {
          done = true;
          if (!pending) subscriber.complete();
        },
      });
      return () => {
        inner.unsubscribe();
        pending?.unsubscribe();
      };
    });
}
