import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ProfileError } from '../../src/errors.js';
import {
  parseProfile,
  profileFromObject,
  validateProfileText,
  type ParseProfileOptions,
  type ProfileIssue,
} from '../../src/profiles/parse.js';
import { checkProfileForCatalog } from '../../src/policy/check.js';
import { DEFAULT_SAMPLING, type SamplingOptions } from '../../src/signals/options.js';
import { catalogOf } from '../../src/testing/index.js';

const dir = join(import.meta.dirname, '../../profiles');
const shipped = readdirSync(dir).filter((f) => f.endsWith('.yaml'));

function issues(text: string, check?: ParseProfileOptions['check']): ProfileIssue[] {
  const v = validateProfileText(text, { file: 'p.yaml', check });
  if (v.ok) throw new Error('expected the profile to be rejected');
  return v.issues;
}

function only(text: string, check?: ParseProfileOptions['check']): ProfileIssue {
  const list = issues(text, check);
  expect(list, JSON.stringify(list)).toHaveLength(1);
  return list[0] as ProfileIssue;
}

describe('the shipped profiles', () => {
  it('are balanced, battery-saver, performance and thermal-guard', () => {
    expect(shipped.sort()).toEqual(['balanced.yaml', 'battery-saver.yaml', 'performance.yaml', 'thermal-guard.yaml']);
  });

  it.each(shipped)('%s is valid, named after its file, and points editors at the schema', (file) => {
    const text = readFileSync(join(dir, file), 'utf8');
    expect(text.split('\n')[0]).toBe('# yaml-language-server: $schema=./profile.schema.json');
    const profile = parseProfile(text, { file });
    expect(profile.name).toBe(file.replace(/\.yaml$/, ''));
    expect(profile.rules.length).toBeGreaterThan(0);
    // Commented so that a reader learns the format: a comment in every few lines.
    expect(text.split('\n').filter((l) => l.includes('#')).length).toBeGreaterThan(8);
  });
});

describe('profile defaults', () => {
  it('fills in everything not written', () => {
    const p = parseProfile('{}');
    expect(p.objective).toBe('max-accuracy');
    expect(p.limits).toEqual({});
    expect(p.rules).toEqual([]);
    expect(p.switching).toEqual({
      minDwellMs: 5000,
      degradeAfterMs: 0,
      upgradeAfterMs: 15000,
      upgradeQuorum: 0.75,
      backoff: { windowMs: 60_000, factor: 2, maxMs: 120_000, resetAfterMs: 300_000 },
      latencyMargin: 0.1,
      hysteresis: {},
    });
    expect(p.sampling.fastMs).toBe(1000);
    expect(p.ort.allowSpinning).toBe(false);
  });

  it('has a sampling block that the signal sources take as is', () => {
    const sampling: SamplingOptions = parseProfile('{}').sampling;
    expect(sampling).toEqual(DEFAULT_SAMPLING);
  });

  it('reads JSON as well as YAML', () => {
    const p = parseProfile('{"objective": "min-cost", "limits": {"minAccuracy": 0.8}}', { file: 'p.json' });
    expect(p.objective).toBe('min-cost');
    expect(p.limits.minAccuracy).toBe(0.8);
  });
});

