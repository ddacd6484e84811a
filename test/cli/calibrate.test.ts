import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readPackage } from '../../src/package/index.js';
import type { CalibrationRow } from '../../src/cli/commands/calibrate.js';
import { makeTinyPackage } from '../helpers/tiny-package.js';
import { cli, useTempDir } from './helpers.js';

const tmp = useTempDir('stitchnet-calibrate-cli-');
let pkgDir: string;
let cacheDir: string;

beforeAll(async () => {
  pkgDir = (await makeTinyPackage(path.join(tmp.dir, 'tiny'))).dir;
  cacheDir = path.join(tmp.dir, 'cache');
});

describe('stitchnet calibrate', () => {
  it('measures the candidates, prints the table on stdout, fills the cache; the next run reads it', async () => {
    const manifest = (await readPackage(pkgDir)).manifest;
    const candidates =
      manifest.frontier && manifest.frontier.length > 0 ? manifest.frontier : manifest.stitches.map((s) => s.id);
    const args = ['calibrate', pkgDir, '--provider', 'cpu', '--batch', '1,2', '--rounds', '5', '--cache-dir', cacheDir];
    const first = await cli(args);
    expect(first.code, first.stderr).toBe(0);
    const lines = first.stdout.trim().split('\n');
    expect(lines[0]).toBe('provider cpu');
    expect(lines[1]).toMatch(/stitch\s+batch\s+p50 ms\s+p95 ms\s+runs\s+source/);
    expect(lines.slice(2)).toHaveLength(2 * candidates.length);
    for (const l of lines.slice(2)) expect(l).toMatch(/^\s*\d+\s+[12]\s+[\d.]+\s+[\d.]+\s+5\s+device\s/);
    expect(first.stderr).toMatch(
      new RegExp(`measured ${2 * candidates.length} figures in \\d+ ms; cache .*calibration`),
    );

    const again = await cli([...args, '--json']);
    expect(again.code, again.stderr).toBe(0);
    const report = JSON.parse(again.stdout) as {
      cache: string;
      measured: number;
      provider: string;
      stitches: CalibrationRow[];
    };
    expect(report).toMatchObject({ cache: 'hit', measured: 0, provider: 'cpu' });
    expect(report.stitches.map((r) => [r.stitch, r.batch]).sort()).toEqual(
      candidates
        .flatMap((id) => [
          [id, 1],
          [id, 2],
        ])
        .sort(),
    );
    expect(again.stderr).toMatch(/^from the cache in \d+ ms/);

    // A runtime that ran a stitch fused kept its fused ÷ route ratio in the cache: a column of its own.
    const file = (JSON.parse(again.stdout) as { file: string }).file;
    const cached = JSON.parse(await readFile(file, 'utf8')) as { entries: { stitch: number; fusedRatio?: number }[] };
    const fused = cached.entries[0] as { stitch: number; batch: number; fusedRatio?: number };
    fused.fusedRatio = 0.8;
    await writeFile(file, JSON.stringify(cached));
    const third = await cli(args);
    const rows = third.stdout.trim().split('\n');
    expect(rows[1]).toMatch(/device ÷ package\s+fused ÷ route$/);
    expect(rows.filter((l) => l.endsWith('0.80×'))).toHaveLength(1);
    expect(rows.filter((l) => l.endsWith('—'))).toHaveLength(rows.length - 3);
    const json = JSON.parse((await cli([...args, '--json'])).stdout) as { stitches: CalibrationRow[] };
    expect(json.stitches.filter((r) => r.fusedRatio === 0.8)).toEqual([
      expect.objectContaining({ stitch: fused.stitch, batch: fused.batch }),
    ]);
  });

  it("lets simulate decide on this device's calibration (--latency device), and says how to make one when there is none", async () => {
    const family = 'models/fmnist-vit';
    const calibrated = await cli(['calibrate', family, '--provider', 'cpu', '--rounds', '5', '--cache-dir', cacheDir]);
    expect(calibrated.code, calibrated.stderr).toBe(0);
    // A latency limit, so that the figures matter.
    const profile = path.join(tmp.dir, 'latency.yaml');
    await writeFile(profile, 'objective: max-accuracy\nlimits: { maxLatencyMs: 1000 }\n');
    const args = [
      'simulate',
      '--model',
      family,
      '--profile',
      profile,
      '--trace',
      'examples/traces/laptop-unplugged.csv',
    ];
    const device = await cli([...args, '--latency', 'device', '--cache-dir', cacheDir, '--json']);
    expect(device.code, device.stderr).toBe(0);
    const first = (JSON.parse(device.stdout) as { switches: { reason: string }[] }).switches[0];
    expect(first?.reason).toMatch(/latency ≤ 1000 ms at slowdown 1× on device latencies/);

    const none = await cli([...args, '--latency', 'device', '--cache-dir', path.join(tmp.dir, 'empty-cache')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/no calibration of .* on "cpu".*\[OPTION_INVALID\]/s);
    expect(none.stderr).toContain(`stitchnet calibrate ${family} --provider cpu`);
    const pkgLatency = await cli([...args, '--json']);
    expect(pkgLatency.code, pkgLatency.stderr).toBe(0);
    expect((JSON.parse(pkgLatency.stdout) as { switches: { reason: string }[] }).switches[0]?.reason).toMatch(
      /on package latencies/,
    );
  });

  it('rejects bad options with exit status 2', async () => {
    const r = await cli(['calibrate', pkgDir, '--batch', '0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--batch');
    expect((await cli(['calibrate', pkgDir, '--provider', 'tpu'])).code).toBe(2);
  });

  it('fails with the package error for a folder that is not a package', async () => {
    const r = await cli(['calibrate', path.join(tmp.dir, 'nothing')]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/PACKAGE_NOT_FOUND/);
  });
});
