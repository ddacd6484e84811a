/**
 * How a package's piece reaches the engine: as its file, which onnxruntime reads itself, once the
 * file is checked against the manifest's size and sha256 (hashed as a stream, never held in
 * memory). No copy of a model then passes through JavaScript or between threads, and loading is
 * faster. Memory, measured in fresh processes with the arena off (docs/performance.md): raw
 * sessions on the main thread held 1.02–1.13× a DeiT-Ti/S family's weights from files against
 * 1.76–1.79× from bytes, but 1.50× against 1.57× for DeiT-Ti/S/B, and the runtime (sessions in
 * its worker) 1.53× from files against 1.46× from bytes in an earlier run: no gain established there.
 *
 * A piece whose file cannot be checked (a package object without files, a file that changed) is
 * read with `pieceBytes`, which reports the problem as the package reader does.
 */
import { hashFile, type StitchPackage } from '../package/index.js';
import type { PieceSource } from './engine.js';

/** The piece as a checked file, else as its bytes. */
export async function pieceSource(pkg: StitchPackage, id: string): Promise<PieceSource> {
  const piece = pkg.manifest.pieces[id];
  try {
    const file = pkg.piecePath(id);
    const { sha256, bytes } = await hashFile(file);
    if (piece && sha256 === piece.sha256 && bytes === piece.bytes) return { id, file, size: bytes };
  } catch {
    // Fall through: pieceBytes says what is wrong, or reads the piece another way.
  }
  return { id, bytes: await pkg.pieceBytes(id) };
}
