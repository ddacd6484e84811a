import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readPackage } from '../../src/package/index.js';
import type { Manifest } from '../../src/package/schema.js';
import { buildArgs, makeFixture, V1_STITCHES } from './fixture.js';
import { cli, useTempDir } from './helpers.js';

const tmp = useTempDir('stitchnet-inspect-');
let pkgDir: string;
let manifest: Manifest;
beforeAll(async () => {
  const fx = await makeFixture(tmp.dir);
  pkgDir = path.join(tmp.dir, 'tiny');
  const r = await cli(
    buildArgs(fx, pkgDir, { '--calib-samples': '100', '--eval': fx.eval, '--eval-samples': '100', '--batch': '1' }),
  );
  if (r.code !== 0) throw new Error(`build failed: ${r.stderr}`);
  manifest = (await readPackage(pkgDir)).manifest;
});

interface InspectJson {
  dir: string;
  name: string;
  stitches: {
    id: number;
    route: string;
    macs: number;
    params: number;
    accuracy: number;
    p50Ms: number;
    p95Ms: number;
    frontier: boolean;
    latencyFrontier: boolean;
  }[];
  frontier: number[];
  latency: { provider: string; batch: string; device?: string } | null;
  plot: string[] | null;
  compare: { dir: string; name: string; label: string }[] | null;
  notes: string[];
}

