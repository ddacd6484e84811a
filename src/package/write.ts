/**
 * Writing a stitch package: pieces and manifest, hashed, validated first, written atomically.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { OptionError, PackageError } from '../errors.js';
import { pieceField } from '../base/field-path.js';
import { checkPieceModel } from './files.js';
import { sha256 } from './hash.js';
import { MANIFEST_FILE, PACKAGE_FORMAT, type Manifest, type ManifestInput, type PieceSchema } from './schema.js';
import { checkManifest, parseManifest } from './validate.js';

/** A piece as a writer describes it: `sha256` and `bytes` are computed from the file. */
export type PieceDraft = Omit<z.input<typeof PieceSchema>, 'sha256' | 'bytes'>;

/** A manifest as a writer describes it: no hashes, `format` optional (always {@link PACKAGE_FORMAT}). */
export type ManifestDraft = Omit<ManifestInput, 'format' | 'pieces'> & {
  format?: typeof PACKAGE_FORMAT;
  pieces: Record<string, PieceDraft>;
};

/** What {@link writePackage} writes. */
export interface WritePackageInput {
  manifest: ManifestDraft;
  /** The ONNX bytes of every piece, keyed by the piece's `file` (relative path, forward slashes). */
  files: ReadonlyMap<string, Uint8Array>;
}

/**
 * Writes a stitch package: computes each piece's sha256 and size, validates the whole package
 * in memory first (schema, references, dimensions chaining along every route, every piece
 * decoding as ONNX with the declared interface), then writes every file and finally
 * `stitchnet.json` (pretty JSON, keys in schema order), each to a temporary name renamed into
 * place, so that a reader never sees a half-written file.
 *
 * @param dir - the package folder (created if needed)
 * @returns the manifest as written, defaults filled in
 * @throws PackageError (same codes as readPackage) when the package would not be valid;
 *   OptionError `OPTION_INVALID` for a file that no piece references
 */
export async function writePackage(dir: string, input: WritePackageInput): Promise<Manifest> {
  const { manifest: draft, files } = input;
  const referenced = new Set(Object.values(draft.pieces).map((p) => p.file));
  for (const rel of files.keys()) {
    if (!referenced.has(rel)) {
      throw new OptionError('OPTION_INVALID', `File ${JSON.stringify(rel)} is not the file of any piece`, {
        option: `files[${JSON.stringify(rel)}]`,
        validValues: [...referenced],
        hint: 'Key each file by the "file" of the piece it belongs to; every file of a package is hashed in its manifest.',
      });
    }
  }
  const pieces: Record<string, z.input<typeof PieceSchema>> = {};
  for (const [id, piece] of Object.entries(draft.pieces)) {
    const bytes = files.get(piece.file);
    if (!bytes) {
      throw new PackageError(
        'PACKAGE_FILE_MISSING',
        `No bytes given for piece "${id}" (${JSON.stringify(piece.file)})`,
        {
          file: piece.file,
          field: pieceField(id, 'file'),
          hint: 'Pass the piece\'s ONNX bytes in `files`, keyed by its "file".',
        },
      );
    }
    pieces[id] = { ...piece, sha256: sha256(bytes), bytes: bytes.length };
  }

  const manifest = parseManifest({ ...draft, format: draft.format ?? PACKAGE_FORMAT, pieces }, MANIFEST_FILE);
  checkManifest(manifest, MANIFEST_FILE);
  for (const [id, piece] of Object.entries(manifest.pieces))
    checkPieceModel(id, piece, files.get(piece.file) as Uint8Array);

  await mkdir(dir, { recursive: true });
  for (const [rel, bytes] of files) await writeAtomic(path.join(dir, rel), bytes);
  await writeAtomic(path.join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/** Writes to a temporary name next to the target, then renames it into place. */
async function writeAtomic(target: string, data: Uint8Array | string): Promise<void> {
  await mkdir(path.dirname(target), { recursive: true });
  const temp = `${target}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`;
  try {
    await writeFile(temp, data);
    await rename(temp, target);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
}
