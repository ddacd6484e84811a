#!/usr/bin/env node
/**
 * The shape of the source tree, as markdown: the folders of src/ with their files and lines, the
 * import arrows between them (dependency-cruiser, folders collapsed), and the longest functions.
 *
 *   npm run report:house                 # this checkout
 *   npm run report:house -- <dir>        # another tree with src/ and tsconfig.json (e.g. an old commit's `git archive`)
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { functionsUnder } from './function-lengths.mjs';

const root = path.resolve(process.argv[2] ?? '.');
const depcruise = path.join(
  path.dirname(fileURLToPath(import.meta.url)),
  '../node_modules/dependency-cruiser/bin/dependency-cruise.mjs',
);

function* files(dir) {
  for (const name of readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) yield* files(file);
    else if (name.endsWith('.ts')) yield file;
  }
}

/** `src/<folder>` (or the top-level file) a path belongs to. */
const areaOf = (rel) => rel.split('/').slice(0, 2).join('/');

function folders() {
  const byArea = new Map();
  for (const file of files(path.join(root, 'src'))) {
    const area = areaOf(path.relative(root, file));
    const lines = readFileSync(file, 'utf8').split('\n').length - 1;
    const entry = byArea.get(area) ?? { files: 0, lines: 0 };
    byArea.set(area, { files: entry.files + 1, lines: entry.lines + lines });
  }
  return byArea;
}

function arrows() {
  const args = [depcruise, 'src', '--no-config', '--ts-config', 'tsconfig.json', '--ts-pre-compilation-deps'];
  args.push('--collapse', '^src/[^/]+', '--do-not-follow', 'node_modules', '--output-type', 'json');
  const report = JSON.parse(
    execFileSync(process.execPath, args, { cwd: root, maxBuffer: 256 << 20, encoding: 'utf8' }),
  );
  const out = new Map();
  for (const m of report.modules) {
    if (!m.source.startsWith('src/')) continue;
    const to = m.dependencies.map((d) => d.resolved).filter((r) => r.startsWith('src/') && r !== m.source);
    if (to.length > 0) out.set(m.source, [...new Set(to)].sort());
  }
  return out;
}

const short = (p) => p.replace(/^src\//, '');
const lines = [];
const byArea = folders();
const total = [...byArea.values()].reduce((s, e) => ({ files: s.files + e.files, lines: s.lines + e.lines }), {
  files: 0,
  lines: 0,
});
lines.push('| folder | files | lines |', '|---|---:|---:|');
for (const [area, e] of [...byArea].sort((a, b) => b[1].lines - a[1].lines))
  lines.push(`| ${short(area)} | ${e.files} | ${e.lines.toLocaleString('en')} |`);
lines.push(`| **src/** | ${total.files} | ${total.lines.toLocaleString('en')} |`, '');
lines.push('Import arrows (a → b: a imports b):', '', '```');
for (const [from, to] of [...arrows()].sort()) lines.push(`${short(from).padEnd(12)} → ${to.map(short).join(', ')}`);
lines.push('```', '', 'Longest functions:', '', '| lines | function | file |', '|---:|---|---|');
for (const f of functionsUnder([path.join(root, 'src')]).slice(0, 5))
  lines.push(`| ${f.lines} | \`${f.name}\` | ${path.relative(root, f.file)}:${f.line} |`);
process.stdout.write(`${lines.join('\n')}\n`);
