/**
 * Downloading a stitch package on first run: `fetchPackage(manifestUrl, { sha256 })`.
 *
 * The URL is that of a package's `stitchnet.json`; its pieces are fetched by their paths relative
 * to it (a piece's external-data file too, `piece.data`). The caller pins the manifest's sha256,
 * and the manifest pins every file's sha256 and size, so every byte is verified. Files go to a partial folder beside the destination and are
 * renamed into place only when all of them are complete and verified: the destination never
 * holds half a package. An interrupted download resumes where it stopped (verified files are
 * kept, a partial file continues with an HTTP range request where the server allows it).
 */
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { cacheRoot } from '../base/cache-dir.js';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OptionError, PackageError } from '../errors.js';
import { hashFile, sha256 } from './hash.js';
import { MANIFEST_FILE, type Manifest } from './schema.js';
import { checkManifest, parseManifest } from './validate.js';

/** Progress of {@link fetchPackage}, reported as bytes arrive and when each file is done. */
export interface FetchProgress {
  /** The file being downloaded, relative to the package folder (`stitchnet.json`, `pieces/…`). */
  file: string;
  /** Bytes of the whole package received so far (including files kept from an earlier attempt). */
  receivedBytes: number;
  /** Bytes of the whole package; known once the manifest is in. */
  totalBytes: number | undefined;
  /** Files complete and verified, and the number of files (known once the manifest is in). */
  filesDone: number;
  filesTotal: number | undefined;
}

/** Options of {@link fetchPackage}. */
export interface FetchPackageOptions {
  /** The sha256 (lowercase hex) of the package's `stitchnet.json`: pins the manifest and, through it, every piece. */
  sha256: string;
  /**
   * The folder the package is written to. Default: `<cacheDir>/packages/<sha256>`, so that a
   * second call with the same pin returns at once without any request.
   */
  dir?: string;
  /** Cache folder. Default: `STITCHNET_CACHE_DIR`, else the OS cache folder (`~/.cache/stitchnet`, …). */
  cacheDir?: string;
  /** Aborts the download (the partial files stay for the next attempt); rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called as bytes arrive (at most once per received chunk) and when each file is done. */
  onProgress?: (progress: FetchProgress) => void;
}

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Downloads the stitch package whose manifest is at `url` (http, https or file) into a local
 * folder and returns that folder, ready for `StitchRuntime.create({ model: dir })`.
 *
 * ## Example
 * ```ts
 * const dir = await fetchPackage('https://example.com/fmnist-vit/stitchnet.json', { sha256: '3f5c…' });
 * const rt = await StitchRuntime.create({ model: dir, profile: 'balanced' });
 * ```
 *
 * @throws OptionError `OPTION_INVALID` for a bad URL or pin; PackageError `PACKAGE_FETCH_FAILED`
 *   (network or HTTP error), `PACKAGE_HASH_MISMATCH` (a file is not what the pin says), or any
 *   manifest error `readPackage` reports; the signal's reason when aborted.
 */
export async function fetchPackage(url: string | URL, options: FetchPackageOptions): Promise<string> {
  const base = checkUrl(url);
  const pin = checkPin(options?.sha256);
  const dest = path.resolve(options.dir ?? path.join(cacheRoot(options.cacheDir), 'packages', pin));
  if (await isComplete(dest, pin)) return dest;
  if (options.dir !== undefined) await refuseOtherContent(dest);
  const partial = `${dest}.partial`;
  await mkdir(partial, { recursive: true });
  const progress = new ProgressTracker(options.onProgress);
  const manifestBytes = await download(
    new URL(base),
    path.join(partial, MANIFEST_FILE),
    { sha256: pin, bytes: undefined },
    MANIFEST_FILE,
    progress,
    options.signal,
  );
  const manifest = manifestOf(manifestBytes);
  const pieces = packageFiles(manifest);
  progress.expect(manifestBytes.length + pieces.reduce((a, p) => a + p.bytes, 0), pieces.length + 1);
  for (const piece of pieces) {
    const target = path.join(partial, ...piece.file.replaceAll('\\', '/').split('/'));
    await mkdir(path.dirname(target), { recursive: true });
    await download(
      new URL(piece.file.replaceAll('\\', '/'), base),
      target,
      { sha256: piece.sha256, bytes: piece.bytes },
      piece.file,
      progress,
      options.signal,
    );
  }
  await rm(dest, { recursive: true, force: true });
  await rename(partial, dest);
  return dest;
}

