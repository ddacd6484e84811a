/**
 * The CLI on hostile input: a clear StitchnetError message and exit code, never "internal error"
 * or a stack.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, cliPath, root, useTempDir } from './helpers.js';

const tmp = useTempDir('stitchnet-cli-hostile-');

const noBug = (stderr: string) => {
  expect(stderr).not.toMatch(/internal error|this is a bug|\n\s+at /);
};

describe('stitchnet on hostile input', () => {
  it('validate: an alias bomb and deep nesting are findings, not crashes', async () => {
    let bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n';
    let prev = 'a';
    for (let i = 0; i < 9; i++) {
      bomb += `b${i}: &b${i} [${Array(9).fill(`*${prev}`).join(',')}]\n`;
      prev = `b${i}`;
    }
    const bombFile = path.join(tmp.dir, 'bomb.yaml');
    const deepFile = path.join(tmp.dir, 'deep.yaml');
    await writeFile(bombFile, bomb);
    await writeFile(
      deepFile,
      `rules:\n  - name: r\n    limit: { maxCostFraction: 0.5 }\n    when: ${'{ all: ['.repeat(3000)}{ cpu.load: { above: 1 } }${']}'.repeat(3000)}\n`,
    );
    const r = await cli(['validate', bombFile, deepFile]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/too many YAML aliases/);
    expect(r.stdout).toMatch(/nested deeper than 100 levels/);
    noBug(r.stderr);
  });

  it('simulate: a header-only trace and an out-of-range value are TRACE_INVALID with file, line and column', async () => {
    const empty = path.join(tmp.dir, 'empty.csv');
    const range = path.join(tmp.dir, 'range.csv');
    await writeFile(empty, '"t_ms","battery.percent"\r\n');
    await writeFile(range, '\uFEFFt_ms,battery.percent\n0,80\n1000,150\n');
    const args = (trace: string) => [
      'simulate',
      '--model',
      path.join(root, 'models', 'fmnist-vit'),
      '--profile',
      path.join(root, 'profiles', 'balanced.yaml'),
      '--trace',
      trace,
    ];
    const a = await cli(args(empty));
    expect(a.code).toBe(1);
    expect(a.stderr).toMatch(/header but no rows.*\[TRACE_INVALID\]/);
    noBug(a.stderr);
    const b = await cli(args(range));
    expect(b.code).toBe(1);
    expect(b.stderr).toMatch(
      /150 is above its range 0..100 %.*line 3, column 2 \(battery.percent\).*\[TRACE_INVALID\]/,
    );
    noBug(b.stderr);
  });

  it('demo: a reader that closes the pipe after the first line (`| head -1`) ends the command quietly, exit 0', async () => {
    const child = spawn(process.execPath, [cliPath, 'demo', '--duration', '30'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // As `| head -1` does: read the first chunk, then close the read end.
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expect(stderr).not.toMatch(/EPIPE|Unhandled/);
    noBug(stderr);
  });
});
