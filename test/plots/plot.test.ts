import { describe, expect, it } from 'vitest';
import { latencyView, paretoPlot, paretoSpec } from '../../src/plots/plot.js';
import type { Stitch } from '../../src/package/schema.js';
import { toyManifest } from '../builder/helpers.js';

const lat = (ms: number) => ({
  cpu: {
    '1': { p50Ms: ms, p95Ms: ms * 1.2, device: 'test cpu', at: '2024-01-01T00:00:00Z' },
    '8': { p50Ms: 6 * ms, p95Ms: 7 * ms, device: 'test cpu', at: '2024-01-01T00:00:00Z' },
  },
});
const STITCHES: Stitch[] = [
  { id: 0, route: [{ anchor: 'ti', blocks: [0, 2] }], macs: 1e9, accuracy: 0.7, latency: lat(1) },
  { id: 1, route: [{ anchor: 's', blocks: [0, 2] }], macs: 4e9, accuracy: 0.8, latency: lat(3) },
  {
    id: 2,
    route: [{ anchor: 'ti', blocks: [0, 0] }, { stitchLayer: 'ti-s.0' }, { anchor: 's', blocks: [1, 2] }],
    macs: 3e9,
    accuracy: 0.78,
    latency: lat(2.5),
  },
  {
    id: 3,
    route: [{ anchor: 'ti', blocks: [0, 1] }, { stitchLayer: 'ti-s.1' }, { anchor: 's', blocks: [1, 2] }],
    macs: 3.5e9,
    accuracy: 0.75,
    latency: lat(2),
  },
];

describe('Pareto plot', () => {
  it('marks anchors and the frontier by MACs and by latency', () => {
    const spec = paretoSpec(toyManifest(STITCHES)) as unknown as {
      data: { values: Record<string, unknown>[] };
      hconcat: unknown[];
    };
    expect(spec.hconcat).toHaveLength(2);
    const rows = spec.data.values;
    expect(rows.filter((r) => r.kind === 'anchor').map((r) => r.label)).toEqual(['ti', 's']);
    expect(rows.filter((r) => r.frontierMacs).map((r) => r.id)).toEqual([0, 1, 2]);
    // By latency the slower-but-cheaper-in-MACs stitch 3 (2 ms) joins the frontier.
    expect(rows.filter((r) => r.frontierLatency).map((r) => r.id)).toEqual([0, 1, 2, 3]);
  });

  it("shows MACs in the unit of the package's largest value, as the tables do", () => {
    type Spec = {
      data: { values: { id: number; macs: number }[] };
      hconcat: { layer: { encoding: { x: { title: string } } }[] }[];
    };
    const giga = paretoSpec(toyManifest(STITCHES)) as unknown as Spec;
    expect(giga.hconcat[0]?.layer[0]?.encoding.x.title).toBe('GMACs (one sample)');
    expect(giga.data.values.map((r) => r.macs)).toEqual([1, 4, 3, 3.5]);
    // A Fashion-MNIST-scale family: MMACs, not 0.001-GMAC ticks.
    const small = paretoSpec(
      toyManifest(STITCHES.map((s) => ({ ...s, macs: (s.macs as number) / 1000 }))),
    ) as unknown as Spec;
    expect(small.hconcat[0]?.layer[0]?.encoding.x.title).toBe('MMACs (one sample)');
    expect(small.data.values.map((r) => r.macs)).toEqual([1, 4, 3, 3.5]);
  });

  it('picks the most profiled provider and its smallest batch unless told', () => {
    const m = toyManifest(STITCHES);
    expect(latencyView(m)).toEqual({ provider: 'cpu', batch: '1' });
    expect(latencyView(m, { batch: 8 })).toEqual({ provider: 'cpu', batch: '8' });
    expect(latencyView(m, { provider: 'cuda' })).toBeUndefined();
    const noLatency = toyManifest(STITCHES.map(({ latency: _, ...s }) => s));
    expect(latencyView(noLatency)).toBeUndefined();
    expect((paretoSpec(noLatency) as unknown as { hconcat: unknown[] }).hconcat).toHaveLength(1);
  });

  it('renders SVG and PNG', async () => {
    const { svg, png } = await paretoPlot(toyManifest(STITCHES));
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('GMACs');
    expect(svg).toContain('Median latency, cpu, batch 1');
    expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  it('refuses a package without accuracy', () => {
    expect(() => paretoSpec(toyManifest(STITCHES.map(({ accuracy: _, ...s }) => s)))).toThrow(/--eval/);
  });
});
