/**
 * Pieces whose weights are ONNX external data: written split by `writePackage`, read back
 * self-contained by `pieceBytes`, and refused when the data file or the references into it do not
 * check out (a hostile package must not make onnxruntime read another file).
 */
import { mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OptionError, PackageError, type StitchnetErrorCode } from '../../src/errors.js';
import { decodeModel, encodeModel, externalRefs, type onnx } from '../../src/onnx/index.js';
import {
  MANIFEST_FILE,
  hashFile,
  readPackage,
  sha256,
  type StitchPackage,
  writePackage,
} from '../../src/package/index.js';
import { pieceSource } from '../../src/engine/pieces.js';
import { editManifest, packageCopier } from '../helpers/package-files.js';
import { makeTinyPackage, type TinyPackage } from '../helpers/tiny-package.js';

let root: string;
let inline: TinyPackage;
let external: TinyPackage;
let copyPackage: (from: string) => Promise<string>;
const BLOCK = 'a1.block.1';

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'stitchnet-extdata-'));
  copyPackage = packageCopier(root);
  inline = await makeTinyPackage(path.join(root, 'inline'));
  external = await makeTinyPackage(path.join(root, 'external'), { externalData: 'all' });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh copy of the package every case starts from. */
function copy(): Promise<string> {
  return copyPackage(external.dir);
}

/** Rewrites a piece's ONNX file through `edit` and records its true size and hash, so only the reference checks can object. */
async function editModel(dir: string, id: string, edit: (m: onnx.ModelProto) => void): Promise<void> {
  const piece = external.manifest.pieces[id]!;
  const model = decodeModel(await readFile(path.join(dir, piece.file)));
  edit(model);
  const bytes = encodeModel(model);
  await writeFile(path.join(dir, piece.file), bytes);
  await editManifest(dir, (m) => {
    m.pieces[id] = { ...m.pieces[id]!, bytes: bytes.length, sha256: sha256(bytes) };
  });
}

/** Sets one key of every external-data entry of the piece's first external tensor. */
function setEntry(model: onnx.ModelProto, key: string, value: string): void {
  const tensor = externalRefs(model)[0]!.tensor;
  const entry = (tensor.externalData ?? []).find((e) => e.key === key);
  if (entry) entry.value = value;
  else tensor.externalData = [...(tensor.externalData ?? []), { key, value }];
}

async function refused(dir: string, opts?: Parameters<typeof readPackage>[1]): Promise<PackageError> {
  const err = await readPackage(dir, opts).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PackageError);
  return err as PackageError;
}

function expectError(err: PackageError, code: StitchnetErrorCode, field: string, file?: string): void {
  expect(err.code).toBe(code);
  expect(err.field).toBe(field);
  if (file !== undefined) expect(err.file).toBe(file);
  expect(err.message).toContain(`"${BLOCK}"`);
  expect(err.hint).toBeTruthy();
}

