import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { frontierByLatency, frontierByMacs, paretoFrontier, type FrontierPoint } from '../../src/builder/frontier.js';
import type { Stitch } from '../../src/package/schema.js';

describe('Pareto frontier', () => {
  it('keeps the stitches no other beats, cheapest first', () => {
    const pts: FrontierPoint[] = [
      { id: 0, cost: 1, accuracy: 0.7 },
      { id: 1, cost: 4, accuracy: 0.79 },
      { id: 2, cost: 17, accuracy: 0.82 },
      { id: 3, cost: 4.7, accuracy: 0.79 }, // costs more than 1 for the same accuracy
      { id: 4, cost: 2.7, accuracy: 0.756 },
      { id: 5, cost: 18, accuracy: 0.8204 },
      { id: 6, cost: 2.7, accuracy: 0.75 }, // same cost as 4, less accurate
      { id: 7, cost: 1, accuracy: 0.7 }, // exact tie with 0
    ];
    expect(paretoFrontier(pts)).toEqual([0, 4, 1, 2, 5]);
    expect(paretoFrontier([])).toEqual([]);
  });

  it('is exactly the set of non-dominated points (property)', () => {
    const point = fc.record({ cost: fc.integer({ min: 0, max: 20 }), accuracy: fc.integer({ min: 0, max: 20 }) });
    fc.assert(
      fc.property(fc.array(point, { maxLength: 30 }), (raw) => {
        const pts = raw.map((p, id) => ({ id, ...p }));
        const front = paretoFrontier(pts);
        const dominated = (p: FrontierPoint) =>
          pts.some(
            (q) =>
              q.id !== p.id &&
              q.cost <= p.cost &&
              q.accuracy >= p.accuracy &&
              (q.cost < p.cost || q.accuracy > p.accuracy || q.id < p.id),
          );
        expect(new Set(front)).toEqual(new Set(pts.filter((p) => !dominated(p)).map((p) => p.id)));
        const costs = front.map((id) => pts[id]!.cost);
        expect(costs).toEqual([...costs].sort((a, b) => a - b));
      }),
    );
  });

  it('reads MACs or measured latency from stitches, skipping unmeasured ones', () => {
    const lat = (p50Ms: number) => ({ cpu: { '1': { p50Ms, p95Ms: p50Ms, device: 'x', at: 't' } } });
    const stitches: Stitch[] = [
      { id: 0, route: [{ anchor: 'a', blocks: [0, 1] }], macs: 10, accuracy: 0.5, latency: lat(3) },
      { id: 1, route: [{ anchor: 'b', blocks: [0, 1] }], macs: 20, accuracy: 0.6, latency: lat(2) },
      { id: 2, route: [{ anchor: 'b', blocks: [0, 1] }], macs: 5 },
    ];
    expect(frontierByMacs(stitches)).toEqual([0, 1]);
    expect(frontierByLatency(stitches, 'cpu', 1)).toEqual([1]);
    expect(frontierByLatency(stitches, 'cuda', 1)).toEqual([]);
  });
});
