/**
 * fetchPackage against a local HTTP server on 127.0.0.1 serving a tiny package: pinned, verified,
 * atomic, resumable (HTTP range), abortable, and the CLI equivalent.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { fetchPackage, type FetchProgress } from '../../src/package/fetch.js';
import { sha256 } from '../../src/package/hash.js';
import { readPackage } from '../../src/package/index.js';
import { makeTinyPackage } from '../helpers/tiny-package.js';

let tmp: string;
let served: string;
let pin: string;
let server: http.Server;
let base: string;
/** Requests seen: path and Range header. */
let requests: { url: string; range: string | undefined }[] = [];
/** Per path: send only this many bytes of the next response, then hold it in `held` (for the test to break off). */
const cutOff = new Map<string, number>();
let held: http.ServerResponse | undefined;
/** Per path: serve these bytes instead of the file. */
const replaced = new Map<string, Buffer>();

function serve(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = decodeURIComponent((req.url ?? '/').split('?')[0] as string);
  requests.push({ url, range: req.headers.range });
  const file = path.join(served, '..', ...url.split('/').filter(Boolean));
  readFile(file).then(
    (bytes) => {
      const body = replaced.get(url) ?? bytes;
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const start = m ? Number(m[1]) : 0;
      const part = body.subarray(start);
      res.writeHead(m ? 206 : 200, {
        'content-length': part.length,
        ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
      });
      const cut = cutOff.get(url);
      if (cut !== undefined) {
        cutOff.delete(url);
        res.write(part.subarray(0, cut));
        held = res;
        return;
      }
      res.end(part);
    },
    () => {
      res.writeHead(404).end('not found');
    },
  );
}

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-fetch-'));
  served = path.join(tmp, 'served', 'tiny');
  await makeTinyPackage(served, { dims: [32, 48], depth: 2, positions: [[0, 1]] });
  pin = sha256(await readFile(path.join(served, 'stitchnet.json')));
  server = http.createServer(serve);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(tmp, { recursive: true, force: true });
});

beforeEach(() => {
  held = undefined;
  requests = [];
  cutOff.clear();
  replaced.clear();
});

const manifestUrl = () => `${base}/tiny/stitchnet.json`;
const fresh = async () => mkdtemp(path.join(tmp, 'cache-'));

