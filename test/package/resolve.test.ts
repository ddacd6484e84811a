/**
 * Models by npm package name: `readPackage('@scope/family')` (and so `create({ model })`) reads the
 * installed package from node_modules; paths keep working; a missing package says how to get it.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findInstalledPackage, isPackageName, readPackage, resolveModel } from '../../src/package/index.js';
import { makeTinyPackage } from '../helpers/tiny-package.js';

let app: string;

beforeAll(async () => {
  app = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-resolve-'));
  await makeTinyPackage(path.join(app, 'node_modules', '@acme', 'tiny-family'), {
    dims: [32, 48],
    depth: 2,
    positions: [[0, 1]],
  });
  await mkdir(path.join(app, 'node_modules', 'not-a-model'), { recursive: true });
  await mkdir(path.join(app, 'src', 'deep'), { recursive: true });
});

afterAll(async () => {
  await rm(app, { recursive: true, force: true });
});

describe('models by package name', () => {
  it('tells package names from paths', () => {
    for (const name of ['@stitchnet/fmnist-vit', 'fmnist-vit', 'a.b_c~d']) expect(isPackageName(name), name).toBe(true);
    for (const p of ['models/fmnist-vit', './fmnist-vit', '../x', '/abs/x', 'C:\\x', 'Upper', '@scope'])
      expect(isPackageName(p), p).toBe(false);
  });

  it('reads an installed package, looked up from a folder and the folders above it', async () => {
    const pkg = await readPackage('@acme/tiny-family', { from: path.join(app, 'src', 'deep') });
    expect(pkg.manifest.name).toBe('tiny-vit');
    expect(pkg.dir).toContain(path.join('node_modules', '@acme', 'tiny-family'));
    expect(findInstalledPackage('@acme/tiny-family', [app])).toBe(
      path.join(app, 'node_modules', '@acme', 'tiny-family'),
    );
  });

  it('keeps paths as they are', () => {
    expect(resolveModel('models/fmnist-vit')).toBe('models/fmnist-vit');
    expect(resolveModel(path.join(app, 'node_modules', '@acme', 'tiny-family'))).toBe(
      path.join(app, 'node_modules', '@acme', 'tiny-family'),
    );
  });

  it('says how to install a package that is not there', async () => {
    const err = await readPackage('@stitchnet/not-installed', { from: app }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'PACKAGE_NOT_FOUND', file: '@stitchnet/not-installed' });
    expect((err as Error).message).toContain('npm install @stitchnet/not-installed');
    expect((err as Error).message).toContain('fetchPackage');
  });

  it('says when an installed package holds no stitch package', async () => {
    await expect(readPackage('not-a-model', { from: app })).rejects.toMatchObject({
      code: 'PACKAGE_NOT_FOUND',
      message: expect.stringContaining('holds no stitch package') as unknown,
    });
  });
});
