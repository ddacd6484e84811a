#!/usr/bin/env node
/**
 * Lists the longest functions (declarations, methods, arrow functions and function expressions)
 * under the given folders, by line count, using the TypeScript compiler's parser.
 *
 *   npm run report:functions                 # the 15 longest in src/
 *   npm run report:functions -- --top 5 src bench
 *   npm run report:functions -- --over 80    # every function over 80 lines
 *   npm run report:functions -- --json
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

function parseArgs(argv) {
  const out = { top: 15, over: undefined, json: false, roots: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--top') out.top = Number(argv[++i]);
    else if (a === '--over') out.over = Number(argv[++i]);
    else if (a === '--json') out.json = true;
    else out.roots.push(a);
  }
  if (out.roots.length === 0) out.roots.push('src');
  return out;
}

function* tsFiles(dir) {
  for (const name of readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) yield* tsFiles(file);
    else if (/\.(c|m)?tsx?$/.test(name) && !name.endsWith('.d.ts')) yield file;
  }
}

/** The name a function is known by: its own, its variable's, its property's, or `(anonymous)`. */
function nameOf(node, source) {
  if (node.name) return node.name.getText(source);
  if (ts.isConstructorDeclaration(node)) return 'constructor';
  const parent = node.parent;
  if (
    parent &&
    (ts.isVariableDeclaration(parent) || ts.isPropertyAssignment(parent) || ts.isPropertyDeclaration(parent))
  ) {
    return parent.name.getText(source);
  }
  return '(anonymous)';
}

/** The enclosing class's name, for methods. */
function ownerOf(node, source) {
  for (let p = node.parent; p; p = p.parent) if (ts.isClassLike(p) && p.name) return `${p.name.getText(source)}.`;
  return '';
}

function functionsIn(file) {
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found = [];
  const visit = (node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
      const end = source.getLineAndCharacterOfPosition(node.end).line + 1;
      found.push({
        file,
        name: `${ownerOf(node, source)}${nameOf(node, source)}`,
        line: start,
        lines: end - start + 1,
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Every function under `roots`, longest first: `{ file, name, line, lines }`. */
export function functionsUnder(roots) {
  return roots
    .flatMap((root) => [...tsFiles(root)].flatMap(functionsIn))
    .sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file));
}

/** Prints the report for the command line. */
function main(argv) {
  const args = parseArgs(argv);
  const all = functionsUnder(args.roots);
  const shown = args.over === undefined ? all.slice(0, args.top) : all.filter((f) => f.lines > args.over);
  if (args.json) process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
  else for (const f of shown) process.stdout.write(`${String(f.lines).padStart(5)}  ${f.name}  ${f.file}:${f.line}\n`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) main(process.argv.slice(2));
