/**
 * Writing a stitch package: pieces and manifest, hashed, validated first, written atomically.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { z } from 'zod';
import { OptionError, PackageError } from '../errors.js';
import { describeValue } from '../base/describe.js';
import { pieceField } from '../base/field-path.js';
import { decodeModel, encodeModel, initializerBytes, splitExternalData } from '../onnx/index.js';
import { checkPieceModel, dataLocation } from './files.js';
import { sha256 } from './hash.js';
import { MANIFEST_FILE, PACKAGE_FORMAT, type Manifest, type ManifestInput, type PieceSchema } from './schema.js';
import { checkManifest, parseManifest } from './validate.js';

/** A piece as a writer describes it: `sha256` and `bytes` are computed from the file, `data` by the writer. */
export type PieceDraft = Omit<z.input<typeof PieceSchema>, 'sha256' | 'bytes' | 'data'>;

/**
 * Which pieces get their weights as ONNX external data (a `.data` file next to the piece, which
 * onnxruntime maps from disk): `'auto'` those whose initializers total at least
 * {@link EXTERNAL_DATA_AUTO_BYTES}, `'all'` every piece with a tensor of at least 1 KiB, `'none'` no piece.
 */
export type ExternalDataMode = 'auto' | 'all' | 'none';

export const EXTERNAL_DATA_MODES: readonly ExternalDataMode[] = ['auto', 'all', 'none'];

/** The initializer size from which `externalData: 'auto'` moves a piece's weights out: 1 MiB. */
export const EXTERNAL_DATA_AUTO_BYTES = 1024 ** 2;

/** A manifest as a writer describes it: no hashes, `format` optional (always {@link PACKAGE_FORMAT}). */
export type ManifestDraft = Omit<ManifestInput, 'format' | 'pieces'> & {
  format?: typeof PACKAGE_FORMAT;
  pieces: Record<string, PieceDraft>;
};

/** What {@link writePackage} writes. */
export interface WritePackageInput {
  manifest: ManifestDraft;
  /** The ONNX bytes of every piece (weights inside), keyed by the piece's `file` (relative path, forward slashes). */
  files: ReadonlyMap<string, Uint8Array>;
  /**
   * Which pieces get their weights as external data, `<file>.data` (see {@link ExternalDataMode}).
   * @defaultValue 'auto'
   */
  externalData?: ExternalDataMode;
}

/**
 * Writes a stitch package: computes each piece's sha256 and size, validates the whole package
 * in memory first (schema, references, dimensions chaining along every route, every piece
 * decoding as ONNX with the declared interface), then writes every file and finally
 * `stitchnet.json` (pretty JSON, keys in schema order), each to a temporary name renamed into
 * place, so that a reader never sees a half-written file.
 *
 * After validation, the pieces `externalData` selects are split in two: `<file>` (the graph, its
 * large initializers marked `data_location: EXTERNAL`) and `<file>.data` (their bytes, each at a
 * page-aligned offset), both hashed in the piece's manifest entry (`data`).
 *
 * @param dir - the package folder (created if needed)
 * @returns the manifest as written, defaults filled in
 * @throws PackageError (same codes as readPackage) when the package would not be valid;
 *   OptionError `OPTION_INVALID` for a file that no piece references, an unknown `externalData`,
 *   or a piece's data file name taken by another piece's file
 */
export async function writePackage(dir: string, input: WritePackageInput): Promise<Manifest> {
  const { manifest: draft, files } = input;
  const mode = checkMode(input.externalData);
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
    const { data: _, ...rest } = piece as PieceDraft & { data?: unknown };
    pieces[id] = { ...rest, sha256: sha256(bytes), bytes: bytes.length };
  }

  const format = draft.format ?? PACKAGE_FORMAT;
  const whole = parseManifest({ ...draft, format, pieces }, MANIFEST_FILE);
  checkManifest(whole, MANIFEST_FILE);
  for (const [id, piece] of Object.entries(whole.pieces))
    checkPieceModel(id, piece, files.get(piece.file) as Uint8Array);

  const out = splitPieces(whole, pieces, files, mode);
  const manifest = parseManifest({ ...draft, format, pieces }, MANIFEST_FILE);
  checkManifest(manifest, MANIFEST_FILE);
  for (const [id, piece] of Object.entries(manifest.pieces))
    if (piece.data) checkPieceModel(id, piece, out.get(piece.file) as Uint8Array);

  await mkdir(dir, { recursive: true });
  for (const [rel, bytes] of out) await writeAtomic(path.join(dir, rel), bytes);
  await writeManifestFile(dir, manifest);
  return manifest;
}

