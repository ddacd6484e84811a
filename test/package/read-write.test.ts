import { mkdtemp, readFile, readdir, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptionError, PackageError } from '../../src/errors.js';
import { decodeModel, encodeModel, graphInputs, linearModel } from '../../src/onnx/index.js';
import {
  MANIFEST_FILE,
  PACKAGE_FORMAT,
  hashFile,
  readPackage,
  rewriteManifest,
  sha256,
  writePackage,
} from '../../src/package/index.js';
import { makeTinyPackage, type TinyPackage } from '../helpers/tiny-package.js';

let root: string;
let tiny: TinyPackage;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'stitchnet-rw-'));
  tiny = await makeTinyPackage(path.join(root, 'tiny'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('writePackage → readPackage', () => {
  it('round-trips the manifest and every piece', async () => {
    const pkg = await readPackage(tiny.dir);
    expect(pkg.dir).toBe(await realpath(tiny.dir));
    expect(pkg.manifest).toEqual(tiny.manifest);
    expect(pkg.manifest.format).toBe(PACKAGE_FORMAT);
    for (const [id, piece] of Object.entries(pkg.manifest.pieces)) {
      const bytes = await pkg.pieceBytes(id);
      expect(bytes.length).toBe(piece.bytes);
      expect(sha256(bytes)).toBe(piece.sha256);
      expect(await hashFile(pkg.piecePath(id))).toEqual({ sha256: piece.sha256, bytes: piece.bytes });
      expect(graphInputs(decodeModel(bytes))[0]?.shape).toEqual(piece.input.shape);
    }
  });

  it('writes pretty JSON with the format first and leaves no temporary files', async () => {
    const text = await readFile(path.join(tiny.dir, MANIFEST_FILE), 'utf8');
    expect(text.startsWith('{\n  "format": "stitchnet/1",\n  "name": "tiny-vit"')).toBe(true);
    expect(JSON.parse(text)).toEqual(tiny.manifest);
    const names = [...(await readdir(tiny.dir)), ...(await readdir(path.join(tiny.dir, 'pieces')))];
    expect(names.filter((f) => f.endsWith('.tmp'))).toEqual([]);
    expect(names).toHaveLength(2 + Object.keys(tiny.manifest.pieces).length);
  });

  it('writes the same bytes for the same input', async () => {
    const again = await makeTinyPackage(path.join(root, 'again'));
    expect(await readFile(path.join(again.dir, MANIFEST_FILE), 'utf8')).toBe(
      await readFile(path.join(tiny.dir, MANIFEST_FILE), 'utf8'),
    );
  });

  it('accepts the path of the manifest itself', async () => {
    const pkg = await readPackage(path.join(tiny.dir, MANIFEST_FILE));
    expect(pkg.dir).toBe(await realpath(tiny.dir));
  });

  it('reads without decoding or hashing when asked to', async () => {
    const pkg = await readPackage(tiny.dir, { loadModels: false, verifyHashes: false });
    expect(pkg.routePieces(0)).toHaveLength(tiny.manifest.anchors[0]!.depth + 2);
    const streamed = await readPackage(tiny.dir, { loadModels: false });
    expect(streamed.manifest).toEqual(tiny.manifest);
  });

  it('resolves stitches and their routes', async () => {
    const pkg = await readPackage(tiny.dir);
    const spec = tiny.stitches.find((s) => s.segments[0]!.anchor === 1 && s.position?.[0] === 1)!;
    expect(spec.position).toEqual([1, 1]);
    expect(pkg.stitch(spec.id).positions).toEqual([spec.position]);
    expect(pkg.routePieces(spec.id)).toEqual([
      'a1.embed',
      'a1.block.0',
      'a1.block.1',
      spec.stitchLayer,
      'a2.block.1',
      'a2.block.2',
      'a2.block.3',
      'a2.head',
    ]);
    expect(pkg.routePieces(2)).toEqual(['a2.embed', 'a2.block.0', 'a2.block.1', 'a2.block.2', 'a2.block.3', 'a2.head']);
    expect(() => pkg.stitch(999)).toThrow(
      expect.objectContaining({ code: 'STITCH_UNKNOWN', validValues: tiny.manifest.stitches.map((s) => s.id) }),
    );
    await expect(pkg.pieceBytes('nope')).rejects.toMatchObject({ code: 'PACKAGE_ROUTE_INVALID', option: 'pieceId' });
  });

  it('pieceBytes notices a file altered after the package was read', async () => {
    const dir = path.join(root, 'altered-later');
    const copy = await makeTinyPackage(dir);
    const pkg = await readPackage(dir);
    const file = copy.manifest.pieces['a0.head']!.file;
    const bytes = await readFile(path.join(dir, file));
    bytes[20]! ^= 1;
    await writeFile(path.join(dir, file), bytes);
    await expect(pkg.pieceBytes('a0.head')).rejects.toMatchObject({
      code: 'PACKAGE_HASH_MISMATCH',
      file,
      field: 'pieces["a0.head"].sha256',
    });
  });
});

describe('writePackage refuses a package that would not read back', () => {
  const linear = () =>
    encodeModel(linearModel({ weight: new Float32Array(4), bias: new Float32Array(2), dimIn: 2, dimOut: 2 }));
  const draft = () => ({
    name: 'one',
    input: { name: 'x', shape: ['batch', 'tokens', 2] },
    output: { name: 'y', shape: ['batch', 'tokens', 2] },
    anchors: [{ id: 'a', dim: 2, depth: 1, embed: 'e', blocks: ['b'], head: 'h' }],
    pieces: Object.fromEntries(
      (['e', 'b', 'h'] as const).map((id, i) => [
        id,
        {
          kind: (['embed', 'block', 'head'] as const)[i]!,
          file: `pieces/${id}.onnx`,
          input: { name: 'x', shape: ['batch', 'tokens', 2] },
          output: { name: 'y', shape: ['batch', 'tokens', 2] },
        },
      ]),
    ),
    stitches: [{ id: 0, route: [{ anchor: 'a', blocks: [0, 0] as [number, number] }] }],
  });
  const files = () => new Map(['e', 'b', 'h'].map((id) => [`pieces/${id}.onnx`, linear()]));

  it('writes a minimal valid package', async () => {
    const manifest = await writePackage(path.join(root, 'one'), { manifest: draft(), files: files() });
    expect(manifest.stitchLayers).toEqual([]);
    expect(manifest.frontier).toEqual([]);
    expect((await readPackage(path.join(root, 'one'))).routePieces(0)).toEqual(['e', 'b', 'h']);
  });

  it('a piece without bytes', async () => {
    const f = files();
    f.delete('pieces/b.onnx');
    const err = await writePackage(path.join(root, 'w1'), { manifest: draft(), files: f }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PackageError);
    expect(err).toMatchObject({ code: 'PACKAGE_FILE_MISSING', file: 'pieces/b.onnx', field: 'pieces.b.file' });
  });

  it('a file no piece references', async () => {
    const f = files();
    f.set('pieces/extra.onnx', linear());
    const err = await writePackage(path.join(root, 'w2'), { manifest: draft(), files: f }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OptionError);
    expect(err).toMatchObject({ code: 'OPTION_INVALID', option: 'files["pieces/extra.onnx"]' });
  });

  it('bytes that are not ONNX, before anything is written', async () => {
    const f = files();
    f.set('pieces/h.onnx', new Uint8Array([1, 2, 3, 4, 5]));
    const dir = path.join(root, 'w3');
    const err = await writePackage(dir, { manifest: draft(), files: f }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ONNX_DECODE_FAILED', file: 'pieces/h.onnx', field: 'pieces.h.file' });
    await expect(readdir(dir)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a path that leaves the folder', async () => {
    const d = draft();
    d.pieces.h!.file = '../h.onnx';
    const f = files();
    f.set('../h.onnx', f.get('pieces/h.onnx')!);
    f.delete('pieces/h.onnx');
    const err = await writePackage(path.join(root, 'w4'), { manifest: d, files: f }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PACKAGE_PATH_OUTSIDE', file: '../h.onnx', field: 'pieces.h.file' });
  });
});

describe('rewriteManifest', () => {
  it('replaces the manifest of a written package, and refuses one that fails its checks, keeping the old file', async () => {
    const dir = path.join(root, 'rewrite');
    const written = (await makeTinyPackage(dir)).manifest;
    const changed = { ...written, description: 'profiled' };
    await rewriteManifest(dir, changed);
    expect((await readPackage(dir)).manifest.description).toBe('profiled');
    const before = await readFile(path.join(dir, MANIFEST_FILE), 'utf8');
    const broken = { ...changed, stitches: [{ id: 0, route: [{ anchor: 'nope', blocks: [0, 0] }] }] };
    await expect(rewriteManifest(dir, broken as unknown as typeof written)).rejects.toBeInstanceOf(PackageError);
    expect(await readFile(path.join(dir, MANIFEST_FILE), 'utf8')).toBe(before);
  });
});