describe('stitchnet inspect', () => {
  it('lists every stitch with MACs, params, accuracy, latency and frontier as JSON', async () => {
    const r = await cli(['inspect', pkgDir, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as InspectJson;
    expect(j.stitches).toHaveLength(V1_STITCHES);
    expect(j.latency).toMatchObject({ provider: 'cpu', batch: '1' });
    expect(j.plot).toBeNull();
    expect(j.compare).toBeNull();
    for (const [i, row] of j.stitches.entries()) {
      const s = manifest.stitches[i] as Manifest['stitches'][number];
      expect(row.id).toBe(s.id);
      expect(row.macs).toBe(s.macs);
      expect(row.params).toBe(s.params);
      expect(row.macs).toBeGreaterThan(0);
      expect(row.params).toBeGreaterThan(0);
      expect(row.accuracy).toBe(s.accuracy);
      expect(row.p50Ms).toBeGreaterThan(0);
      expect(row.frontier).toBe(manifest.frontier.includes(s.id));
    }
    expect(j.stitches[3]?.route).toMatch(/^vit-d16\[0-0\] → vit-d16-vit-d24\.0 → vit-d24\[0-2\]$/);
  });

  it('prints the stitch table', async () => {
    const r = await cli(['inspect', pkgDir]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^tiny: ${V1_STITCHES} stitches, latency on cpu batch 1`));
    // One MACs unit for the whole table: that of its costliest stitch, named in the header.
    const max = Math.max(...manifest.stitches.map((s) => s.macs as number));
    const [unit, scale] = max >= 1e9 ? ['GMACs', 1e9] : max >= 1e6 ? ['MMACs', 1e6] : ['kMACs', 1e3];
    expect(lines[1]).toMatch(
      new RegExp(`^id\\s+route\\s+${unit}\\s+params \\(M\\)\\s+top-1 %\\s+p50 ms\\s+p95 ms\\s+frontier$`),
    );
    // The MACs column: the first number after the route (which ends in "]"), as printed (≥ 3 significant digits).
    const column = lines.slice(2).map((l) => Number(l.match(/\]\s+([\d.]+)\s/)?.[1]));
    column.forEach((v, i) =>
      expect(Math.abs(v - (manifest.stitches[i]?.macs as number) / (scale as number))).toBeLessThanOrEqual(0.5),
    );
    expect(lines).toHaveLength(2 + V1_STITCHES);
    expect(lines.filter((l) => /MACs/.test(l.slice(-15)))).toHaveLength(manifest.frontier.length);
  });

  it('writes the Pareto plot to each --plot file, the extension picking SVG or PNG', async () => {
    const prefix = path.join(tmp.dir, 'plots', 'pareto');
    const r = await cli(['inspect', pkgDir, '--plot', `${prefix}.svg`, '--plot', `${prefix}.png`, '--json']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as InspectJson;
    expect(j.plot).toEqual([`${prefix}.svg`, `${prefix}.png`]);
    const svg = await readFile(`${prefix}.svg`, 'utf8');
    expect(svg.length).toBeGreaterThan(1000);
    expect(svg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
    const png = await readFile(`${prefix}.png`);
    expect(png.length).toBeGreaterThan(1000);
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  });

  it('writes <name>-pareto.svg in the current folder for a bare --plot, saying so on stderr', async () => {
    const cwd = await mkdtemp(path.join(tmp.dir, 'cwd-'));
    const r = await cli(['inspect', pkgDir, '--plot'], { cwd });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('note: wrote the Pareto plot to tiny-pareto.svg\n');
    expect(r.stdout).not.toContain('wrote');
    expect((await readFile(path.join(cwd, 'tiny-pareto.svg'), 'utf8')).startsWith('<svg')).toBe(true);
    expect(existsSync(path.join(cwd, 'tiny-pareto.png'))).toBe(false);
  });

  it('rejects the old --plot <prefix> form with the files to ask for', async () => {
    const r = await cli(['inspect', pkgDir, '--plot', path.join(tmp.dir, 'old-prefix')]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /--plot takes a file ending in \.svg or \.png.*--plot \S*old-prefix\.svg --plot \S*old-prefix\.png/,
    );
    expect(existsSync(path.join(tmp.dir, 'old-prefix.svg'))).toBe(false);
  });

  it('says why there is no plot for a package without accuracies', async () => {
    const single = path.join(tmp.dir, 'single');
    const b = await cli([
      'build',
      '--anchors',
      path.join(tmp.dir, 'family', 'vit-d16.onnx'),
      '--out',
      single,
      '--threads',
      '1',
    ]);
    expect(b.code).toBe(0);
    const r = await cli(['inspect', single, '--plot', path.join(tmp.dir, 'none.svg')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^note: .*no accuracies/);
    expect(r.stdout).toMatch(/^single: 1 stitches/);
  });

  it('refuses a latency provider the package was not profiled on, listing the measured ones', async () => {
    const r = await cli(['inspect', pkgDir, '--provider', 'cuda']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--provider');
    expect(r.stderr).toContain('"cpu"');
    const b = await cli(['inspect', pkgDir, '--batch', '8']);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/--batch[\s\S]*Valid values: 1/);
  });

  describe('--compare', () => {
    let tuned: string;
    beforeAll(async () => {
      // The same package "after fine-tuning": the same pieces, every accuracy a little higher.
      tuned = path.join(tmp.dir, 'tiny-tuned');
      await cp(pkgDir, tuned, { recursive: true });
      const m = structuredClone(manifest);
      for (const s of m.stitches) s.accuracy = Math.min(1, (s.accuracy as number) + 0.05);
      await writeFile(path.join(tuned, 'stitchnet.json'), JSON.stringify(m, null, 2));
    });

    it('writes the comparison plot of both packages with their labels, and keeps the main table', async () => {
      const prefix = path.join(tmp.dir, 'plots', 'compare');
      const r = await cli([
        'inspect',
        pkgDir,
        '--compare',
        tuned,
        '--labels',
        'before,after',
        '--plot',
        `${prefix}.svg`,
        '--plot',
        `${prefix}.png`,
        '--json',
      ]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      const j = JSON.parse(r.stdout) as InspectJson;
      expect(j.plot).toEqual([`${prefix}.svg`, `${prefix}.png`]);
      expect(j.compare).toEqual([
        { dir: path.resolve(pkgDir), name: 'tiny', label: 'before' },
        { dir: path.resolve(tuned), name: 'tiny', label: 'after' },
      ]);
      expect(j.stitches.map((s) => s.accuracy)).toEqual(manifest.stitches.map((s) => s.accuracy));
      const svg = await readFile(`${prefix}.svg`, 'utf8');
      expect(svg).toMatch(/^<svg[\s\S]*<\/svg>\s*$/);
      expect(svg).toContain('before vs after: accuracy vs MACs');
      expect(svg).toContain('>before<');
      expect(svg).toContain('>after<');
      expect(svg.match(/stroke-dasharray/g)).toHaveLength(2);
      const png = await readFile(`${prefix}.png`);
      expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    });

    it('labels by folder name when the package names repeat and writes <name>-compare.svg for a bare --plot', async () => {
      const cwd = await mkdtemp(path.join(tmp.dir, 'cwd-'));
      const r = await cli(['inspect', pkgDir, '--compare', tuned, '--plot'], { cwd });
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^tiny: ${V1_STITCHES} stitches`));
      expect(r.stderr).toContain('note: wrote the comparison plot to tiny-compare.svg');
      const svg = await readFile(path.join(cwd, 'tiny-compare.svg'), 'utf8');
      expect(svg).toContain('>tiny<');
      expect(svg).toContain('>tiny-tuned<');
    });

    it('refuses --compare without --plot and a --labels count that does not match', async () => {
      const noPlot = await cli(['inspect', pkgDir, '--compare', tuned]);
      expect(noPlot.code).toBe(2);
      expect(noPlot.stderr).toMatch(/option --compare.*Add --plot/);
      const labels = await cli([
        'inspect',
        pkgDir,
        '--compare',
        tuned,
        '--plot',
        path.join(tmp.dir, 'x.svg'),
        '--labels',
        'only-one',
      ]);
      expect(labels.code).toBe(2);
      expect(labels.stderr).toMatch(/--labels needs 2 non-empty comma-separated labels.*option --labels/);
      const alone = await cli(['inspect', pkgDir, '--labels', 'a,b']);
      expect(alone.code).toBe(2);
      expect(alone.stderr).toContain('there is no --compare');
    });
  });

  it('exits 1 with the package error for a folder that is not a package', async () => {
    const r = await cli(['inspect', path.join(tmp.dir, 'nothing-here')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('PACKAGE_NOT_FOUND');
  });
});
