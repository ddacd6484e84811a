/** Hostile manifests: a BOM is accepted, the manifest's size is capped, the model option checked. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readPackage } from '../../src/package/index.js';
import { makeTinyPackage } from '../helpers/tiny-package.js';

let dir: string;
let pkgDir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-manifest-'));
  pkgDir = (await makeTinyPackage(path.join(dir, 'tiny'))).dir;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('manifest input', () => {
  it('accepts a manifest that starts with a UTF-8 BOM', async () => {
    const file = path.join(pkgDir, 'stitchnet.json');
    const text = await readFile(file, 'utf8');
    await writeFile(file, `\uFEFF${text}`);
    try {
      const pkg = await readPackage(pkgDir, { loadModels: false });
      expect(pkg.manifest.stitches.length).toBeGreaterThan(0);
    } finally {
      await writeFile(file, text);
    }
  });

  it('refuses a manifest over maxManifestBytes before reading it', async () => {
    await expect(readPackage(pkgDir, { maxManifestBytes: 100 })).rejects.toMatchObject({
      code: 'PACKAGE_FILE_TOO_LARGE',
      file: 'stitchnet.json',
      hint: expect.stringMatching(/maxManifestBytes/),
    });
  });
});
