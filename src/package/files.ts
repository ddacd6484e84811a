/**
 * Checks of piece files on disk: inside the folder (symlinks resolved), present, within the size
 * cap, the size and sha256 the manifest records, and an ONNX graph with the declared interface.
 */
import { type FileHandle, open, realpath } from 'node:fs/promises';
import path from 'node:path';
import { OnnxError, PackageError, isStitchnetError } from '../errors.js';
import { decodeModel, graphInputs, graphOutputs, type TensorInfo } from '../onnx/index.js';
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
 * Resolves a piece file to its real absolute path and checks that it stays inside the package
 * folder once symlinks are followed.
 *
 * @param root - real path of the package folder
 * @throws PackageError `PACKAGE_FILE_MISSING` or `PACKAGE_PATH_OUTSIDE`
 */
async function resolvePieceFile(root: string, pieceId: string, piece: Piece): Promise<string> {
  let real: string;
  try {
    real = await realpath(path.resolve(root, piece.file));
  } catch (e) {
    throw missing(pieceId, piece, e);
  }
  const rel = path.relative(root, real);
  if (rel === '' || rel.split(path.sep)[0] === '..' || path.isAbsolute(rel)) {
    throw new PackageError(
      'PACKAGE_PATH_OUTSIDE',
      `Piece "${pieceId}" resolves (through a symlink) to ${real}, outside the package folder`,
      {
        file: piece.file,
        field: pieceField(pieceId, 'file'),
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
export async function readPieceFile(
  root: string,
  pieceId: string,
  piece: Piece,
  opts: PieceReadOptions,
): Promise<{ path: string; bytes?: Uint8Array }> {
  const real = await resolvePieceFile(root, pieceId, piece);
  let handle: FileHandle;
  try {
    handle = await open(real, 'r');
  } catch (e) {
    throw missing(pieceId, piece, e);
  }
  try {
    const stat = await handle.stat();
    if (!stat.isFile()) throw missing(pieceId, piece, new Error('not a regular file'));
    if (stat.size > opts.maxFileBytes) {
      throw new PackageError(
        'PACKAGE_FILE_TOO_LARGE',
        `Piece "${pieceId}" is ${stat.size} bytes, over the ${opts.maxFileBytes}-byte limit`,
        {
          file: piece.file,
          field: pieceField(pieceId, 'bytes'),
          hint: 'Raise maxFileBytes if the package is trusted and the file is expected to be this large.',
        },
      );
    }
    checkSize(pieceId, piece, stat.size);
    if (opts.keepBytes) {
      const bytes = await handle.readFile();
      checkSize(pieceId, piece, bytes.length);
      if (opts.verifyHash) checkHash(pieceId, piece, sha256(bytes));
      return { path: real, bytes };
    }
    if (opts.verifyHash) {
      const digest = await hashStream(handle.createReadStream({ start: 0, autoClose: false }));
      checkSize(pieceId, piece, digest.bytes);
      checkHash(pieceId, piece, digest.sha256);
    }
    return { path: real };
  } finally {
    await handle.close();
  }
}

/**
 * Decodes a piece's ONNX bytes and checks that its single graph input and output match the
 * manifest's `input` and `output` specs (names, shapes with symbolic dims by name, dtype).
 *
 * @throws OnnxError `ONNX_DECODE_FAILED` when the bytes are not an ONNX model
 * @throws PackageError `PACKAGE_DIMENSION_MISMATCH` when the graph interface differs from the manifest
 */
export function checkPieceModel(pieceId: string, piece: Piece, bytes: Uint8Array): void {
  let inputs: TensorInfo[];
  let outputs: TensorInfo[];
  try {
    const model = decodeModel(bytes);
    inputs = graphInputs(model);
    outputs = graphOutputs(model);
  } catch (e) {
    const reason = messageOf(e);
    throw new OnnxError(
      isStitchnetError(e) ? e.code : 'ONNX_DECODE_FAILED',
      `Piece "${pieceId}" is not a usable ONNX model: ${reason}`,
      {
        file: piece.file,
        field: pieceField(pieceId, 'file'),
        cause: e,
        hint: RESTORE_HINT,
      },
    );
  }
  checkInterface(pieceId, piece, 'input', inputs, piece.input);
  checkInterface(pieceId, piece, 'output', outputs, piece.output);
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

function checkSize(pieceId: string, piece: Piece, size: number): void {
  if (size !== piece.bytes) {
    throw new PackageError(
      'PACKAGE_HASH_MISMATCH',
      `Piece "${pieceId}" is ${size} bytes, the manifest says ${piece.bytes}`,
      {
        file: piece.file,
        field: pieceField(pieceId, 'bytes'),
        hint: `The file was altered or truncated. ${RESTORE_HINT}`,
      },
    );
  }
}

function checkHash(pieceId: string, piece: Piece, digest: string): void {
  if (digest !== piece.sha256) {
    throw new PackageError(
      'PACKAGE_HASH_MISMATCH',
      `Piece "${pieceId}" has sha256 ${digest}, the manifest says ${piece.sha256}`,
      {
        file: piece.file,
        field: pieceField(pieceId, 'sha256'),
        hint: `The file was altered. ${RESTORE_HINT}`,
      },
    );
  }
}

function missing(pieceId: string, piece: Piece, cause: unknown): PackageError {
  const code = (cause as { code?: unknown }).code;
  const why = code === 'ENOENT' ? 'does not exist' : `cannot be read (${messageOf(cause)})`;
  return new PackageError('PACKAGE_FILE_MISSING', `Piece "${pieceId}" file ${JSON.stringify(piece.file)} ${why}`, {
    file: piece.file,
    field: pieceField(pieceId, 'file'),
    cause,
    hint: RESTORE_HINT,
  });
}
