import { describe, expect, it } from 'vitest';
import { PackageError } from '../../src/errors.js';
import { type Manifest, checkManifest, expandRoute, parseManifest } from '../../src/package/index.js';

const hash = 'a'.repeat(64);
const spec = (name: string, d: number) => ({ name, shape: ['batch', 5, d] });
const piece = (kind: string, dIn: number, dOut: number) => ({
  kind,
  file: `pieces/${kind}-${dIn}-${dOut}.onnx`,
  sha256: hash,
  bytes: 1,
  input: spec('x', dIn),
  output: spec('y', dOut),
});

/** Two anchors of depth 3 (widths 4 and 6) and one stitching layer s→l at position (1, 2). */
function manifest(): Manifest {
  const pieces: Record<string, unknown> = {};
  const anchors = (
    [
      ['s', 4],
      ['l', 6],
    ] as const
  ).map(([id, d]) => {
    pieces[`${id}.embed`] = { ...piece('embed', 3, d), input: { name: 'img', shape: ['batch', 3] } };
    for (let b = 0; b < 3; b++)
      pieces[`${id}.block.${b}`] = { ...piece('block', d, d), file: `pieces/${id}.${b}.onnx` };
    pieces[`${id}.head`] = { ...piece('head', d, 2), output: { name: 'logits', shape: ['batch', 2] } };
    return {
      id,
      dim: d,
      depth: 3,
      embed: `${id}.embed`,
      blocks: [0, 1, 2].map((b) => `${id}.block.${b}`),
      head: `${id}.head`,
    };
  });
  pieces['s-l.0'] = piece('stitch', 4, 6);
  return parseManifest({
    format: 'stitchnet/1',
    name: 'm',
    input: { name: 'img', shape: ['batch', 3] },
    output: { name: 'logits', shape: ['batch', 2] },
    anchors,
    pieces,
    stitchLayers: [{ id: 's-l.0', piece: 's-l.0', from: 's', to: 'l' }],
    stitches: [
      { id: 0, route: [{ anchor: 's', blocks: [0, 2] }] },
      { id: 1, route: [{ anchor: 'l', blocks: [0, 2] }] },
      {
        id: 2,
        route: [{ anchor: 's', blocks: [0, 1] }, { stitchLayer: 's-l.0' }, { anchor: 'l', blocks: [2, 2] }],
        positions: [[1, 2]],
      },
    ],
    frontier: [0, 2, 1],
  });
}

describe('expandRoute', () => {
  it('expands a stitched route: embed of the first anchor, blocks, stitching layer, blocks, head of the last', () => {
    const m = manifest();
    expect(expandRoute(m, m.stitches[2]!.route)).toEqual([
      's.embed',
      's.block.0',
      's.block.1',
      's-l.0',
      'l.block.2',
      'l.head',
    ]);
  });

  it('expands an anchor route and a route that revisits blocks (k <= j)', () => {
    const m = manifest();
    expect(expandRoute(m, m.stitches[1]!.route)).toEqual(['l.embed', 'l.block.0', 'l.block.1', 'l.block.2', 'l.head']);
    expect(
      expandRoute(m, [{ anchor: 's', blocks: [0, 2] }, { stitchLayer: 's-l.0' }, { anchor: 'l', blocks: [0, 2] }]),
    ).toEqual([
      's.embed',
      's.block.0',
      's.block.1',
      's.block.2',
      's-l.0',
      'l.block.0',
      'l.block.1',
      'l.block.2',
      'l.head',
    ]);
  });

  it('names the step at fault', () => {
    const m = manifest();
    const fails = (route: Parameters<typeof expandRoute>[1], field: string) => {
      let err: unknown;
      try {
        expandRoute(m, route);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PackageError);
      expect(err).toMatchObject({ code: 'PACKAGE_ROUTE_INVALID', field });
    };
    fails([{ stitchLayer: 's-l.0' }, { anchor: 'l', blocks: [0, 2] }], 'route[0]');
    fails([{ anchor: 's', blocks: [0, 1] }, { stitchLayer: 's-l.0' }], 'route[1]');
    fails([{ anchor: 'm', blocks: [0, 1] }], 'route[0].anchor');
    fails([{ anchor: 's', blocks: [2, 1] }], 'route[0].blocks');
    fails(
      [{ anchor: 'l', blocks: [0, 1] }, { stitchLayer: 's-l.0' }, { anchor: 's', blocks: [2, 2] }],
      'route[1].stitchLayer',
    );
  });
});

describe('checkManifest', () => {
  it('returns every stitch route', () => {
    const routes = checkManifest(manifest());
    expect([...routes.keys()]).toEqual([0, 1, 2]);
    expect(routes.get(2)).toHaveLength(6);
  });

  it('checks anchor depth, piece kinds, widths, the package output and frontier duplicates', () => {
    const cases: [(m: Manifest) => void, string, string][] = [
      [(m) => void (m.anchors[0]!.depth = 4), 'PACKAGE_MANIFEST_INVALID', 'anchors[0].depth'],
      [(m) => void (m.anchors[0]!.head = 's.block.0'), 'PACKAGE_ROUTE_INVALID', 'anchors[0].head'],
      [(m) => void (m.stitchLayers[0]!.from = 'x'), 'PACKAGE_ROUTE_INVALID', 'stitchLayers[0].from'],
      [(m) => void (m.anchors[1]!.dim = 7), 'PACKAGE_DIMENSION_MISMATCH', 'pieces["l.embed"].output.shape[2]'],
      [(m) => void (m.output.shape = ['batch', 3]), 'PACKAGE_DIMENSION_MISMATCH', 'stitches[0].route'],
      [(m) => void (m.input.shape = ['n', 3]), 'PACKAGE_DIMENSION_MISMATCH', 'stitches[0].route[0].anchor'],
      [(m) => void (m.frontier = [0, 0]), 'PACKAGE_MANIFEST_INVALID', 'frontier[1]'],
      [(m) => void m.stitchLayers.push({ ...m.stitchLayers[0]! }), 'PACKAGE_MANIFEST_INVALID', 'stitchLayers[1].id'],
    ];
    for (const [edit, code, field] of cases) {
      const m = manifest();
      edit(m);
      expect(() => checkManifest(m), field).toThrow(expect.objectContaining({ code, field, file: 'stitchnet.json' }));
    }
  });

  it('reports a schema error at the closest route-step branch', () => {
    const m = manifest() as unknown as { stitches: { route: unknown[] }[] };
    m.stitches[2]!.route[1] = { stitchLayer: 's-l.0', extra: true };
    expect(() => parseManifest(m)).toThrow(
      expect.objectContaining({ code: 'PACKAGE_MANIFEST_INVALID', field: 'stitches[2].route[1]' }),
    );
  });
});