/** A chosen `dir` that holds something else is left alone: the download would replace it. */
async function refuseOtherContent(dest: string): Promise<void> {
  const entries = await readdir(dest).catch(() => []);
  if (entries.length > 0) {
    throw new OptionError('OPTION_INVALID', `${dest} already holds files that are not this package`, {
      option: 'dir',
      hint: 'Choose an empty or new folder (the download replaces the folder when it is complete), or remove that one',
    });
  }
}

function checkUrl(url: string | URL): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch (e) {
    throw new OptionError('OPTION_INVALID', `Not a URL: ${String(url)}`, {
      option: 'url',
      cause: e,
      hint: `Pass the URL of a package's ${MANIFEST_FILE}`,
    });
  }
  if (!['http:', 'https:', 'file:'].includes(u.protocol)) {
    throw new OptionError('OPTION_INVALID', `Cannot fetch ${u.protocol} URLs`, {
      option: 'url',
      validValues: ['http:', 'https:', 'file:'],
    });
  }
  return u;
}

function checkPin(pin: unknown): string {
  if (typeof pin !== 'string' || !SHA256.test(pin.toLowerCase())) {
    throw new OptionError('OPTION_INVALID', 'fetchPackage needs the sha256 of the package manifest (64 hex digits)', {
      option: 'sha256',
      hint: `Pin the download: sha256sum ${MANIFEST_FILE} (or stitchnet inspect --json) gives it`,
    });
  }
  return pin.toLowerCase();
}

/** True when `dir` holds the pinned manifest and every piece it lists, of the right size. */
async function isComplete(dir: string, pin: string): Promise<boolean> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path.join(dir, MANIFEST_FILE));
  } catch {
    return false;
  }
  if (sha256(bytes) !== pin) return false;
  const manifest = manifestOf(bytes);
  for (const piece of packageFiles(manifest)) {
    const size = await stat(path.join(dir, piece.file)).then(
      (s) => s.size,
      () => -1,
    );
    if (size !== piece.bytes) return false;
  }
  return true;
}

/** Every file the manifest lists besides itself: each piece's ONNX file and its data file, each once. */
function packageFiles(manifest: Manifest): { file: string; sha256: string; bytes: number }[] {
  const files = new Map<string, { file: string; sha256: string; bytes: number }>();
  for (const piece of Object.values(manifest.pieces)) {
    for (const f of piece.data ? [piece, piece.data] : [piece]) files.set(f.file.replaceAll('\\', '/'), f);
  }
  return [...files.values()];
}

function manifestOf(bytes: Uint8Array): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new PackageError('PACKAGE_MANIFEST_INVALID', `The downloaded ${MANIFEST_FILE} is not JSON`, {
      file: MANIFEST_FILE,
      cause: e,
    });
  }
  const manifest = parseManifest(json, MANIFEST_FILE);
  checkManifest(manifest, MANIFEST_FILE);
  return manifest;
}

/** Sums progress over the files of one package. */
class ProgressTracker {
  private received = 0;
  private total: number | undefined;
  private filesTotal: number | undefined;
  private done = 0;
  constructor(private readonly report: FetchPackageOptions['onProgress']) {}
  expect(totalBytes: number, files: number): void {
    this.total = totalBytes;
    this.filesTotal = files;
  }
  add(file: string, bytes: number): void {
    this.received += bytes;
    this.emit(file);
  }
  fileDone(file: string): void {
    this.done++;
    this.emit(file);
  }
  private emit(file: string): void {
    this.report?.({
      file,
      receivedBytes: this.received,
      totalBytes: this.total,
      filesDone: this.done,
      filesTotal: this.filesTotal,
    });
  }
}

