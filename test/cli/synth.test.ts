import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { graphInputs, graphOutputs, readModel } from '../../src/onnx/index.js';
import { synthVitArgs } from './fixture.js';
import { cli, useTempDir } from './helpers.js';

const tmp = useTempDir('stitchnet-synth-');

describe('stitchnet synth vit', () => {
  it('writes a tiny family of whole ViT anchors, smallest first', async () => {
    const out = path.join(tmp.dir, 'tiny');
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
    const out = path.join(tmp.dir, 'custom');
    const r = await cli(synthVitArgs(out, { dims: '64,32', heads: '2,1', depth: 2 }));
    expect(r.code).toBe(0);
    // "wrote …" notes on stderr, nothing else on stdout
    expect(r.stderr).toMatch(/^note: wrote \S*vit-d32\.onnx[\s\S]*vit-d64\.onnx/);
    expect(r.stdout).toBe('');
  });

  it('rejects a bad option with its name, the valid values and exit code 2', async () => {
    const r = await cli(['synth', 'vit', '--preset', 'huge', '--out', tmp.dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--preset');
    expect(r.stderr).toContain('"deit"');
    expect(r.stderr).toContain('OPTION_INVALID');
  });

  it('asks for --dims or --preset', async () => {
    const r = await cli(['synth', 'vit', '--out', tmp.dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--preset or --dims/);
  });
});
