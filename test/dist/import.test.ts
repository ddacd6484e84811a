/**
 * The built package (`dist/`) imports as ESM and as CJS, by its own name, and runs one inference.
 * `npm test` builds first (`pretest`), so `dist/` is current here.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTinyPackage } from '../helpers/tiny-package.js';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '..', '..');
let dir: string;

beforeAll(async () => {
  expect(existsSync(path.join(root, 'dist', 'index.js')), 'dist/ is missing: run npm run build').toBe(true);
  dir = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-dist-'));
  await makeTinyPackage(dir);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// One inference on the default stitch, then one on stitch 0 after a switch; prints a JSON line.
const body = (mod: string) => `
  const { StitchRuntime, StitchnetError } = ${mod};
  const rt = await StitchRuntime.create({ model: ${JSON.stringify('DIR')} });
  const dims = rt.manifest.input.shape.map((d) => (typeof d === 'number' ? d : 1));
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(0.5);
  const a = await rt.run({ data, dims });
  rt.setStitch(0);
  const b = await rt.run({ data, dims });
  let closedCode;
  await rt.close();
  try { await rt.run({ data, dims }); } catch (e) { closedCode = e instanceof StitchnetError ? e.code : String(e); }
  console.log(JSON.stringify({ a: a.stitch, b: b.stitch, n: a.logits.length, finite: [...a.logits].every(Number.isFinite), closedCode }));
`;

async function node(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, args, { cwd: root, timeout: 60_000 });
}

describe('built dist/', () => {
  it('imports as ESM by package name and runs', async () => {
    const src = `(async () => {${body("await import('stitchnet')").replace('"DIR"', JSON.stringify(dir))}})()`;
    const { stdout, stderr } = await node(['--input-type=module', '-e', src]);
    expect(stderr).toBe('');
    const out = JSON.parse(stdout.trim()) as { a: number; b: number; n: number; finite: boolean; closedCode: string };
    expect(out.b).toBe(0);
    expect(out.n).toBeGreaterThan(0);
    expect(out.finite).toBe(true);
    expect(out.closedCode).toBe('RUNTIME_CLOSED');
  });

  it('requires as CJS by package name and runs', async () => {
    const src = `(async () => {${body("require('stitchnet')").replace('"DIR"', JSON.stringify(dir))}})()`;
    const { stdout, stderr } = await node(['-e', src]);
    expect(stderr).toBe('');
    const out = JSON.parse(stdout.trim()) as { b: number; finite: boolean; closedCode: string };
    expect(out.b).toBe(0);
    expect(out.finite).toBe(true);
    expect(out.closedCode).toBe('RUNTIME_CLOSED');
  });

  it('recognises errors across the ESM and CJS copies loaded in one process (the Symbol.for brand)', async () => {
    const src = `
      const { createRequire } = await import('node:module');
      const esm = await import('stitchnet');
      const cjs = createRequire(${JSON.stringify(path.join(root, 'package.json'))})('stitchnet');
      const fromEsm = await esm.readPackage('does-not-exist').catch((e) => e);
      const fromCjs = await cjs.readPackage('does-not-exist').catch((e) => e);
      console.log(JSON.stringify({
        distinctClasses: esm.StitchnetError !== cjs.StitchnetError,
        codes: [fromEsm.code, fromCjs.code],
        cjsSeesEsm: cjs.isStitchnetError(fromEsm),
        esmSeesCjs: esm.isStitchnetError(fromCjs),
        instanceofAcross: [fromEsm instanceof cjs.StitchnetError, fromCjs instanceof esm.StitchnetError],
        subclassByClass: [fromEsm instanceof esm.PackageError, fromCjs instanceof esm.PackageError, new cjs.OptionError('OPTION_INVALID', 'x') instanceof esm.PackageError],
        plainErrors: [esm.isStitchnetError(new Error('x')), cjs.isStitchnetError({ code: 'PACKAGE_NOT_FOUND' }), esm.isStitchnetError(null), new Error('x') instanceof esm.StitchnetError],
      }));`;
    const { stdout, stderr } = await node(['--input-type=module', '-e', src]);
    expect(stderr).toBe('');
    expect(JSON.parse(stdout.trim())).toEqual({
      distinctClasses: true,
      codes: ['PACKAGE_NOT_FOUND', 'PACKAGE_NOT_FOUND'],
      cjsSeesEsm: true,
      esmSeesCjs: true,
      instanceofAcross: [true, true],
      subclassByClass: [true, false, false],
      plainErrors: [false, false, false, false],
    });
  });

  it('ships type declarations for both formats', () => {
    for (const f of ['index.d.ts', 'index.d.cts', 'testing/index.d.ts']) {
      expect(existsSync(path.join(root, 'dist', f)), f).toBe(true);
    }
  });
});
