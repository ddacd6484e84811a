/**
 * How a package's piece reaches the engine: as its file, which onnxruntime reads itself, once the
 * file is checked against the manifest's size and sha256 (hashed as a stream, never held in
 * memory). No copy of a model then passes through JavaScript or between threads, and loading is
 * faster. Memory, measured in fresh processes with the arena off (docs/performance.md): raw
 * sessions on the main thread held 1.02–1.13× a DeiT-Ti/S family's weights from files against
 * 1.76–1.79× from bytes, but 1.50× against 1.57× for DeiT-Ti/S/B, and the runtime (sessions in
 * its worker) 1.53× from files against 1.46× from bytes in an earlier run: no gain established there.
 *
 * A piece with external data (`piece.data`) is loaded from its file only when both files check
 * out: the ONNX file (graph only, small: read, hashed, and its external-data references checked
 * to name only its data file, within it) and the data file (hashed as a stream). onnxruntime then
 * maps the weights from the data file, resolved from the ONNX file's folder: file-backed pages
 * rather than a private copy. The runtime holding DeiT-Ti/S/B measured 1.18–1.23× the weights
 * loaded this way against 1.48–1.50× with the pieces inline (what remains is mostly the copy
 * onnxruntime prepacks for its MatMul kernels; docs/performance.md).
 *
 * A piece without external data is loaded from its file when the package was read with every
 * model decoded and hashed (`readPackage`'s defaults), which checked that it references no
 * external file.
 *
 * Files that `readPackage` checked for this package object and that are, by their stamps (device,
 * inode, size, modification and change time), unchanged since are not hashed again: creating a
 * runtime from a folder otherwise read every weight twice. A file changed since, or around the
 * time it was checked, is hashed again as described above.
 *
 * A piece whose files cannot be checked (a package read without decoding, a package object without
 * files, a file that changed) is read with `pieceBytes`, which reports the problem as the package
 * reader does, or returns the piece self-contained.
 */
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { decodeModel } from '../onnx/index.js';
import {
  checkExternalData,
  dataLocation,
  hashFile,
  modelsChecked,
  pieceUnchanged,
  sha256,
  type Piece,
  type StitchPackage,
} from '../package/index.js';
import type { PieceSource } from './engine.js';

/** The piece as a checked file, else as its bytes. */
export async function pieceSource(pkg: StitchPackage, id: string): Promise<PieceSource> {
  const piece = pkg.manifest.pieces[id];
  try {
    const file = pkg.piecePath(id);
    const size = piece ? await checkedSize(pkg, id, file, piece) : undefined;
    if (size !== undefined) return { id, file, size };
  } catch {
    // Fall through: pieceBytes says what is wrong, or reads the piece another way.
  }
  return { id, bytes: await pkg.pieceBytes(id) };
}

/**
 * The bytes onnxruntime will read for the piece (its ONNX file and any data file) when they are
 * the files the manifest records: vouched for by their stamps since `readPackage` checked them,
 * else checked again here; `undefined` when they cannot be.
 */
async function checkedSize(pkg: StitchPackage, id: string, file: string, piece: Piece): Promise<number | undefined> {
  if (await pieceUnchanged(pkg, id)) return piece.bytes + (piece.data?.bytes ?? 0);
  return piece.data ? checkWithData(file, id, piece) : checkAlone(pkg, file, piece);
}

/**
 * The file's size when it is the piece the manifest records, decoded and checked when the package
 * was read (so it references no external file).
 */
async function checkAlone(pkg: StitchPackage, file: string, piece: Piece): Promise<number | undefined> {
  if (!modelsChecked(pkg)) return undefined;
  const { sha256: digest, bytes } = await hashFile(file);
  return digest === piece.sha256 && bytes === piece.bytes ? bytes : undefined;
}

/** Both files' size when the ONNX file and the data file it references are the ones the manifest records. */
async function checkWithData(file: string, id: string, piece: Piece): Promise<number | undefined> {
  const data = piece.data;
  if (!data || (await stat(file)).size !== piece.bytes) return undefined;
  const bytes = await readFile(file);
  if (bytes.length !== piece.bytes || sha256(bytes) !== piece.sha256) return undefined;
  checkExternalData(id, piece, decodeModel(bytes));
  const digest = await hashFile(path.join(path.dirname(file), ...dataLocation(piece).split('/')));
  if (digest.sha256 !== data.sha256 || digest.bytes !== data.bytes) return undefined;
  return piece.bytes + data.bytes;
}
