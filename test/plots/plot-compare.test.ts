import { describe, expect, it } from 'vitest';
import { comparePlot, compareSpec, SERIES_PALETTE } from '../../src/plots/plot.js';
import { BuilderError } from '../../src/errors.js';
import type { Stitch } from '../../src/package/schema.js';
import { toyManifest } from '../builder/helpers.js';

/** Three anchors and two stitches; `gain` is added to every accuracy (twice to the stitches). */
function family(gain: number): Stitch[] {
  return [
    // Anchors listed out of MACs order, so the anchor line must be ordered by MACs, not by id.
    { id: 0, route: [{ anchor: 's', blocks: [0, 2] }], macs: 4e9, accuracy: 0.8 + gain },
    { id: 1, route: [{ anchor: 'ti', blocks: [0, 2] }], macs: 1e9, accuracy: 0.7 + gain },
    { id: 4, route: [{ anchor: 'b', blocks: [0, 2] }], macs: 8e9, accuracy: 0.85 + gain },
    {
      id: 2,
      route: [{ anchor: 'ti', blocks: [0, 0] }, { stitchLayer: 'ti-s.0' }, { anchor: 's', blocks: [1, 2] }],
      macs: 3e9,
      accuracy: 0.72 + 2 * gain,
    },
    {
      id: 3,
      route: [{ anchor: 'ti', blocks: [0, 1] }, { stitchLayer: 'ti-s.1' }, { anchor: 's', blocks: [1, 2] }],
      macs: 3.5e9,
      accuracy: 0.74 + 2 * gain,
    },
  ];
}

const BEFORE = { label: 'before', manifest: toyManifest(family(0)) };
const AFTER = { label: 'after', manifest: toyManifest(family(0.02)) };

interface Layer {
  mark: { type: string; strokeDash?: number[] };
  transform?: { filter: string }[];
  encoding: Record<string, { field?: string; scale?: { domain: unknown[]; range: unknown[] } }>;
}
interface Spec {
  title: { text: string };
  width: number;
  data: { values: Record<string, unknown>[] };
  layer: Layer[];
}

describe('comparison plot', () => {
  it('puts every stitch of every series in the data, coloured by series with a fixed palette', () => {
    const spec = compareSpec([BEFORE, AFTER]) as unknown as Spec;
    expect(spec.title.text).toBe('before vs after: accuracy vs MACs');
    expect(spec.width).toBe(420);
    const rows = spec.data.values;
    expect(rows).toHaveLength(10);
    expect(rows.filter((r) => r.series === 'before').map((r) => r.id)).toEqual([0, 1, 4, 2, 3]);
    expect(rows.filter((r) => r.series === 'after').map((r) => r.id)).toEqual([0, 1, 4, 2, 3]);
    const after2 = rows.find((r) => r.series === 'after' && r.id === 2);
    expect(after2).toMatchObject({ kind: 'stitch', label: '', route: 'ti[0-0] → ti-s.0 → s[1-2]', macs: 3 });
    expect(after2?.accuracy).toBeCloseTo(76, 9);
    expect(rows.filter((r) => r.kind === 'anchor').map((r) => `${r.series}:${r.label}`)).toEqual([
      'before:s',
      'before:ti',
      'before:b',
      'after:s',
      'after:ti',
      'after:b',
    ]);
    const points = spec.layer.find((l) => l.mark.type === 'point') as Layer;
    expect(points.encoding.color).toMatchObject({
      field: 'series',
      title: 'Package',
      scale: { domain: ['before', 'after'], range: SERIES_PALETTE.slice(0, 2) },
    });
    expect(points.encoding.shape).toMatchObject({
      field: 'kind',
      scale: { domain: ['anchor', 'stitch'], range: ['diamond', 'circle'] },
    });
    expect(points.encoding.tooltip).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ field: 'series' }),
        expect.objectContaining({ field: 'route' }),
      ]),
    );
  });

  it('draws one dashed line through the anchors of each series, in its colour, ordered by MACs', async () => {
    const spec = compareSpec([BEFORE, AFTER], { width: 300, title: 'Fine-tuning' }) as unknown as Spec;
    expect(spec.title.text).toBe('Fine-tuning');
    expect(spec.width).toBe(300);
    const dashed = spec.layer.filter((l) => l.mark.strokeDash !== undefined);
    expect(dashed).toHaveLength(1);
    expect(dashed[0]?.mark.type).toBe('line');
    expect(dashed[0]?.transform).toEqual([{ filter: "datum.kind === 'anchor'" }]);
    expect(dashed[0]?.encoding.color?.field).toBe('series');
    expect(dashed[0]?.encoding.order?.field).toBe('macs');
    // Rendered: one dashed path per series, each in its palette colour.
    const { svg, png } = await comparePlot([BEFORE, AFTER]);
    const paths = svg.match(/<path[^>]*stroke-dasharray[^>]*>/g) ?? [];
    expect(paths).toHaveLength(2);
    expect(paths.map((p) => /stroke="(#[0-9a-f]{6})"/.exec(p)?.[1]).sort()).toEqual(
      SERIES_PALETTE.slice(0, 2).slice().sort(),
    );
    for (const p of paths) {
      // Three anchors, left to right.
      const xs = [...(/ d="([^"]+)"/.exec(p)?.[1] ?? '').matchAll(/[ML]([\d.]+),/g)].map((m) => Number(m[1]));
      expect(xs).toHaveLength(3);
      expect(xs).toEqual([...xs].sort((a, b) => a - b));
    }
    expect(svg).toContain('>before<');
    expect(svg).toContain('>after<');
    expect(svg).toContain('Package');
    expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  it('leaves out stitches without accuracy or MACs', () => {
    const partial = toyManifest(
      family(0).map((s) =>
        s.id === 2 ? { ...s, accuracy: undefined } : s.id === 3 ? { ...s, macs: undefined } : s,
      ) as Stitch[],
    );
    const rows = (compareSpec([BEFORE, { label: 'partial', manifest: partial }]) as unknown as Spec).data.values;
    expect(rows.filter((r) => r.series === 'partial').map((r) => r.id)).toEqual([0, 1, 4]);
  });

  it('refuses fewer than two series, repeated labels, and a series with nothing to plot', () => {
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(BuilderError);
        const err = e as BuilderError;
        expect(err.hint).toBeTruthy();
        return `${err.code}: ${err.message}`;
      }
      throw new Error('expected a BuilderError');
    };
    expect(code(() => compareSpec([BEFORE]))).toMatch(/^BUILD_DATA_INVALID: .*at least 2 packages, got 1/);
    expect(code(() => compareSpec([BEFORE, { ...AFTER, label: 'before' }]))).toMatch(
      /^BUILD_DATA_INVALID: .*"before" is used more than once/,
    );
    const noAcc = toyManifest(
      family(0).map(({ accuracy: _, ...s }) => s),
      'raw',
    );
    expect(code(() => compareSpec([BEFORE, { label: 'raw', manifest: noAcc }]))).toMatch(
      /^BUILD_DATA_INVALID: Package "raw" \(series "raw"\) has no accuracy/,
    );
    const noMacs = toyManifest(
      family(0).map(({ macs: _, ...s }) => s),
      'old',
    );
    expect(code(() => compareSpec([{ label: 'old', manifest: noMacs }, AFTER]))).toMatch(
      /^BUILD_DATA_INVALID: Package "old" .*no MACs/,
    );
  });
});
