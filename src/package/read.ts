/**
 * Reading a stitch package from disk with every integrity check of the format.
 */
import type { Stats } from 'node:fs';
import { readFile, realpath, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { messageOf } from '../base/message.js';
import { PackageError } from '../errors.js';
import {
  checkPieceModel,
  readPieceData,
  readPieceFile,
  selfContained,
  unchangedSince,
  type ReadFile,
} from './files.js';
import { MANIFEST_FILE, type Manifest, type Piece, type Stitch } from './schema.js';
import { resolveModel } from './resolve.js';
import { checkManifest, parseManifest } from './validate.js';

/** Default cap on the size of any one file of a package: 2 GiB (protobuf's own limit). */
export const DEFAULT_MAX_FILE_BYTES = 2 * 1024 ** 3;

/** Default cap on the size of `stitchnet.json`: 64 MiB (the shipped family's is under 100 KiB). */
export const DEFAULT_MAX_MANIFEST_BYTES = 64 * 1024 ** 2;

/** Options of {@link readPackage}. */
export interface ReadPackageOptions {
  /**
   * Refuse a manifest larger than this, before reading it.
   * @defaultValue 64 MiB
   */
  maxManifestBytes?: number;
  /**
   * Refuse any file (manifest or piece) larger than this, before reading it.
   * @defaultValue 2 GiB
   */
  maxFileBytes?: number;
  /**
   * Check every piece's sha256 against the manifest (at open, and again in `pieceBytes`).
   * @defaultValue true
   */
  verifyHashes?: boolean;
  /**
   * Decode every piece as ONNX and check that its graph input and output match the manifest.
   * @defaultValue true
   */
  loadModels?: boolean;
  /**
   * Where an npm package name (`'@stitchnet/fmnist-vit'`) is looked up: the `node_modules` folders
   * from this folder upwards.
   * @defaultValue the working directory, then this installation of stitchnet
   */
  from?: string;
}

/** A stitch package that passed its checks. */
export interface StitchPackage {
  /** Absolute path of the package folder. */
  readonly dir: string;
  readonly manifest: Manifest;
  /**
   * Absolute path of a piece's ONNX file (for a piece with external data, its `data` file lies
   * next to it as the manifest says). @throws PackageError `PACKAGE_ROUTE_INVALID` for an unknown piece id
   */
  piecePath(pieceId: string): string;
  /**
   * Reads a piece's ONNX bytes, checking size and (unless `verifyHashes` was off) sha256 again.
   * A piece with external data comes back self-contained: its weights put back into the model
   * from the checked data file.
   * @throws PackageError for an unknown piece id or a file that changed since the package was read
   */
  pieceBytes(pieceId: string): Promise<Uint8Array>;
  /** The stitch with this id. @throws PackageError `STITCH_UNKNOWN` */
  stitch(id: number): Stitch;
  /**
   * The piece ids a stitch runs, in execution order: embed of the first anchor, blocks,
   * stitching layer, blocks, …, head of the last anchor.
   * @throws PackageError `STITCH_UNKNOWN`
   */
  routePieces(stitchId: number): readonly string[];
}

/**
 * Reads a stitch package (a folder holding `stitchnet.json` and its pieces) and verifies it: a
 * known `format`; the manifest schema; every route referencing real anchors, blocks, stitching
 * layers and pieces; dimensions chaining along every route; every piece path inside the folder
 * (symlinks followed), present, within `maxFileBytes`, of the recorded size and sha256 (its
 * external-data file too, if it has one); and every piece decoding as ONNX with the interface the
 * manifest declares, its external-data references naming only its own data file, within it.
 *
 * Files are checked in parallel (a few at a time); each piece is read once.
 *
 * ## Example
 * ```ts
 * const pkg = await readPackage('models/fmnist-vit');
 * pkg.routePieces(3); // ['ti.embed', 'ti.block.0', 'ti-s.0', 's.block.1', …, 's.head']
 * ```
 *
 * @param dirOrName - the package folder (or its `stitchnet.json`), or the name of an installed npm
 *   package holding one (`'@stitchnet/fmnist-vit'`, looked up as `opts.from` says)
 * @throws PackageError with `file` and `field` naming the culprit (`PACKAGE_NOT_FOUND`,
 *   `PACKAGE_MANIFEST_INVALID`, `PACKAGE_FORMAT_UNKNOWN`, `PACKAGE_PATH_OUTSIDE`,
 *   `PACKAGE_FILE_MISSING`, `PACKAGE_FILE_TOO_LARGE`, `PACKAGE_HASH_MISMATCH`,
 *   `PACKAGE_ROUTE_INVALID`, `PACKAGE_DIMENSION_MISMATCH`, `PACKAGE_DATA_INVALID`), or OnnxError `ONNX_DECODE_FAILED` /
 *   `ONNX_GRAPH_INVALID` for a piece that is not a usable ONNX model
 */
export async function readPackage(dirOrName: string, opts: ReadPackageOptions = {}): Promise<StitchPackage> {
  const dir = resolveModel(dirOrName, opts.from);
  const maxFileBytes = opts.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const verifyHash = opts.verifyHashes ?? true;
  const loadModels = opts.loadModels ?? true;

  const root = await packageRoot(dir);
  const manifestPath = path.join(root, MANIFEST_FILE);
  const maxManifestBytes = Math.min(maxFileBytes, opts.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES);
  const { manifest, routes } = manifestFromText(await readManifestText(manifestPath, maxManifestBytes));

  const paths = new Map<string, string>();
  const checked = new Map<string, CheckedFiles>();
  await forEachBounded(Object.entries(manifest.pieces), Math.min(4, availableParallelism()), async ([id, piece]) => {
    const at = Date.now();
    const file = await readPieceFile(root, id, piece, { maxFileBytes, verifyHash, keepBytes: loadModels });
    const data = piece.data && (await readPieceData(root, id, piece, { maxFileBytes, verifyHash, keepBytes: false }));
    if (file.bytes) checkPieceModel(id, piece, file.bytes);
    paths.set(id, file.path);
    // Only where and what each file was: the bytes (of an inline piece, its weights) are not kept.
    checked.set(id, { at, files: (data ? [file, data] : [file]).map(({ path, stamp }) => ({ path, stamp })) });
  });

  const pieceOf = (pieceId: string): Piece => {
    const piece = manifest.pieces[pieceId];
    if (!piece) {
      throw new PackageError('PACKAGE_ROUTE_INVALID', `Unknown piece "${pieceId}"`, {
        file: MANIFEST_FILE,
        option: 'pieceId',
        validValues: Object.keys(manifest.pieces),
        hint: 'Use a key of the manifest\'s "pieces".',
      });
    }
    return piece;
  };
  const stitchOf = (id: number): Stitch => {
    const stitch = manifest.stitches.find((s) => s.id === id);
    if (!stitch) {
      throw new PackageError('STITCH_UNKNOWN', `Unknown stitch ${id}`, {
        file: MANIFEST_FILE,
        option: 'stitchId',
        validValues: manifest.stitches.map((s) => s.id),
        hint: "Use the id of one of the package's stitches.",
      });
    }
    return stitch;
  };

  const pkg: StitchPackage = {
    dir: root,
    manifest,
    piecePath: (pieceId) => {
      pieceOf(pieceId);
      return paths.get(pieceId) as string;
    },
    pieceBytes: async (pieceId) => {
      const piece = pieceOf(pieceId);
      const opts = { maxFileBytes, verifyHash, keepBytes: true };
      const bytes = (await readPieceFile(root, pieceId, piece, opts)).bytes as Uint8Array;
      // A file with the hash of one checked at open needs no second look.
      if (!piece.data && loadModels && verifyHash) return bytes;
      const data = piece.data ? (await readPieceData(root, pieceId, piece, opts)).bytes : undefined;
      return selfContained(pieceId, piece, bytes, data);
    },
    stitch: stitchOf,
    routePieces: (stitchId) => {
      stitchOf(stitchId);
      return routes.get(stitchId) as string[];
    },
  };
  if (loadModels && verifyHash) CHECKED.set(pkg, checked);
  return pkg;
}

/** A piece's files as `readPackage` checked them, and when it began. */
interface CheckedFiles {
  /** Wall-clock ms before the first file was opened. */
  at: number;
  files: readonly Pick<ReadFile, 'path' | 'stamp'>[];
}

/** Packages read with every piece decoded and hashed: what each piece's files were then. */
const CHECKED = new WeakMap<StitchPackage, ReadonlyMap<string, CheckedFiles>>();

/**
 * Whether this package object came from `readPackage` with every piece decoded and its hash
 * checked: then a piece file whose hash matches the manifest is known to reference no external
 * data but its own `data` file.
 */
export function modelsChecked(pkg: StitchPackage): boolean {
  return CHECKED.has(pkg);
}

/**
 * Whether a piece's files (its ONNX file and any data file) are, by their stamps, the very files
 * `readPackage` decoded and hashed for this package object, so that loading them needs no second
 * hash: same device, inode, size, modification and change time, and not changed around the time
 * they were checked (see `unchangedSince`). `false` for a package read without those checks.
 */
export async function pieceUnchanged(pkg: StitchPackage, pieceId: string): Promise<boolean> {
  const piece = CHECKED.get(pkg)?.get(pieceId);
  if (!piece) return false;
  for (const file of piece.files) if (!(await unchangedSince(file.path, file.stamp, piece.at))) return false;
  return true;
}

/**
 * Parses and checks manifest text (JSON, a BOM allowed): the schema and every cross-reference,
 * without the files. Returns the manifest and the piece ids of every stitch's route.
 *
 * @throws PackageError `PACKAGE_MANIFEST_INVALID`, `PACKAGE_FORMAT_UNKNOWN`, `PACKAGE_PATH_OUTSIDE`,
 *   `PACKAGE_ROUTE_INVALID`, `PACKAGE_DIMENSION_MISMATCH`
 */
export function manifestFromText(
  text: string,
  file: string = MANIFEST_FILE,
): { manifest: Manifest; routes: Map<number, string[]> } {
  const manifest = parseManifest(parseJson(text, file), file);
  return { manifest, routes: checkManifest(manifest, file) };
}

/** The real path of the package folder; a path to the manifest itself is accepted too. */
async function packageRoot(dir: string): Promise<string> {
  const notFound = (why: string, cause?: unknown) =>
    new PackageError('PACKAGE_NOT_FOUND', `No stitch package at ${dir}: ${why}`, {
      file: dir,
      cause,
      hint: `Pass the folder that holds ${MANIFEST_FILE} (a stitch package written by \`stitchnet build\`).`,
    });
  let info: Stats;
  try {
    info = await stat(dir);
  } catch (e) {
    throw notFound('the path does not exist', e);
  }
  if (info.isFile()) {
    if (path.basename(dir) !== MANIFEST_FILE) throw notFound('it is a file, not a folder');
    return realpath(path.dirname(dir));
  }
  return realpath(dir);
}

async function readManifestText(file: string, maxFileBytes: number): Promise<string> {
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (e) {
    throw new PackageError('PACKAGE_NOT_FOUND', `The folder has no ${MANIFEST_FILE}`, {
      file: MANIFEST_FILE,
      cause: e,
      hint: `A stitch package is a folder with ${MANIFEST_FILE} and pieces/*.onnx; check the path or rebuild the package.`,
    });
  }
  if (size > maxFileBytes) {
    throw new PackageError(
      'PACKAGE_FILE_TOO_LARGE',
      `${MANIFEST_FILE} is ${size} bytes, over the ${maxFileBytes}-byte limit`,
      {
        file: MANIFEST_FILE,
        hint: 'Raise maxManifestBytes (and maxFileBytes) if the package is trusted.',
      },
    );
  }
  return readFile(file, 'utf8');
}

/** JSON.parse with the error position turned into a line and column; a UTF-8 byte order mark is ignored. */
function parseJson(raw: string, file: string): unknown {
  const text = raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
  try {
    return JSON.parse(text);
  } catch (e) {
    const reason = messageOf(e);
    const before = text.slice(0, jsonErrorPosition(text, reason)).split('\n');
    const where = `line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
    throw new PackageError('PACKAGE_MANIFEST_INVALID', `${file} is not valid JSON at ${where}: ${reason}`, {
      file,
      cause: e,
      hint: 'Fix the JSON syntax there, or rebuild the package with `stitchnet build`.',
    });
  }
}

/**
 * Where JSON.parse gave up: the position it reports, else the end of the longest prefix that
 * could still start a valid document (found by bisection: such a prefix fails only at its very
 * end, and every longer prefix of an invalid one is invalid too).
 */
function jsonErrorPosition(text: string, reason: string): number {
  const at = /position (\d+)/.exec(reason)?.[1];
  if (at !== undefined) return Number(at);
  const viable = (n: number) => {
    try {
      JSON.parse(text.slice(0, n));
      return true;
    } catch (e) {
      const message = e instanceof Error ? e.message : '';
      return /end of JSON input/.test(message) || /position (\d+)/.exec(message)?.[1] === String(n);
    }
  };
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (viable(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Runs `fn` over `items`, at most `limit` at a time. On a failure no new item starts; once the
 * running ones settle, the failure of the earliest item is thrown (so the error is deterministic).
 */
async function forEachBounded<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const failures: { index: number; error: unknown }[] = [];
  let next = 0;
  const worker = async () => {
    while (failures.length === 0 && next < items.length) {
      const index = next++;
      try {
        await fn(items[index] as T);
      } catch (error) {
        failures.push({ index, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failures.length > 0) throw failures.reduce((a, b) => (b.index < a.index ? b : a)).error;
}
