import { createHash } from 'node:crypto';
import { appendFile, mkdtemp, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pieceUnchanged, readPackage, type StitchPackage } from '../../src/package/index.js';
import { readPieceFile, unchangedSince } from '../../src/package/files.js';
import type { Piece } from '../../src/package/schema.js';
import { pieceSource } from '../../src/engine/pieces.js';
import { makeTinyPackage } from '../helpers/tiny-package.js';

let dir: string;

const READ = { maxFileBytes: 1024, verifyHash: true, keepBytes: false };
/** A manifest entry for a file holding `text`. */
const piece = (file: string, text: string) =>
  ({ file, bytes: text.length, sha256: createHash('sha256').update(text).digest('hex') }) as unknown as Piece;
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

describe('file stamps: what readPackage checked is not hashed again', () => {
  it('vouches for a file only while its stamp holds and it was not changed around the check', async () => {
    const file = path.join(dir, 'stamped.bin');
    await writeFile(file, 'weights');
    const { stamp } = await readPieceFile(dir, 'p', piece('stamped.bin', 'weights'), READ);
    const later = Date.now() + 5000;
    // Changed just before (or while) it was checked: not vouched for, whatever the stamp says.
    expect(await unchangedSince(file, stamp, Date.now())).toBe(false);
    expect(await unchangedSince(file, stamp, later)).toBe(true);
    // Times put back after a write: the change time still moved.
    const { mtime } = await stat(file);
    await writeFile(file, 'WEIGHTS');
    await utimes(file, mtime, mtime);
    expect(await unchangedSince(file, stamp, later)).toBe(false);
    // Replaced by another file of the same content: another inode.
    await writeFile(`${file}.new`, 'weights');
    await rename(`${file}.new`, file);
    expect(await unchangedSince(file, stamp, later)).toBe(false);
    await rm(file);
    expect(await unchangedSince(file, stamp, later)).toBe(false);
  });

  it('pieceUnchanged is false for a freshly written package (changed around its check) and one read without hashes', async () => {
    const fresh = await readPackage((await makeTinyPackage(path.join(dir, 'fresh'))).dir);
    const id = fresh.routePieces(0)[0] as string;
    expect(await pieceUnchanged(fresh, id)).toBe(false);
    const unhashed = await readPackage(fresh.dir, { verifyHashes: false });
    expect(await pieceUnchanged(unhashed, id)).toBe(false);
  });

  it('pieceUnchanged vouches for the shipped family, checked out long before, and pieceSource hands over its files', async () => {
    const shipped = await readPackage('models/fmnist-vit');
    const ids = shipped.routePieces(shipped.manifest.stitches[0]?.id ?? 0);
    for (const id of ids) {
      expect(await pieceUnchanged(shipped, id)).toBe(true);
      expect(await pieceSource(shipped, id)).toEqual({
        id,
        file: shipped.piecePath(id),
        size: shipped.manifest.pieces[id]?.bytes,
      });
    }
  });
});

describe('what a package object holds', () => {
  it('keeps no piece bytes once read: only paths and stamps (the shipped family, 6.6 MB of pieces)', async () => {
    const gc = collector();
    const buffers = async () => {
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((resolve) => setImmediate(resolve));
      }
      return process.memoryUsage().arrayBuffers;
    };
    let shipped: StitchPackage | undefined = await readPackage('models/fmnist-vit');
    const pieceBytes = Object.values(shipped.manifest.pieces).reduce((n, p) => n + p.bytes, 0);
    expect(await pieceUnchanged(shipped, shipped.routePieces(0)[0] as string)).toBe(true);
    const alive = await buffers();
    shipped = undefined;
    const held = alive - (await buffers());
    expect(pieceBytes).toBeGreaterThan(5e6);
    expect(held).toBeLessThan(pieceBytes / 10);
  });
});

/** A full garbage collection, without starting the test process with --expose-gc. */
function collector(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
