/**
 * Checks of piece files on disk: inside the folder (symlinks resolved), present, within the size
 * cap, the size and sha256 the manifest records, and an ONNX graph with the declared interface.
 * A piece with external data has a second file, `data`, checked the same way, and its ONNX file's
 * external-data references must all name that file and lie within it.
 */
import type { BigIntStats } from 'node:fs';
import { type FileHandle, open, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { OnnxError, PackageError, isStitchnetError } from '../errors.js';
import {
  decodeModel,
  encodeModel,
  externalRefs,
  graphInputs,
  graphOutputs,
  inlineExternalData,
  type ExternalRef,
  type Model,
  type TensorInfo,
} from '../onnx/index.js';
import { pieceField } from '../base/field-path.js';
import { messageOf } from '../base/message.js';
import { hashStream, sha256 } from './hash.js';
import type { Piece, TensorSpec } from './schema.js';
import { formatShape, shapesEqual } from './validate.js';

const RESTORE_HINT = 'Restore the file from the original package, or rebuild the package with `stitchnet build`.';

/** How to read a piece file. */
export interface PieceReadOptions {
  /** Files larger than this are refused before they are read. */
  maxFileBytes: number;
  /** Compare the file's sha256 with the manifest. */
  verifyHash: boolean;
  /** Return the bytes (read once, hashed in memory); otherwise the file is only streamed through the hash. */
  keepBytes: boolean;
}

/**
 * What identifies one version of a file without reading it: device, inode, size, and the
 * modification and change times in nanoseconds. The change time cannot be set from user space:
 * any write, rename over the file or `utimes` moves it.
 */
export type FileStamp = string;

/** A file as read, and what it was then. */
export interface ReadFile {
  /** Its real path. */
  path: string;
  /** Its bytes, when asked for. */
  bytes?: Uint8Array;
  /** Its stamp when it was opened. */
  stamp: FileStamp;
}

function stampOf(s: BigIntStats): FileStamp {
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

/**
 * Whether the file at `file` is still the version stamped `stamp`, checked at `checkedAtMs`
 * (wall clock, before it was opened): same stamp, and a change time more than two seconds before
 * that moment. A file changed just before or while it was checked is not vouched for (the
 * filesystem's clock is coarse, so a later write could keep the same times), as git treats
 * "racily clean" files. Any error is `false`.
 */
export async function unchangedSince(file: string, stamp: FileStamp, checkedAtMs: number): Promise<boolean> {
  try {
    const now = await stat(file, { bigint: true });
    return stampOf(now) === stamp && now.ctimeNs < BigInt(Math.floor(checkedAtMs - 2000)) * 1_000_000n;
  } catch {
    return false;
  }
}

/** One file of a piece as the manifest records it, and how errors name it. */
interface Recorded {
  pieceId: string;
  file: string;
  sha256: string;
  bytes: number;
  /** `Piece "x"` or `Piece "x" data file`. */
  what: string;
  /** The manifest field of a key of this record: `pieces["x"].sha256`, `pieces["x"].data.sha256`. */
  field: (key: 'file' | 'sha256' | 'bytes') => string;
}

function pieceRecord(pieceId: string, piece: Piece): Recorded {
  return { pieceId, ...piece, what: `Piece "${pieceId}"`, field: (key) => pieceField(pieceId, key) };
}

function dataRecord(pieceId: string, piece: Piece): Recorded {
  const data = piece.data;
  if (!data) {
    throw new PackageError('PACKAGE_DATA_INVALID', `Piece "${pieceId}" has no external-data file`, {
      file: piece.file,
      field: pieceField(pieceId, 'data'),
    });
  }
  return { pieceId, ...data, what: `Piece "${pieceId}" data file`, field: (key) => pieceField(pieceId, 'data', key) };
}

/**
 * Resolves a recorded file to its real absolute path and checks that it stays inside the package
 * folder once symlinks are followed.
 *
 * @param root - real path of the package folder
 * @throws PackageError `PACKAGE_FILE_MISSING` or `PACKAGE_PATH_OUTSIDE`
 */
async function resolveRecorded(root: string, rec: Recorded): Promise<string> {
  let real: string;
  try {
    real = await realpath(path.resolve(root, rec.file));
  } catch (e) {
    throw missing(rec, e);
  }
  const rel = path.relative(root, real);
  if (rel === '' || rel.split(path.sep)[0] === '..' || path.isAbsolute(rel)) {
    throw new PackageError(
      'PACKAGE_PATH_OUTSIDE',
      `${rec.what} resolves (through a symlink) to ${real}, outside the package folder`,
      {
        file: rec.file,
        field: rec.field('file'),
        hint: 'Copy the file into the package folder instead of linking to it.',
      },
    );
  }
  return real;
}

/**
 * Reads (or stream-hashes) one piece file and checks its size and sha256 against the manifest.
 *
 * @param root - real path of the package folder
 * @returns the file's real path, and its bytes when `keepBytes` is set
 * @throws PackageError `PACKAGE_FILE_MISSING`, `PACKAGE_PATH_OUTSIDE`, `PACKAGE_FILE_TOO_LARGE`
 *   or `PACKAGE_HASH_MISMATCH`
 */
export function readPieceFile(root: string, pieceId: string, piece: Piece, opts: PieceReadOptions): Promise<ReadFile> {
  return readRecorded(root, pieceRecord(pieceId, piece), opts);
}

/**
 * Reads (or stream-hashes) a piece's external-data file (`piece.data`) and checks its size and
 * sha256 against the manifest, as {@link readPieceFile} does for the ONNX file; errors name the
 * `data` fields (`pieces["x"].data.sha256`).
 */
export function readPieceData(root: string, pieceId: string, piece: Piece, opts: PieceReadOptions): Promise<ReadFile> {
  return readRecorded(root, dataRecord(pieceId, piece), opts);
}

async function readRecorded(root: string, rec: Recorded, opts: PieceReadOptions): Promise<ReadFile> {
  const real = await resolveRecorded(root, rec);
  let handle: FileHandle;
  try {
    handle = await open(real, 'r');
  } catch (e) {
    throw missing(rec, e);
  }
  try {
    const stats = await handle.stat({ bigint: true });
    const size = Number(stats.size);
    const stamp = stampOf(stats);
    if (!stats.isFile()) throw missing(rec, new Error('not a regular file'));
    if (size > opts.maxFileBytes) {
      throw new PackageError(
        'PACKAGE_FILE_TOO_LARGE',
        `${rec.what} is ${size} bytes, over the ${opts.maxFileBytes}-byte limit`,
        {
          file: rec.file,
          field: rec.field('bytes'),
          hint: 'Raise maxFileBytes if the package is trusted and the file is expected to be this large.',
        },
      );
    }
    checkSize(rec, size);
    if (opts.keepBytes) {
      const bytes = await handle.readFile();
      checkSize(rec, bytes.length);
      if (opts.verifyHash) checkHash(rec, sha256(bytes));
      return { path: real, bytes, stamp };
    }
    if (opts.verifyHash) {
      const digest = await hashStream(handle.createReadStream({ start: 0, autoClose: false }));
      checkSize(rec, digest.bytes);
      checkHash(rec, digest.sha256);
    }
    return { path: real, stamp };
  } finally {
    await handle.close();
  }
}

/**
 * The `location` a piece's ONNX file must give for its external data: the data file's path
 * relative to the ONNX file's folder, forward slashes (onnxruntime resolves it from there).
 */
export function dataLocation(piece: Piece): string {
  const unify = (p: string) => path.posix.normalize(p.replaceAll('\\', '/'));
  return path.posix.relative(path.posix.dirname(unify(piece.file)), unify(piece.data?.file ?? ''));
}

/**
 * Checks a piece model's external-data references against the manifest: with a `data` file,
 * every reference names exactly that file (its {@link dataLocation}) and lies within its recorded
 * size, and there is at least one; without one, there is none. So onnxruntime, loading the piece
 * from its file, reads no other file than the checked one.
 *
 * @returns the references (for inlining)
 * @throws PackageError `PACKAGE_PATH_OUTSIDE` for a reference to another file, `PACKAGE_DATA_INVALID`
 *   for anything else that does not fit
 */
export function checkExternalData(pieceId: string, piece: Piece, model: Model): ExternalRef[] {
  const invalid = (why: string, cause?: unknown) =>
    new PackageError('PACKAGE_DATA_INVALID', `Piece "${pieceId}": ${why}`, {
      file: piece.file,
      field: pieceField(pieceId, 'data'),
      cause,
      hint: RESTORE_HINT,
    });
  let refs: ExternalRef[];
  try {
    refs = externalRefs(model);
  } catch (e) {
    throw invalid(messageOf(e), e);
  }
  const data = piece.data;
  if (!data) {
    if (refs.length > 0)
      throw invalid(`${refs.length} tensors keep their data in an external file, but the piece has no "data" file`);
    return refs;
  }
  if (refs.length === 0)
    throw invalid(`the manifest names a data file (${JSON.stringify(data.file)}) that its ONNX file does not use`);
  const location = dataLocation(piece);
  for (const ref of refs) {
    if (ref.location !== location) {
      throw new PackageError(
        'PACKAGE_PATH_OUTSIDE',
        `Piece "${pieceId}": tensor ${JSON.stringify(ref.tensor.name ?? '')} reads external data from ${JSON.stringify(ref.location)}, not from its data file ${JSON.stringify(location)}`,
        { file: piece.file, field: pieceField(pieceId, 'data', 'file'), hint: RESTORE_HINT },
      );
    }
    if (ref.offset + ref.length > data.bytes) {
      throw invalid(
        `tensor ${JSON.stringify(ref.tensor.name ?? '')} reads bytes ${ref.offset}..${ref.offset + ref.length} of its data file, which has ${data.bytes}`,
      );
    }
  }
  return refs;
}

/**
 * A piece as one self-contained model: with external data, its ONNX bytes with every external
 * tensor's bytes put back from the (checked) data file; without, its bytes as they are, once
 * checked to reference no external data.
 *
 * @param data - the data file's bytes, for a piece with `data`
 * @throws as {@link checkExternalData}, or OnnxError `ONNX_DECODE_FAILED`
 */
export function selfContained(pieceId: string, piece: Piece, onnxBytes: Uint8Array, data?: Uint8Array): Uint8Array {
  const model = decodePiece(pieceId, piece, onnxBytes);
  const refs = checkExternalData(pieceId, piece, model);
  if (refs.length === 0) return onnxBytes;
  inlineExternalData(refs, data ?? new Uint8Array(0));
  return encodeModel(model);
}

/**
 * Decodes a piece's ONNX bytes and checks that its single graph input and output match the
 * manifest's `input` and `output` specs (names, shapes with symbolic dims by name, dtype).
 *
 * Its external-data references are checked too ({@link checkExternalData}).
 *
 * @throws OnnxError `ONNX_DECODE_FAILED` when the bytes are not an ONNX model
 * @throws PackageError `PACKAGE_DIMENSION_MISMATCH` when the graph interface differs from the manifest,
 *   `PACKAGE_PATH_OUTSIDE` / `PACKAGE_DATA_INVALID` for external data that does not fit the manifest
 */
export function checkPieceModel(pieceId: string, piece: Piece, bytes: Uint8Array): void {
  let inputs: TensorInfo[];
  let outputs: TensorInfo[];
  const model = decodePiece(pieceId, piece, bytes);
  try {
    inputs = graphInputs(model);
    outputs = graphOutputs(model);
  } catch (e) {
    throw unusable(pieceId, piece, e);
  }
  checkExternalData(pieceId, piece, model);
  checkInterface(pieceId, piece, 'input', inputs, piece.input);
  checkInterface(pieceId, piece, 'output', outputs, piece.output);
}

/** Decodes a piece's ONNX bytes. @throws OnnxError `ONNX_DECODE_FAILED` naming the piece */
function decodePiece(pieceId: string, piece: Piece, bytes: Uint8Array): Model {
  try {
    return decodeModel(bytes);
  } catch (e) {
    throw unusable(pieceId, piece, e);
  }
}

function unusable(pieceId: string, piece: Piece, e: unknown): OnnxError {
  return new OnnxError(
    isStitchnetError(e) ? e.code : 'ONNX_DECODE_FAILED',
    `Piece "${pieceId}" is not a usable ONNX model: ${messageOf(e)}`,
    {
      file: piece.file,
      field: pieceField(pieceId, 'file'),
      cause: e,
      hint: RESTORE_HINT,
    },
  );
}

function checkInterface(
  pieceId: string,
  piece: Piece,
  side: 'input' | 'output',
  actual: readonly TensorInfo[],
  spec: TensorSpec,
): void {
  const mismatch = (what: string, field: string) =>
    new PackageError('PACKAGE_DIMENSION_MISMATCH', `Piece "${pieceId}": ${what}`, {
      file: piece.file,
      field,
      hint: `Make the manifest's ${side} spec describe the ONNX graph, or re-export the piece.`,
    });
  const only = actual[0];
  if (actual.length !== 1 || only === undefined) {
    throw mismatch(
      `the ONNX graph has ${actual.length} ${side}s (${actual.map((t) => t.name).join(', ')}), a piece has exactly one`,
      pieceField(pieceId, side),
    );
  }
  if (only.name !== spec.name) {
    throw mismatch(
      `the ONNX graph ${side} is named "${only.name}", the manifest says "${spec.name}"`,
      pieceField(pieceId, side, 'name'),
    );
  }
  if (!shapesEqual(only.shape, spec.shape)) {
    throw mismatch(
      `the ONNX graph ${side} "${only.name}" has shape ${formatShape(only.shape)}, the manifest says ${formatShape(spec.shape)}`,
      pieceField(pieceId, side, 'shape'),
    );
  }
  if (only.dtype !== spec.dtype) {
    throw mismatch(
      `the ONNX graph ${side} "${only.name}" is ${only.dtype}, the manifest says ${spec.dtype}`,
      pieceField(pieceId, side, 'dtype'),
    );
  }
}

function checkSize(rec: Recorded, size: number): void {
  if (size !== rec.bytes) {
    throw new PackageError('PACKAGE_HASH_MISMATCH', `${rec.what} is ${size} bytes, the manifest says ${rec.bytes}`, {
      file: rec.file,
      field: rec.field('bytes'),
      hint: `The file was altered or truncated. ${RESTORE_HINT}`,
    });
  }
}

function checkHash(rec: Recorded, digest: string): void {
  if (digest !== rec.sha256) {
    throw new PackageError(
      'PACKAGE_HASH_MISMATCH',
      `${rec.what} has sha256 ${digest}, the manifest says ${rec.sha256}`,
      {
        file: rec.file,
        field: rec.field('sha256'),
        hint: `The file was altered. ${RESTORE_HINT}`,
      },
    );
  }
}

function missing(rec: Recorded, cause: unknown): PackageError {
  const code = (cause as { code?: unknown }).code;
  const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${messageOf(cause)})`;
  return new PackageError('PACKAGE_FILE_MISSING', `${rec.what} file ${JSON.stringify(rec.file)} ${why}`, {
    file: rec.file,
    field: rec.field('file'),
    cause,
    hint: RESTORE_HINT,
  });
}