describe('bad profiles are rejected with file, line, field and a hint', () => {
  it('an unknown key: lists the valid keys and guesses the intended one', () => {
    const i = only('name: x\nobjectve: min-cost\n');
    expect(i).toMatchObject({ line: 2, column: 1, field: 'objectve' });
    expect(i.message).toContain('did you mean "objective"');
    expect(i.hint).toContain(
      'Valid keys here: $schema, name, description, objective, limits, rules, switching, sampling, ort',
    );
  });

  it('an unknown key inside a rule', () => {
    const i = only(
      'rules:\n  - name: r\n    when: { cpu.load: { above: 90 } }\n    limit: { maxCostFraction: 0.5 }\n    limt: 1\n',
    );
    expect(i).toMatchObject({ line: 5, field: 'rules[0].limt' });
    expect(i.validValues).toEqual(['name', 'description', 'when', 'limit', 'unavailable']);
  });

  it('an unknown signal: lists the valid signal names', () => {
    const i = only(
      'rules:\n  - name: r\n    when:\n      battery.pct: { below: 20 }\n    limit: { maxCostFraction: 0.5 }\n',
    );
    expect(i).toMatchObject({ line: 4, column: 7, field: 'rules[0].when["battery.pct"]' });
    expect(i.message).toContain('Unknown signal "battery.pct"; did you mean "battery.percent"');
    expect(i.validValues).toContain('thermal.trendCPerMin');
    expect(i.hint).toContain('app.<name>');
  });

  it('an unknown signal nested in any/all, and in the hysteresis table', () => {
    const list = issues(
      'rules:\n  - name: r\n    when:\n      any:\n        - { gpu.util: { above: 90 } }\n    limit: { maxMacs: 5 }\nswitching:\n  hysteresis: { temp: 2 }\n',
    );
    expect(list.map((i) => [i.field, i.line])).toEqual([
      ['rules[0].when.any[0]["gpu.util"]', 5],
      ['switching.hysteresis.temp', 8],
    ]);
  });

  it('a threshold of the wrong type', () => {
    const i = only(
      'rules:\n  - name: r\n    when:\n      battery.percent: { below: "20%" }\n    limit: { maxCostFraction: 0.5 }\n',
    );
    expect(i).toMatchObject({ line: 4, field: 'rules[0].when["battery.percent"].below' });
    expect(i.message).toBe('Expected a number, got string "20%"');
    expect(i.hint).toContain('Thresholds are plain numbers');
  });

  it('a range on a boolean signal', () => {
    const i = only(
      'rules:\n  - name: r\n    when:\n      battery.charging: { below: 1 }\n    limit: { maxCostFraction: 0.5 }\n',
    );
    expect(i.field).toBe('rules[0].when["battery.charging"]');
    expect(i.hint).toContain('battery.charging: false');
  });

  it('a condition that can never hold', () => {
    const i = only(
      'rules:\n  - name: r\n    when:\n      battery.percent: { below: 20, above: 80 }\n    limit: { maxCostFraction: 0.5 }\n',
    );
    expect(i).toMatchObject({ line: 4, field: 'rules[0].when["battery.percent"]' });
    expect(i.message).toContain('can never hold');
    expect(i.hint).toContain('any:');
    expect(
      only('rules:\n  - name: r\n    when: { battery.percent: { above: 100 } }\n    limit: { maxMacs: 1 }\n').message,
    ).toContain('between 0 and 100');
    expect(
      only('rules:\n  - name: r\n    when: { cpu.load: { between: [50, 10] } }\n    limit: { maxMacs: 1 }\n').field,
    ).toBe('rules[0].when["cpu.load"].between');
    expect(
      only('rules:\n  - name: r\n    when: { cpu.load: { below: 10, equals: 20 } }\n    limit: { maxMacs: 1 }\n')
        .message,
    ).toContain('can never hold');
  });

  it('a negative dwell', () => {
    const i = only('switching:\n  minDwellMs: -100\n');
    expect(i).toMatchObject({ line: 2, field: 'switching.minDwellMs' });
    expect(i.message).toBe('Must be ≥ 0 (ms), got number -100');
  });

  it('a provider that does not exist', () => {
    const i = only('limits:\n  provider: [cuda, gpu]\n');
    expect(i).toMatchObject({ line: 2, field: 'limits.provider[1]' });
    expect(i.validValues).toEqual(['cuda', 'tensorrt', 'dml', 'webgpu', 'coreml', 'cpu']);
    const single = only('limits:\n  provider: cpux\n');
    expect(single.message).toContain('did you mean "cpu"');
  });

  it('a stitch or provider that does not exist in the package (checked against it)', () => {
    const catalog = catalogOf([
      { id: 0, macs: 1e6, accuracy: 0.7 },
      { id: 1, macs: 2e6, accuracy: 0.8 },
    ]);
    const check = (p: Parameters<typeof checkProfileForCatalog>[0]) =>
      checkProfileForCatalog(p, catalog, { providers: ['cpu', 'webgpu'] });
    const list = issues(
      'rules:\n  - name: r\n    when: { cpu.load: { above: 90 } }\n    limit:\n      stitches: [1, 7]\n      provider: cuda\n',
      check,
    );
    expect(list.map((i) => [i.field, i.line])).toEqual([
      ['rules[0].limit.stitches[1]', 5],
      ['rules[0].limit.provider', 6],
    ]);
    expect(list[0]?.validValues).toEqual([0, 1]);
    expect(list[1]?.validValues).toEqual(['cpu', 'webgpu']);
  });

  it('a YAML syntax error', () => {
    const i = only('rules:\n  - name: r\n    when: { cpu.load: { above: 90 }\n    limit: {}\n');
    expect(i.field).toBe('(syntax)');
    expect(i.line).toBeGreaterThanOrEqual(3);
    expect(i.message).toMatch(/^Syntax error: /);
    expect(only('a: 1\na: 2\n').hint).toContain('once');
  });

  it('a JSON syntax error', () => {
    const i = only('{\n  "objective": "min-cost",\n  "limits": { "minAccuracy": 0.8 \n}\n');
    expect(i.line).toBeGreaterThanOrEqual(3);
  });

  it('duplicate rule names, a rule without limits, an empty condition set', () => {
    const list = issues(
      'rules:\n  - name: r\n    when: { cpu.load: { above: 9 } }\n    limit: {}\n  - name: r\n    when: {}\n    limit: { maxMacs: 1 }\n',
    );
    expect(list.map((i) => [i.field, i.line])).toEqual([
      ['rules[0].limit', 4],
      ['rules[1].name', 5],
      ['rules[1].when', 6],
    ]);
  });

  it('throws a ProfileError with the file and every problem', () => {
    let error: unknown;
    try {
      parseProfile('objective: best\nswitching: { minDwellMs: -1 }\n', { file: 'profiles/x.yaml' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProfileError);
    const e = error as ProfileError;
    expect(e.code).toBe('PROFILE_INVALID');
    expect(e.file).toBe('profiles/x.yaml');
    expect(e.field).toBe('objective');
    expect(e.message).toContain('2 problems');
    expect(e.message).toContain('line 1:1 objective');
    expect(e.message).toContain('line 2:14 switching.minDwellMs');
    expect(e.message).toContain('profiles/x.yaml');
  });

  it('validates profile objects too (path, no line)', () => {
    expect(() => profileFromObject({ limits: { maxCostFraction: 2 } })).toThrow(/limits\.maxCostFraction/);
    expect(profileFromObject({ objective: 'min-cost' }).objective).toBe('min-cost');
  });

  it('an empty profile', () => {
    expect(only('').message).toBe('The profile is empty');
  });
});
