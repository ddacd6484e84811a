import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useFiguresFixture } from './figures.js';
import { cli } from './helpers.js';

const SHIPPED = ['balanced', 'battery-saver', 'performance', 'thermal-guard'].map((n) => `profiles/${n}.yaml`);

const fixture = useFiguresFixture('stitchnet-validate-');

interface ValidateJson {
  valid: boolean;
  model: { name: string; stitches: number } | null;
  profiles: {
    file: string;
    valid: boolean;
    name: string | null;
    findings: {
      severity: 'error' | 'warning';
      line: number | null;
      column: number | null;
      field: string;
      message: string;
      hint: string | null;
      validValues: (string | number)[] | null;
    }[];
  }[];
}

async function profileFile(name: string, text: string): Promise<string> {
  const file = path.join(fixture.dir, name);
  await writeFile(file, text);
  return file;
}

describe('stitchnet schema profile', () => {
  it('prints the JSON Schema shipped as profiles/profile.schema.json', async () => {
    const r = await cli(['schema', 'profile']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(await readFile('profiles/profile.schema.json', 'utf8'));
    expect((JSON.parse(r.stdout) as { title: string }).title).toBe('stitchnet profile');
  });
});

describe('stitchnet validate', () => {
  it('finds the four shipped profiles valid', async () => {
    const r = await cli(['validate', ...SHIPPED]);
    expect(r.code).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual(SHIPPED.map((f) => `${f}: valid`));
  });

  it('lists every problem of a broken profile with file:line:column and a hint, and exits 1', async () => {
    const file = await profileFile(
      'broken.yaml',
      [
        'name: broken',
        'rules:',
        '  - name: low',
        '    when:',
        '      battery.pct: { below: 20 }',
        '    limit: { maxCostFraction: "half" }',
        'switching:',
        '  minDwellMs: -5',
        '',
      ].join('\n'),
    );
    const r = await cli(['validate', file]);
    expect(r.code).toBe(1);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toContain(
      `${file}:5:7: error: rules[0].when["battery.pct"]: Unknown signal "battery.pct"; did you mean "battery.percent"?`,
    );
    expect(lines).toContain(
      `${file}:6:14: error: rules[0].limit.maxCostFraction: Expected a number, got string "half"`,
    );
    expect(lines).toContain(`${file}:8:3: error: switching.minDwellMs: Must be ≥ 0 (ms), got number -5`);
    expect(lines.filter((l) => l.startsWith('    hint: '))).toHaveLength(2);
    expect(lines.at(-1)).toBe(`${file}: invalid, 3 problems`);

    const j = await cli(['validate', file, 'profiles/balanced.yaml', '--json']);
    expect(j.code).toBe(1);
    const report = JSON.parse(j.stdout) as ValidateJson;
    expect(report.valid).toBe(false);
    expect(report.profiles.map((p) => p.valid)).toEqual([false, true]);
    expect(report.profiles[0]?.findings[0]).toMatchObject({
      severity: 'error',
      line: 5,
      column: 7,
      field: 'rules[0].when["battery.pct"]',
    });
    expect(report.profiles[0]?.findings[0]?.validValues).toContain('battery.percent');
  });

  it('reports a YAML syntax error and an unreadable file as problems', async () => {
    const file = await profileFile('syntax.yaml', 'rules:\n  - name: a\n   when: {\n');
    const r = await cli(['validate', file, path.join(fixture.dir, 'missing.yaml')]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(
      new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: error: \\(syntax\\): Syntax error`),
    );
    expect(r.stdout).toContain(
      `${path.join(fixture.dir, 'missing.yaml')}: error: (file): Cannot read the profile (ENOENT)`,
    );
  });

  it('with --model, checks the profile against the package', async () => {
    const ok = await cli(['validate', ...SHIPPED, '--model', fixture.designed]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('profiles/balanced.yaml: valid for designed (17 stitches)');

    // battery-saver sets an accuracy floor, which a package without accuracy figures cannot meet.
    const noAccuracy = await cli(['validate', 'profiles/battery-saver.yaml', '--model', fixture.plain]);
    expect(noAccuracy.code).toBe(1);
    expect(noAccuracy.stdout).toMatch(
      /^profiles\/battery-saver\.yaml:\d+:\d+: error: limits\.minAccuracy: The package has no accuracy figures/m,
    );
    expect(noAccuracy.stdout).toContain('    hint: Rebuild the package with an evaluation set');

    const unknown = await profileFile(
      'unknown-stitch.yaml',
      'rules:\n  - name: pinned\n    when: { cpu.load: { above: 90 } }\n    limit: { stitches: [0, 99] }\n',
    );
    const u = await cli(['validate', unknown, '--model', fixture.designed, '--json']);
    expect(u.code).toBe(1);
    const finding = (JSON.parse(u.stdout) as ValidateJson).profiles[0]?.findings[0];
    expect(finding).toMatchObject({
      severity: 'error',
      line: 4,
      field: 'rules[0].limit.stitches[1]',
      message: 'Stitch 99 does not exist in this package',
    });
    expect(finding?.validValues).toHaveLength(17);
  });

  it('with --model, warns about limits no stitch can meet, and stays valid', async () => {
    const file = await profileFile(
      'tight.yaml',
      'rules:\n  - name: tiny\n    when: { cpu.load: { above: 90 } }\n    limit: { maxMacs: 1000 }\n',
    );
    const r = await cli(['validate', file, '--model', fixture.designed]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      `${file}:4:5: warning: rules[0].limit: No stitch of designed meets the limits of rule "tiny" (with the profile's limits)`,
    );
    expect(r.stdout).toContain(`${file}: valid for designed (17 stitches) with 1 warning`);
  });

  it('exits 2 on bad usage', async () => {
    const r = await cli(['validate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("missing required argument 'profiles'");
  });
});
