/**
 * The command's conventions, end to end on the built CLI: results on stdout and everything else
 * on stderr; colour only on a terminal or with FORCE_COLOR, never with NO_COLOR; an example in
 * every command's --help; MACs in one unit per table, the docs' unit for the shipped family.
 */
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerCommands } from '../../src/cli/commands/index.js';
import { EXAMPLES, leafCommands } from '../../src/cli/examples.js';
import { colorEnabled, paint } from '../../src/cli/style.js';
import { cli } from './helpers.js';

/** This process's environment without the colour variables, plus `extra`. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (k !== 'NO_COLOR' && k !== 'FORCE_COLOR' && v !== undefined) out[k] = v;
  return { ...out, ...extra };
}

const ESC = '\x1b[';

describe('colour', () => {
  it('is on for a colour terminal, off for a pipe; NO_COLOR wins, FORCE_COLOR forces (0 or false: off)', () => {
    const tty = { isTTY: true, hasColors: () => true };
    expect(colorEnabled(tty, {})).toBe(true);
    expect(colorEnabled({ isTTY: true, hasColors: () => false }, {})).toBe(false);
    expect(colorEnabled({ isTTY: false }, {})).toBe(false);
    expect(colorEnabled(tty, { NO_COLOR: '1' })).toBe(false);
    expect(colorEnabled(tty, { NO_COLOR: '' })).toBe(true);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '' })).toBe(true);
    expect(colorEnabled(tty, { FORCE_COLOR: '0' })).toBe(false);
    expect(colorEnabled(tty, { FORCE_COLOR: 'false' })).toBe(false);
    expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '1', NO_COLOR: '1' })).toBe(false);
    expect(paint('red', 'x', { isTTY: false, env: {} })).toBe('x');
    expect(paint('red', 'x', { isTTY: false, env: { FORCE_COLOR: '1' } })).toBe('\x1b[31mx\x1b[39m');
  });

  it('styles the table and errors with FORCE_COLOR, and never with NO_COLOR or on a pipe', async () => {
    const forced = await cli(['inspect', 'models/fmnist-vit'], { env: env({ FORCE_COLOR: '1' }) });
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain(`${ESC}1mfmnist-vit: 35 stitches`);
    const piped = await cli(['inspect', 'models/fmnist-vit'], { env: env() });
    expect(piped.stdout).not.toContain(ESC);
    expect(piped.stdout.replace(/\s+$/, '')).toBe(
      forced.stdout.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '').replace(/\s+$/, ''),
    );
    const off = await cli(['inspect', 'models/fmnist-vit'], { env: env({ FORCE_COLOR: '1', NO_COLOR: '1' }) });
    expect(off.stdout).not.toContain(ESC);
    const error = await cli(['inspect', 'no-such-package'], { env: env({ FORCE_COLOR: '1' }) });
    expect(error.code).toBe(1);
    expect(error.stdout).toBe('');
    expect(error.stderr.startsWith(`${ESC}1m${ESC}31mstitchnet:${ESC}39m${ESC}22m `)).toBe(true);
    expect(error.stderr).toContain('PACKAGE_NOT_FOUND');
    expect((await cli(['inspect', 'no-such-package'], { env: env() })).stderr).toMatch(
      /^stitchnet: .* \[PACKAGE_NOT_FOUND\]\n$/,
    );
  });
});

describe('--help', () => {
  const program = new Command('stitchnet');
  registerCommands(program);
  const paths = leafCommands(program).map((c) =>
    c.parent && c.parent !== program ? `${c.parent.name()} ${c.name()}` : c.name(),
  );

  it('has an example for every command, and only for commands that exist', () => {
    expect(paths.length).toBeGreaterThanOrEqual(7);
    expect(paths.filter((p) => EXAMPLES[p] === undefined)).toEqual([]);
    expect(Object.keys(EXAMPLES).filter((p) => !paths.includes(p))).toEqual([]);
  });

  it.each(['inspect', 'simulate', 'synth vit'])('%s --help ends with its examples', async (p) => {
    const r = await cli([...p.split(' '), '--help'], { env: env() });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\nExamples?:\n {2}\$ stitchnet /);
    for (const line of EXAMPLES[p] ?? []) expect(r.stdout).toContain(`$ ${line}`);
  });
});

describe('stdout and stderr', () => {
  it('inspect: the table alone on stdout, in MMACs for the shipped family (as the docs); a bad option only on stderr', async () => {
    const r = await cli(['inspect', 'models/fmnist-vit', '--plot', 'no-such-dir/../x.jpg'], { env: env() });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    const ok = await cli(['inspect', 'models/fmnist-vit'], { env: env() });
    expect(ok.stderr).toBe('');
    const [title, header, ...rows] = ok.stdout.trimEnd().split('\n');
    expect(title).toMatch(/^fmnist-vit: 35 stitches/);
    expect(header).toMatch(/^id\s+route\s+MMACs\s+params/);
    expect(rows).toHaveLength(35);
  });
});
