/** Optional peer dependencies: a missing one is DEPENDENCY_MISSING naming the package; other failures pass through. */
import { describe, expect, it } from 'vitest';
import { importOptional, requireOptional } from '../../src/base/optional.js';

const notFound = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('optional dependencies', () => {
  it('turns a missing package into DEPENDENCY_MISSING with the install command', async () => {
    const err = await importOptional('vega', () =>
      Promise.reject(notFound("Cannot find package 'vega' imported from /app/x.js", 'ERR_MODULE_NOT_FOUND')),
    ).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DEPENDENCY_MISSING', hint: 'Install it next to stitchnet: npm install vega' });
    expect((err as Error).message).toBe(
      'Drawing plots needs the package vega, which is not installed. Install it next to stitchnet: npm install vega',
    );
  });

  it('lets other failures through, including a missing package of another name', async () => {
    const broken = new Error('syntax error in vega');
    await expect(importOptional('vega', () => Promise.reject(broken))).rejects.toBe(broken);
    const other = notFound("Cannot find module 'd3-array'", 'MODULE_NOT_FOUND');
    await expect(importOptional('vega', () => Promise.reject(other))).rejects.toBe(other);
  });

  it('loads an installed package', async () => {
    expect(typeof requireOptional<{ Matrix: unknown }>('ml-matrix').Matrix).toBe('function');
    expect(typeof (await importOptional('vega-lite', () => import('vega-lite'))).compile).toBe('function');
  });
});