describe('fetchPackage', () => {
  it('downloads the manifest and every piece, verified, into the cache; a second call makes no request', async () => {
    const cacheDir = await fresh();
    const progress: FetchProgress[] = [];
    const dir = await fetchPackage(manifestUrl(), { sha256: pin, cacheDir, onProgress: (p) => progress.push(p) });
    expect(dir).toBe(path.join(cacheDir, 'packages', pin));
    const pkg = await readPackage(dir);
    expect(pkg.manifest.name).toBe('tiny-vit');
    const pieces = Object.keys(pkg.manifest.pieces).length;
    expect(requests).toHaveLength(pieces + 1);
    const last = progress.at(-1) as FetchProgress;
    expect(last.filesDone).toBe(pieces + 1);
    expect(last.receivedBytes).toBe(last.totalBytes);
    expect(progress.map((p) => p.receivedBytes)).toEqual(
      [...progress.map((p) => p.receivedBytes)].sort((a, b) => a - b),
    );
    expect(await readdir(path.join(cacheDir, 'packages'))).toEqual([pin]);

    requests = [];
    expect(await fetchPackage(manifestUrl(), { sha256: pin, cacheDir })).toBe(dir);
    expect(requests).toHaveLength(0);
  });

  it('refuses a manifest that is not the pinned one, and leaves no package behind', async () => {
    const cacheDir = await fresh();
    const wrong = 'ab'.repeat(32);
    const err = await fetchPackage(manifestUrl(), { sha256: wrong, cacheDir }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PACKAGE_HASH_MISMATCH', file: 'stitchnet.json' });
    expect(existsSync(path.join(cacheDir, 'packages', wrong, 'stitchnet.json'))).toBe(false);
  });

  it('refuses a piece that differs from the manifest', async () => {
    const cacheDir = await fresh();
    const manifest = JSON.parse(await readFile(path.join(served, 'stitchnet.json'), 'utf8')) as {
      pieces: Record<string, { file: string }>;
    };
    const file = (Object.values(manifest.pieces)[1] as { file: string }).file;
    const original = await readFile(path.join(served, file));
    const tampered = Buffer.from(original);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 0xff;
    replaced.set(`/tiny/${file}`, tampered);
    const err = await fetchPackage(manifestUrl(), { sha256: pin, cacheDir }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PACKAGE_HASH_MISMATCH', file });
    expect(existsSync(path.join(cacheDir, 'packages', pin))).toBe(false);
  });

  it('resumes a download cut off mid-file with a range request, keeping the files already verified', async () => {
    const cacheDir = await fresh();
    const manifest = JSON.parse(await readFile(path.join(served, 'stitchnet.json'), 'utf8')) as {
      pieces: Record<string, { file: string; bytes: number }>;
    };
    const pieces = Object.values(manifest.pieces);
    const victim = pieces[2] as { file: string; bytes: number };
    cutOff.set(`/tiny/${victim.file}`, 1000);
    // The connection breaks once the client has written some of the victim's bytes.
    const breakOff = (p: FetchProgress) => {
      if (p.file === victim.file) held?.destroy();
    };
    const err = await fetchPackage(manifestUrl(), { sha256: pin, cacheDir, onProgress: breakOff }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'PACKAGE_FETCH_FAILED' });
    expect(existsSync(path.join(cacheDir, 'packages', pin))).toBe(false);

    requests = [];
    const dir = await fetchPackage(manifestUrl(), { sha256: pin, cacheDir });
    await readPackage(dir);
    // The manifest and the first two pieces were kept; the cut piece continued where it broke off.
    expect(requests.map((r) => r.url)).not.toContain('/tiny/stitchnet.json');
    expect(requests.map((r) => r.url)).not.toContain(`/tiny/${(pieces[0] as { file: string }).file}`);
    const from = Number(
      /^bytes=(\d+)-$/.exec(requests.find((r) => r.url === `/tiny/${victim.file}`)?.range ?? '')?.[1],
    );
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThanOrEqual(1000);
    expect(requests).toHaveLength(pieces.length - 2);
  });

  it('stops when aborted, with the signal reason, and resumes later', async () => {
    const cacheDir = await fresh();
    const controller = new AbortController();
    const reason = new Error('stop');
    let seen = 0;
    const err = await fetchPackage(manifestUrl(), {
      sha256: pin,
      cacheDir,
      signal: controller.signal,
      onProgress: () => {
        if (++seen === 3) controller.abort(reason);
      },
    }).catch((e: unknown) => e);
    expect(err).toBe(reason);
    expect(existsSync(path.join(cacheDir, 'packages', pin))).toBe(false);
    await readPackage(await fetchPackage(manifestUrl(), { sha256: pin, cacheDir }));
  });

  it('writes to a chosen folder, and reports HTTP errors and bad options clearly', async () => {
    const out = path.join(await fresh(), 'models', 'tiny');
    expect(await fetchPackage(manifestUrl(), { sha256: pin, dir: out })).toBe(out);
    await readPackage(out);
    expect(await fetchPackage(manifestUrl(), { sha256: pin, dir: out })).toBe(out);
    const occupied = path.join(await fresh(), 'mine');
    await mkdir(occupied);
    await writeFile(path.join(occupied, 'notes.txt'), 'keep me');
    await expect(fetchPackage(manifestUrl(), { sha256: pin, dir: occupied })).rejects.toMatchObject({
      code: 'OPTION_INVALID',
      option: 'dir',
    });
    expect(await readFile(path.join(occupied, 'notes.txt'), 'utf8')).toBe('keep me');
    await expect(
      fetchPackage(`${base}/nowhere/stitchnet.json`, { sha256: pin, cacheDir: await fresh() }),
    ).rejects.toMatchObject({
      code: 'PACKAGE_FETCH_FAILED',
      message: expect.stringContaining('HTTP 404') as unknown,
    });
    await expect(fetchPackage(manifestUrl(), { sha256: 'nope' })).rejects.toMatchObject({
      code: 'OPTION_INVALID',
      option: 'sha256',
    });
    await expect(fetchPackage('ftp://example.com/x', { sha256: pin })).rejects.toMatchObject({
      code: 'OPTION_INVALID',
      option: 'url',
    });
  });
});

describe('fetchPackage with external data', () => {
  let xpin: string;
  let dataFiles: string[];
  beforeAll(async () => {
    const x = await makeTinyPackage(path.join(served, '..', 'tinyx'), {
      dims: [32, 48],
      depth: 2,
      positions: [[0, 1]],
      externalData: 'all',
    });
    xpin = sha256(await readFile(path.join(x.dir, 'stitchnet.json')));
    dataFiles = Object.values(x.manifest.pieces).flatMap((p) => (p.data ? [p.data.file] : []));
  });

  it('downloads every data file, verified, and the package reads back', async () => {
    const cacheDir = await fresh();
    const dir = await fetchPackage(`${base}/tinyx/stitchnet.json`, { sha256: xpin, cacheDir });
    const pkg = await readPackage(dir);
    const pieces = Object.keys(pkg.manifest.pieces).length;
    expect(dataFiles.length).toBe(pieces);
    expect(requests.map((r) => r.url).filter((u) => u.endsWith('.data'))).toHaveLength(pieces);
    expect(requests).toHaveLength(2 * pieces + 1);
  });

  it('refuses a data file that differs from the manifest', async () => {
    const cacheDir = await fresh();
    const file = dataFiles[1] as string;
    const tampered = Buffer.from(await readFile(path.join(served, '..', 'tinyx', file)));
    tampered[0] = (tampered[0] as number) ^ 0xff;
    replaced.set(`/tinyx/${file}`, tampered);
    const err = await fetchPackage(`${base}/tinyx/stitchnet.json`, { sha256: xpin, cacheDir }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PACKAGE_HASH_MISMATCH', file });
  });
});

describe('stitchnet fetch', () => {
  it('prints the folder on stdout and progress on stderr', async () => {
    const out = path.join(await fresh(), 'tiny');
    const root = path.resolve(import.meta.dirname, '..', '..');
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      [path.join(root, 'dist', 'cli', 'main.js'), 'fetch', manifestUrl(), '--sha256', pin, '--out', out],
      { cwd: tmp },
    );
    expect(stdout).toBe(`${out}\n`);
    expect(stderr).toMatch(/files, [\d.]+ of [\d.]+ MB: pieces\//);
    await readPackage(out);
  });

  it('needs --sha256', async () => {
    const root = path.resolve(import.meta.dirname, '..', '..');
    const r = await promisify(execFile)(
      process.execPath,
      [path.join(root, 'dist', 'cli', 'main.js'), 'fetch', manifestUrl()],
      { cwd: tmp },
    ).catch((e: { code: number; stderr: string }) => e);
    expect((r as { code: number }).code).not.toBe(0);
    expect((r as { stderr: string }).stderr).toContain('--sha256');
  });
});
