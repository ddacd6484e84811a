/**
 * The cost/accuracy Pareto frontier: the stitches that no other stitch beats on both counts.
 *
 * Unlike SN-Net's own helpers (greedy FLOPs buckets), this is the true Pareto set: a stitch is on
 * the frontier when every cheaper-or-equal stitch is strictly less accurate.
 */
import type { Stitch } from '../package/schema.js';

/** One candidate: its id, its cost (MACs, milliseconds, …) and its accuracy. */
export interface FrontierPoint {
  id: number;
  cost: number;
  accuracy: number;
}

/**
 * Ids of the Pareto-optimal points, cheapest first. Among points of equal cost only the most
 * accurate can be on the frontier (the lowest id when they tie exactly); a point is kept when it
 * is strictly more accurate than every cheaper point.
 */
export function paretoFrontier(points: readonly FrontierPoint[]): number[] {
  const sorted = [...points].sort((a, b) => a.cost - b.cost || b.accuracy - a.accuracy || a.id - b.id);
  const out: number[] = [];
  let best = Number.NEGATIVE_INFINITY;
  for (const p of sorted) {
    if (p.accuracy > best) {
      out.push(p.id);
      best = p.accuracy;
    }
  }
  return out;
}

/** The frontier by MACs over the stitches that have both MACs and accuracy. */
export function frontierByMacs(stitches: readonly Stitch[]): number[] {
  return paretoFrontier(
    stitches.flatMap((s) =>
      s.macs !== undefined && s.accuracy !== undefined ? [{ id: s.id, cost: s.macs, accuracy: s.accuracy }] : [],
    ),
  );
}

/** The frontier by median latency on one provider and batch size, over the stitches measured there. */
export function frontierByLatency(stitches: readonly Stitch[], provider: string, batch: number | string): number[] {
  return paretoFrontier(
    stitches.flatMap((s) => {
      const lat = s.latency?.[provider]?.[String(batch)];
      return lat && s.accuracy !== undefined ? [{ id: s.id, cost: lat.p50Ms, accuracy: s.accuracy }] : [];
    }),
  );
}
