import { mkdtemp, readFile, rm, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxError, PackageError, type StitchnetErrorCode } from '../../src/errors.js';
import { MANIFEST_FILE, readPackage, sha256 } from '../../src/package/index.js';
import { editManifest, packageCopier } from '../helpers/package-files.js';
import { makeTinyPackage, type TinyPackage } from '../helpers/tiny-package.js';

let root: string;
let tiny: TinyPackage;
let copyPackage: (from: string) => Promise<string>;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'stitchnet-pkg-'));
  copyPackage = packageCopier(root);
  tiny = await makeTinyPackage(path.join(root, 'pristine'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh copy of the package every case starts from. */
function copy(): Promise<string> {
  return copyPackage(tiny.dir);
}

/** Replaces a piece's bytes and records their true size and hash, so only later checks can object. */
async function replacePiece(dir: string, pieceId: string, bytes: Uint8Array): Promise<void> {
  const piece = tiny.manifest.pieces[pieceId]!;
  await writeFile(path.join(dir, piece.file), bytes);
  await editManifest(dir, (m) => {
    m.pieces[pieceId] = { ...m.pieces[pieceId]!, bytes: bytes.length, sha256: sha256(bytes) };
  });
}

async function failure(dir: string, opts?: Parameters<typeof readPackage>[1]): Promise<PackageError | OnnxError> {
  const err = await readPackage(dir, opts).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as PackageError;
}

function expectError(
  err: unknown,
  cls: typeof PackageError | typeof OnnxError,
  code: StitchnetErrorCode,
  where: { file?: string; field?: string },
): void {
  expect(err).toBeInstanceOf(cls);
  const e = err as PackageError;
  expect(e.code).toBe(code);
  if ('file' in where) expect(e.file).toBe(where.file);
  if ('field' in where) expect(e.field).toBe(where.field);
  expect(e.hint).toBeTruthy();
}

const stitchWithLayer = () => tiny.stitches.find((s) => s.stitchLayer !== undefined)!;
const BLOCK = 'a1.block.1';

describe('readPackage rejects a bad package with the file and field at fault', () => {
  it('a truncated ONNX piece (hash updated, so only decoding catches it)', async () => {
    const dir = await copy();
    const bytes = await readFile(path.join(dir, tiny.manifest.pieces[BLOCK]!.file));
    await replacePiece(dir, BLOCK, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    const err = await failure(dir);
    expectError(err, OnnxError, 'ONNX_DECODE_FAILED', {
      file: 'pieces/a1.block.1.onnx',
      field: 'pieces["a1.block.1"].file',
    });
  });

  it('altered bytes (hash mismatch)', async () => {
    const dir = await copy();
    const file = path.join(dir, tiny.manifest.pieces[BLOCK]!.file);
    const bytes = await readFile(file);
    bytes[bytes.length >> 1]! ^= 0xff;
    await writeFile(file, bytes);
    const err = await failure(dir);
    expectError(err, PackageError, 'PACKAGE_HASH_MISMATCH', {
      file: 'pieces/a1.block.1.onnx',
      field: 'pieces["a1.block.1"].sha256',
    });
  });

  it('a file whose size differs from the manifest', async () => {
    const dir = await copy();
    await truncate(path.join(dir, tiny.manifest.pieces[BLOCK]!.file), 10);
    const err = await failure(dir);
    expectError(err, PackageError, 'PACKAGE_HASH_MISMATCH', {
      file: 'pieces/a1.block.1.onnx',
      field: 'pieces["a1.block.1"].bytes',
    });
  });

  it('a ../ piece path', async () => {
    const dir = await copy();
    await writeFile(path.join(root, 'outside.onnx'), await readFile(path.join(dir, tiny.manifest.pieces[BLOCK]!.file)));
    await editManifest(dir, (m) => {
      m.pieces[BLOCK]!.file = 'pieces/../../outside.onnx';
    });
    const err = await failure(dir);
    expectError(err, PackageError, 'PACKAGE_PATH_OUTSIDE', {
      file: 'pieces/../../outside.onnx',
      field: 'pieces["a1.block.1"].file',
    });
  });

  it('an absolute piece path', async () => {
    const dir = await copy();
    const abs = path.join(dir, tiny.manifest.pieces[BLOCK]!.file);
    await editManifest(dir, (m) => {
      m.pieces[BLOCK]!.file = abs;
    });
    const err = await failure(dir);
    expectError(err, PackageError, 'PACKAGE_PATH_OUTSIDE', { file: abs, field: 'pieces["a1.block.1"].file' });
  });

  it('a symlink that leaves the folder', async () => {
    const dir = await copy();
    const piece = tiny.manifest.pieces[BLOCK]!;
    const outside = path.join(root, `linked-${path.basename(dir)}.onnx`);
    await writeFile(outside, await readFile(path.join(dir, piece.file)));
    await unlink(path.join(dir, piece.file));
    await symlink(outside, path.join(dir, piece.file));
    const err = await failure(dir);
    expectError(err, PackageError, 'PACKAGE_PATH_OUTSIDE', { file: piece.file, field: 'pieces["a1.block.1"].file' });
  });

  it('a missing piece file', async () => {
    const dir = await copy();
    await unlink(path.join(dir, tiny.manifest.pieces[BLOCK]!.file));
    const err = await failure(dir);
    expectError(err, PackageError, 'PACKAGE_FILE_MISSING', {
      file: 'pieces/a1.block.1.onnx',
      field: 'pieces["a1.block.1"].file',
    });
  });

  it('an anchor that references an unknown piece', async () => {
    const dir = await copy();
    await editManifest(dir, (m) => {
      m.anchors[1]!.blocks[2] = 'a1.block.9';
    });
    const err = await failure(dir);
    expectError(err, PackageError, 'PACKAGE_ROUTE_INVALID', { file: MANIFEST_FILE, field: 'anchors[1].blocks[2]' });
    expect(err.validValues).toContain('a1.block.2');
  });

  it('a route step naming an unknown anchor', async () => {
    const dir = await copy();
    const s = stitchWithLayer().id;
    await editManifest(dir, (m) => {
      m.stitches[s]!.route[2] = { anchor: 'a7', blocks: [2, 3] };
    });
    const err = await failure(dir);
    expectError(err, PackageError, 'PACKAGE_ROUTE_INVALID', {
      file: MANIFEST_FILE,
      field: `stitches[${s}].route[2].anchor`,
    });
    expect(err.validValues).toEqual(tiny.anchors.map((a) => a.id));
  });

  it('a route step naming an unknown stitching layer', async () => {
    const dir = await copy();
    const s = stitchWithLayer().id;
    await editManifest(dir, (m) => {
      m.stitches[s]!.route[1] = { stitchLayer: 'nope' };
    });
    const err = await failure(dir);
    expectError(err, PackageError, 'PACKAGE_ROUTE_INVALID', {
      file: MANIFEST_FILE,
      field: `stitches[${s}].route[1].stitchLayer`,
    });
    expect(err.validValues).toContain(stitchWithLayer().stitchLayer!);
  });

  it('a block range beyond the anchor depth', async () => {
    const dir = await copy();
    await editManifest(dir, (m) => {
      m.stitches[0]!.route[0] = { anchor: 'a0', blocks: [0, 4] };
    });
    const err = await failure(dir);
    expectError(err, PackageError, 'PACKAGE_ROUTE_INVALID', {
      file: MANIFEST_FILE,
      field: 'stitches[0].route[0].blocks',
    });
    expect(err.validValues).toEqual([0, 1, 2, 3]);
  });

  it('a stitching layer placed between the wrong anchors', async () => {
    const dir = await copy();
    const spec = tiny.stitches.find((s) => s.stitchLayer && s.segments[0]!.anchor === 1)!;
    await editManifest(dir, (m) => {
      m.stitches[stitchWithLayer().id]!.route[1] = { stitchLayer: spec.stitchLayer! };
    });
    const err = await failure(dir);
    expectError(err, PackageError, 'PACKAGE_ROUTE_INVALID', {
      file: MANIFEST_FILE,
      field: `stitches[${stitchWithLayer().id}].route[1].stitchLayer`,
    });
  });

  it('dimensions that do not chain along a route', async () => {
    const dir = await copy();
    await editManifest(dir, (m) => {
      m.pieces['a1.block.2']!.input.shape = ['batch', 16, 48];
    });
    const err = await failure(dir);
    expectError(err, PackageError, 'PACKAGE_DIMENSION_MISMATCH', {
      file: MANIFEST_FILE,
      field: 'stitches[1].route[0].blocks',
    });
    expect(err.message).toContain('"a1.block.1"');
    expect(err.message).toContain('"a1.block.2"');
  });

  it('a stitching layer whose width does not match its anchors', async () => {
    const dir = await copy();
    const spec = stitchWithLayer();
    await editManifest(dir, (m) => {
      m.stitchLayers[0]!.to = 'a2';
    });
    const err = await failure(dir);
    expectError(err, PackageError, 'PACKAGE_DIMENSION_MISMATCH', {
      file: MANIFEST_FILE,
      field: `pieces["${spec.stitchLayer}"].output.shape[2]`,
    });
  });

  it('a piece whose ONNX interface differs from the manifest', async () => {
    const dir = await copy();
    await editManifest(dir, (m) => {
      m.pieces[BLOCK]!.input.name = 'x';
    });
    const err = await failure(dir);
    expectError(err, PackageError, 'PACKAGE_DIMENSION_MISMATCH', {
      file: 'pieces/a1.block.1.onnx',
      field: 'pieces["a1.block.1"].input.name',
    });
  });

  it('an unknown format', async () => {
    const dir = await copy();
    await editManifest(dir, (m) => {
      (m as { format: string }).format = 'stitchnet/2';
    });
    const err = await failure(dir);
    expectError(err, PackageError, 'PACKAGE_FORMAT_UNKNOWN', { file: MANIFEST_FILE, field: 'format' });
    expect(err.validValues).toEqual(['stitchnet/1']);
  });

  it('a manifest that is not JSON', async () => {
    const dir = await copy();
    await writeFile(path.join(dir, MANIFEST_FILE), `{\n  "format": "stitchnet/1",\n  "name": 'tiny'\n}\n`);
    const err = await failure(dir);
    expectError(err, PackageError, 'PACKAGE_MANIFEST_INVALID', { file: MANIFEST_FILE });
    expect(err.message).toMatch(/line 3, column 11/);
  });

  it('a manifest that breaks the schema names the field', async () => {
    const dir = await copy();
    await editManifest(dir, (m) => {
      (m.stitches[3]!.route[0] as unknown as { blocks: unknown }).blocks = [0, 'one'];
    });
    const err = await failure(dir);
    expectError(err, PackageError, 'PACKAGE_MANIFEST_INVALID', {
      file: MANIFEST_FILE,
      field: 'stitches[3].route[0].blocks[1]',
    });
    expect(err.message).toContain('stitches[3].route[0]');
  });

  it('a file over the size cap', async () => {
    const dir = await copy();
    const cap = (await readFile(path.join(dir, MANIFEST_FILE))).length;
    const first = Object.entries(tiny.manifest.pieces).find(([, p]) => p.bytes > cap)!;
    const err = await failure(dir, { maxFileBytes: cap });
    expectError(err, PackageError, 'PACKAGE_FILE_TOO_LARGE', {
      file: first[1].file,
      field: `pieces["${first[0]}"].bytes`,
    });
  });

  it('duplicate stitch ids and a frontier naming an unknown stitch', async () => {
    const dup = await copy();
    await editManifest(dup, (m) => {
      m.stitches[4]!.id = 3;
    });
    expectError(await failure(dup), PackageError, 'PACKAGE_MANIFEST_INVALID', {
      file: MANIFEST_FILE,
      field: 'stitches[4].id',
    });

    const frontier = await copy();
    await editManifest(frontier, (m) => {
      m.frontier = [0, 99];
    });
    const err = await failure(frontier);
    expectError(err, PackageError, 'PACKAGE_MANIFEST_INVALID', { file: MANIFEST_FILE, field: 'frontier[1]' });
    expect(err.validValues).toContain(3);
  });

  it('a missing folder or manifest', async () => {
    expectError(await failure(path.join(root, 'nowhere')), PackageError, 'PACKAGE_NOT_FOUND', {
      file: path.join(root, 'nowhere'),
    });
    const dir = await copy();
    await unlink(path.join(dir, MANIFEST_FILE));
    expectError(await failure(dir), PackageError, 'PACKAGE_NOT_FOUND', { file: MANIFEST_FILE });
  });
});