interface Expected {
  sha256: string;
  /** Known for pieces (from the manifest), not for the manifest itself. */
  bytes: number | undefined;
}

/**
 * Downloads `url` to `target` and verifies it; a verified `target` from an earlier attempt is kept,
 * and `target.part` is resumed. Returns the file's bytes only for the manifest (small), else empty.
 */
async function download(
  url: URL,
  target: string,
  want: Expected,
  name: string,
  progress: ProgressTracker,
  signal: AbortSignal | undefined,
): Promise<Uint8Array> {
  signal?.throwIfAborted();
  if (existsSync(target) && (await hashFile(target)).sha256 === want.sha256) {
    progress.add(name, (await stat(target)).size);
    progress.fileDone(name);
    return want.bytes === undefined ? readFile(target) : new Uint8Array();
  }
  const part = `${target}.part`;
  await fetchToFile(url, part, want, name, progress, signal);
  const got = await hashFile(part);
  if (got.sha256 !== want.sha256 || (want.bytes !== undefined && got.bytes !== want.bytes)) {
    await rm(part, { force: true });
    throw new PackageError(
      'PACKAGE_HASH_MISMATCH',
      `${name} from ${url.href} is not the pinned file (sha256 ${got.sha256}, ${got.bytes} bytes)`,
      {
        file: name,
        hint:
          name === MANIFEST_FILE
            ? 'Check the sha256 you pinned and the URL; the server may have a newer version'
            : 'The server holds a different file than its manifest lists; republish the package',
      },
    );
  }
  await rename(part, target);
  progress.fileDone(name);
  return want.bytes === undefined ? readFile(target) : new Uint8Array();
}

/** Streams `url` into `part`, continuing an existing `part` with a range request where the server allows it. */
async function fetchToFile(
  url: URL,
  part: string,
  want: Expected,
  name: string,
  progress: ProgressTracker,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (url.protocol === 'file:') {
    await pipeline(createReadStream(url), counter(name, progress), createWriteStream(part), { signal });
    return;
  }
  let have = await stat(part).then(
    (s) => s.size,
    () => 0,
  );
  if (want.bytes !== undefined && have >= want.bytes) have = 0;
  const res = await request(url, have, signal);
  const resumed = have > 0 && res.status === 206;
  if (resumed) progress.add(name, have);
  const body = res.body;
  if (!body) throw fetchError(url, `empty response (HTTP ${res.status})`);
  // Chunk by chunk, each written before the next is read: whatever arrived before a break is on
  // disk for the next attempt to continue from.
  const file = await open(part, resumed ? 'a' : 'w');
  try {
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      await file.write(chunk);
      progress.add(name, chunk.length);
    }
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    throw fetchError(url, 'the connection broke off', e);
  } finally {
    await file.close();
  }
}

async function request(url: URL, from: number, signal: AbortSignal | undefined): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { headers: from > 0 ? { range: `bytes=${from}-` } : {}, ...(signal ? { signal } : {}) });
  } catch (e) {
    if (signal?.aborted) throw signal.reason;
    throw fetchError(url, 'the request failed', e);
  }
  if (res.status !== 200 && res.status !== 206) {
    await res.body?.cancel();
    throw fetchError(url, `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
  }
  return res;
}

/** A pass-through stream that reports the bytes going by. */
function counter(name: string, progress: ProgressTracker): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      progress.add(name, chunk.length);
      done(null, chunk);
    },
  });
}

function fetchError(url: URL, why: string, cause?: unknown): PackageError {
  return new PackageError('PACKAGE_FETCH_FAILED', `Cannot download ${url.href}: ${why}`, {
    file: url.href,
    cause,
    hint: 'Check the URL and the network; run again to resume (files already verified are kept)',
  });
}