/**
 * Writes the manifest of a package that `writePackage` already wrote, after a change that leaves
 * every file as it is (the builder adds the latency it measured on the written package): checked
 * against the schema and its own cross-references, then replaced atomically. The files are not
 * read again; `readPackage` checks them against it.
 *
 * @throws PackageError `PACKAGE_MANIFEST_INVALID` (and the other manifest checks of `readPackage`)
 */
export async function rewriteManifest(dir: string, manifest: Manifest): Promise<void> {
  const checked = parseManifest(manifest, MANIFEST_FILE);
  checkManifest(checked, MANIFEST_FILE);
  await writeManifestFile(dir, checked);
}

function writeManifestFile(dir: string, manifest: Manifest): Promise<void> {
  return writeAtomic(path.join(dir, MANIFEST_FILE), `${JSON.stringify(manifest, null, 2)}\n`);
}

/**
 * Splits the pieces `mode` selects ({@link splitPiece}): updates their entries in `pieces` (hash
 * and size of the new ONNX file, `data`) and returns every file to write.
 */
function splitPieces(
  whole: Manifest,
  pieces: Record<string, z.input<typeof PieceSchema>>,
  files: ReadonlyMap<string, Uint8Array>,
  mode: ExternalDataMode,
): Map<string, Uint8Array> {
  const out = new Map(files);
  const splits = new Map<string, ReturnType<typeof splitPiece>>();
  for (const [id, piece] of Object.entries(whole.pieces)) {
    const known = splits.has(piece.file);
    const split = known ? splits.get(piece.file) : splitPiece(piece, files.get(piece.file) as Uint8Array, mode);
    splits.set(piece.file, split);
    if (!split) continue;
    const dataFile = split.data.file;
    if (!known && out.has(dataFile)) {
      throw new OptionError('OPTION_INVALID', `Piece "${id}": its data file ${JSON.stringify(dataFile)} is taken`, {
        option: `files[${JSON.stringify(dataFile)}]`,
        hint: 'Name no piece file "<another piece file>.data", or write the package with externalData: "none".',
      });
    }
    pieces[id] = {
      ...(pieces[id] as z.input<typeof PieceSchema>),
      sha256: sha256(split.onnx),
      bytes: split.onnx.length,
      data: split.data,
    };
    out.set(piece.file, split.onnx);
    out.set(dataFile, split.bytes);
  }
  return out;
}

function checkMode(mode: unknown): ExternalDataMode {
  if (mode === undefined) return 'auto';
  if (EXTERNAL_DATA_MODES.includes(mode as ExternalDataMode)) return mode as ExternalDataMode;
  throw new OptionError(
    'OPTION_INVALID',
    `externalData must be one of ${EXTERNAL_DATA_MODES.join(', ')}, got ${describeValue(mode)}`,
    {
      option: 'externalData',
      validValues: [...EXTERNAL_DATA_MODES],
      hint: "'auto' (the default) keeps the weights of pieces of 1 MiB or more in a .data file; 'all' or 'none' for every piece",
    },
  );
}

/**
 * Splits one piece's ONNX bytes into the model (large initializers external) and its data file
 * `<file>.data`, when `mode` selects the piece and it has a tensor large enough to move.
 */
function splitPiece(
  piece: Manifest['pieces'][string],
  bytes: Uint8Array,
  mode: ExternalDataMode,
): { onnx: Uint8Array; bytes: Uint8Array; data: { file: string; sha256: string; bytes: number } } | undefined {
  if (mode === 'none') return undefined;
  const model = decodeModel(bytes, piece.file);
  if (mode === 'auto' && initializerBytes(model) < EXTERNAL_DATA_AUTO_BYTES) return undefined;
  const file = `${piece.file}.data`;
  const data = splitExternalData(model, dataLocation({ ...piece, data: { file, sha256: '', bytes: 0 } }));
  if (!data) return undefined;
  return { onnx: encodeModel(model), bytes: data, data: { file, sha256: sha256(data), bytes: data.length } };
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