describe('writePackage with externalData', () => {
  it("'all' splits every piece with a tensor of 1 KiB or more into <file> and <file>.data, 4 KiB aligned", async () => {
    const pieces = Object.entries(external.manifest.pieces);
    expect(pieces.every(([, p]) => p.data?.file === `${p.file}.data`)).toBe(true);
    for (const [, piece] of pieces) {
      const data = piece.data!;
      expect(await hashFile(path.join(external.dir, data.file))).toEqual({ sha256: data.sha256, bytes: data.bytes });
      expect(await hashFile(path.join(external.dir, piece.file))).toEqual({ sha256: piece.sha256, bytes: piece.bytes });
      const refs = externalRefs(decodeModel(await readFile(path.join(external.dir, piece.file))));
      expect(refs.length).toBeGreaterThan(0);
      for (const ref of refs) {
        expect(ref.location).toBe(path.posix.basename(data.file));
        expect(ref.offset % 4096).toBe(0);
        expect(ref.length).toBeGreaterThanOrEqual(1024);
        expect(ref.offset + ref.length).toBeLessThanOrEqual(data.bytes);
      }
    }
    // Small tensors (layer norms, biases) stay in the model file.
    const block = decodeModel(await readFile(path.join(external.dir, external.manifest.pieces[BLOCK]!.file)));
    expect(block.graph?.initializer?.some((t) => (t.rawData?.length ?? 0) > 0)).toBe(true);
  });

  it("'auto' (the default) leaves pieces below 1 MiB of weights inline: the same bytes as 'none'", async () => {
    expect(Object.values(inline.manifest.pieces).every((p) => p.data === undefined)).toBe(true);
    const none = await makeTinyPackage(path.join(root, 'none'), { externalData: 'none' });
    expect(await readFile(path.join(none.dir, MANIFEST_FILE), 'utf8')).toBe(
      await readFile(path.join(inline.dir, MANIFEST_FILE), 'utf8'),
    );
  });

  it("'auto' splits a piece of 1 MiB of weights or more", async () => {
    const big = await makeTinyPackage(path.join(root, 'big'), { dims: [32, 160], positions: [[0, 1]] });
    const blocks = Object.entries(big.manifest.pieces).filter(([, p]) => p.kind === 'block');
    // A 160-wide block holds 12·160² floats = 1.2 MB; a 32-wide one 49 KB.
    expect(blocks.filter(([id]) => id.startsWith('a1.')).every(([, p]) => p.data !== undefined)).toBe(true);
    expect(blocks.filter(([id]) => id.startsWith('a0.')).every(([, p]) => p.data === undefined)).toBe(true);
  });

  it('refuses an unknown mode', async () => {
    const pkg = await readPackage(inline.dir);
    const files = new Map<string, Uint8Array>();
    for (const [id, p] of Object.entries(pkg.manifest.pieces)) files.set(p.file, await pkg.pieceBytes(id));
    const err = await writePackage(path.join(root, 'bad-mode'), {
      manifest: pkg.manifest,
      files,
      externalData: 'some' as 'all',
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OptionError);
    expect((err as OptionError).option).toBe('externalData');
  });
});

describe('readPackage with external data', () => {
  let pkg: StitchPackage;
  let ref: StitchPackage;
  beforeAll(async () => {
    pkg = await readPackage(external.dir);
    ref = await readPackage(inline.dir);
  });

  it('pieceBytes gives a self-contained model with the same weights as the inline piece', async () => {
    for (const id of Object.keys(pkg.manifest.pieces)) {
      const model = decodeModel(await pkg.pieceBytes(id));
      expect(externalRefs(model)).toEqual([]);
      const want = decodeModel(await ref.pieceBytes(id));
      const raw = (m: onnx.ModelProto) =>
        (m.graph?.initializer ?? []).map((t) => [t.name, sha256(t.rawData ?? new Uint8Array())]);
      expect(raw(model)).toEqual(raw(want));
    }
  });

  it('piecePath stays the ONNX file; pieceSource hands it over once both files check out', async () => {
    const piece = pkg.manifest.pieces[BLOCK]!;
    expect(pkg.piecePath(BLOCK).endsWith(piece.file)).toBe(true);
    expect(await pieceSource(pkg, BLOCK)).toEqual({
      id: BLOCK,
      file: pkg.piecePath(BLOCK),
      size: piece.bytes + piece.data!.bytes,
    });
  });

  it('reads without hashing, and without decoding', async () => {
    const quick = await readPackage(external.dir, { verifyHashes: false, loadModels: false });
    expect(externalRefs(decodeModel(await quick.pieceBytes(BLOCK)))).toEqual([]);
  });
});

describe('readPackage refuses external data that does not check out, naming the piece', () => {
  const dataField = (key: string) => `pieces["${BLOCK}"].data.${key}`;
  const dataFile = () => external.manifest.pieces[BLOCK]!.data!.file;

  it('a missing data file', async () => {
    const dir = await copy();
    await rm(path.join(dir, dataFile()));
    expectError(await refused(dir), 'PACKAGE_FILE_MISSING', dataField('file'), dataFile());
  });

  it('an altered data file (hash mismatch), also when pieceBytes reads it later', async () => {
    const dir = await copy();
    const pkg = await readPackage(dir);
    const file = path.join(dir, dataFile());
    const bytes = await readFile(file);
    bytes[bytes.length - 1] = (bytes.at(-1) as number) ^ 1;
    await writeFile(file, bytes);
    expectError(await refused(dir), 'PACKAGE_HASH_MISMATCH', dataField('sha256'), dataFile());
    const later = await pkg.pieceBytes(BLOCK).catch((e: unknown) => e);
    expectError(later as PackageError, 'PACKAGE_HASH_MISMATCH', dataField('sha256'));
    // The engine does not hand the file to onnxruntime: it falls back to pieceBytes, which refuses.
    await expect(pieceSource(pkg, BLOCK)).rejects.toMatchObject({ code: 'PACKAGE_HASH_MISMATCH' });
  });

  it('a truncated data file', async () => {
    const dir = await copy();
    const file = path.join(dir, dataFile());
    await truncate(file, (await stat(file)).size - 4096);
    expectError(await refused(dir), 'PACKAGE_HASH_MISMATCH', dataField('bytes'));
    expectError(
      await refused(dir, { verifyHashes: false, loadModels: false }),
      'PACKAGE_HASH_MISMATCH',
      dataField('bytes'),
    );
  });

  it('a data file over maxFileBytes', async () => {
    const dir = await copy();
    const pieces = Object.values(external.manifest.pieces);
    const largest = Math.max(...pieces.map((p) => p.data?.bytes ?? 0));
    expect(largest).toBeGreaterThan(Math.max(...pieces.map((p) => p.bytes)));
    const err = await refused(dir, { maxFileBytes: largest - 1 });
    expect(err.code).toBe('PACKAGE_FILE_TOO_LARGE');
    expect(err.field).toMatch(/\.data\.bytes$/);
  });

  it.each([
    ['a ../ location', '../x.data'],
    ['an absolute location', '/etc/hostname'],
    ["another piece's data file", 'a1.block.0.onnx.data'],
    ['the ONNX file itself', 'a1.block.1.onnx'],
  ])('%s', async (_, location) => {
    const dir = await copy();
    await editModel(dir, BLOCK, (m) => setEntry(m, 'location', location));
    const err = await refused(dir);
    expectError(err, 'PACKAGE_PATH_OUTSIDE', dataField('file'), external.manifest.pieces[BLOCK]!.file);
    expect(err.message).toContain(JSON.stringify(location));
  });

  it('an external tensor hidden in a node attribute (a Constant) that reads another file', async () => {
    const dir = await copy();
    await editModel(dir, BLOCK, (m) => {
      m.graph?.node?.push({
        opType: 'Constant',
        output: ['hidden'],
        attribute: [
          {
            name: 'value',
            type: 4,
            t: {
              name: 'hidden',
              dims: [4],
              dataType: 1,
              dataLocation: 1,
              externalData: [
                { key: 'location', value: '/etc/hostname' },
                { key: 'offset', value: '0' },
                { key: 'length', value: '16' },
              ],
            },
          },
        ],
      });
    });
    const err = await refused(dir);
    expectError(err, 'PACKAGE_PATH_OUTSIDE', dataField('file'));
    expect(err.message).toContain('/etc/hostname');
  });

  it('offset + length beyond the data file', async () => {
    const dir = await copy();
    const size = external.manifest.pieces[BLOCK]!.data!.bytes;
    await editModel(dir, BLOCK, (m) => setEntry(m, 'offset', String(size - 4)));
    expectError(await refused(dir), 'PACKAGE_DATA_INVALID', `pieces["${BLOCK}"].data`);
  });

  it.each([
    ['an unknown key', (m: onnx.ModelProto) => setEntry(m, 'basepath', '/')],
    ['a negative offset', (m: onnx.ModelProto) => setEntry(m, 'offset', '-4096')],
    [
      'a length that is not the tensor size',
      (m: onnx.ModelProto) => setEntry(m, 'length', String(externalRefs(m)[0]!.length - 4)),
    ],
    [
      'no offset',
      (m: onnx.ModelProto) => {
        const t = externalRefs(m)[0]!.tensor;
        t.externalData = (t.externalData ?? []).filter((e) => e.key !== 'offset');
      },
    ],
  ])('%s', async (_, edit) => {
    const dir = await copy();
    await editModel(dir, BLOCK, edit);
    expectError(await refused(dir), 'PACKAGE_DATA_INVALID', `pieces["${BLOCK}"].data`);
  });

  it('a data field on a piece whose ONNX file keeps no tensor outside (refused: the file would be unused)', async () => {
    const dir = await copyPackage(inline.dir);
    const piece = inline.manifest.pieces[BLOCK]!;
    await writeFile(path.join(dir, `${piece.file}.data`), new Uint8Array(4096));
    await editManifest(dir, (m) => {
      m.pieces[BLOCK]!.data = { file: `${piece.file}.data`, sha256: sha256(new Uint8Array(4096)), bytes: 4096 };
    });
    const err = await refused(dir);
    expectError(err, 'PACKAGE_DATA_INVALID', `pieces["${BLOCK}"].data`);
    expect(err.message).toMatch(/does not use/);
  });

  it('external tensors in a piece without a data field', async () => {
    const dir = await copy();
    await editManifest(dir, (m) => {
      delete m.pieces[BLOCK]!.data;
    });
    const err = await refused(dir);
    expectError(err, 'PACKAGE_DATA_INVALID', `pieces["${BLOCK}"].data`);
    // Nor does the engine load it from its file when the package was read without decoding.
    const quick = await readPackage(dir, { loadModels: false });
    await expect(pieceSource(quick, BLOCK)).rejects.toMatchObject({ code: 'PACKAGE_DATA_INVALID' });
  });

  it('a hostile location is caught by the engine even in a package read without decoding', async () => {
    const dir = await copy();
    await editModel(dir, BLOCK, (m) => setEntry(m, 'location', '../../x.data'));
    const quick = await readPackage(dir, { loadModels: false });
    await expect(pieceSource(quick, BLOCK)).rejects.toMatchObject({ code: 'PACKAGE_PATH_OUTSIDE' });
  });

  it.each([
    ['leaves the folder', '../outside.data', 'PACKAGE_PATH_OUTSIDE'],
    ['is absolute', '/tmp/x.data', 'PACKAGE_PATH_OUTSIDE'],
    ['is a piece file', 'pieces/a1.block.0.onnx', 'PACKAGE_MANIFEST_INVALID'],
  ] as const)('a data path in the manifest that %s', async (_, file, code) => {
    const dir = await copy();
    await editManifest(dir, (m) => {
      m.pieces[BLOCK]!.data!.file = file;
    });
    expectError(await refused(dir, { loadModels: false, verifyHashes: false }), code, dataField('file'));
  });
});
