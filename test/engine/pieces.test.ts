import { appendFile, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPackage, type StitchPackage } from '../../src/package/index.js';
import { pieceSource } from '../../src/engine/pieces.js';
import { makeTinyPackage } from '../helpers/tiny-package.js';

let dir: string;
let pkg: StitchPackage;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-pieces-'));
  pkg = await readPackage((await makeTinyPackage(path.join(dir, 'tiny'))).dir);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('pieceSource', () => {
  it('hands over a checked piece as its file, for onnxruntime to read', async () => {
    const id = pkg.routePieces(0)[0] as string;
    expect(await pieceSource(pkg, id)).toEqual({ id, file: pkg.piecePath(id), size: pkg.manifest.pieces[id]?.bytes });
  });

  it('falls back to the bytes for a package without files', async () => {
    const id = pkg.routePieces(0)[1] as string;
    const bytes = await pkg.pieceBytes(id);
    const inMemory: StitchPackage = {
      ...pkg,
      piecePath: () => path.join(dir, 'nowhere.onnx'),
      pieceBytes: async () => bytes,
    };
    expect(await pieceSource(inMemory, id)).toEqual({ id, bytes });
  });

  it('reports a file that changed since the package was read, as the package reader does', async () => {
    const id = pkg.routePieces(0)[2] as string;
    await appendFile(pkg.piecePath(id), 'x');
    await expect(pieceSource(pkg, id)).rejects.toMatchObject({ name: 'PackageError' });
  });
});
