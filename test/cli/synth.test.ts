import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphInputs, graphOutputs, readModel } from '../../src/onnx/index.js';
import { cli } from './helpers.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-synth-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('stitchnet synth vit', () => {
  it('writes a tiny family of whole ViT anchors, smallest first', async () => {
    const out = path.join(dir, 'tiny');
    const r = await cli(['synth', 'vit', '--preset', 'tiny', '--out', out, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as { anchors: { file: string; config: { dim: number } }[] };
    expect(report.anchors.map((a) => a.config.dim)).toEqual([48, 96, 192]);
    expect((await readdir(out)).sort()).toEqual(['tiny-l.onnx', 'tiny-m.onnx', 'tiny-s.onnx']);
    const m = await readModel(path.join(out, 'tiny-s.onnx'));
    expect(graphInputs(m)[0]?.shape).toEqual(['batch', 1, 28, 28]);
    expect(graphOutputs(m)[0]?.shape).toEqual(['batch', 10]);
  });

  it('builds custom widths from --dims and sorts them', async () => {
    const out = path.join(dir, 'custom');
    const r = await cli([
      'synth',
      'vit',
      '--dims',
      '64,32',
      '--heads',
      '2,1',
      '--depth',
      '2',
      '--image',
      '28',
      '--patch',
      '7',
      '--channels',
      '1',
      '--classes',
      '10',
      '--out',
      out,
    ]);
    expect(r.code).toBe(0);
    // "wrote …" notes on stderr, nothing else on stdout
    expect(r.stderr).toMatch(/^note: wrote \S*vit-d32\.onnx[\s\S]*vit-d64\.onnx/);
    expect(r.stdout).toBe('');
  });

  it('rejects a bad option with its name, the valid values and exit code 2', async () => {
    const r = await cli(['synth', 'vit', '--preset', 'huge', '--out', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--preset');
    expect(r.stderr).toContain('"deit"');
    expect(r.stderr).toContain('OPTION_INVALID');
  });

  it('asks for --dims or --preset', async () => {
    const r = await cli(['synth', 'vit', '--out', dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--preset or --dims/);
  });
});
