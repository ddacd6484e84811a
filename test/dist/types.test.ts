/**
 * The built type declarations: free of zod (its types broke consumers on TypeScript 5.0 with
 * `skipLibCheck: false`), and a strict consumer compiles against them with `skipLibCheck: false`.
 * `npm test` builds first (`pretest`), so `dist/` is current here.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..', '..');

/** A declaration file and every declaration file it imports by relative path, transitively. */
function declarationClosure(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
      const target = path.resolve(
        path.dirname(file),
        (m[1] as string).replace(/\.js$/, '.d.ts').replace(/\.cjs$/, '.d.cts'),
      );
      if (existsSync(target)) visit(target);
    }
  };
  visit(entry);
  return [...seen];
}

describe('dist type declarations', () => {
  it.each(['index.d.ts', 'index.d.cts', 'testing/index.d.ts', 'testing/index.d.cts'])(
    '%s and what it imports do not mention zod',
    (entry) => {
      const files = declarationClosure(path.join(root, 'dist', entry));
      expect(files.length).toBeGreaterThan(0);
      for (const f of files) expect(readFileSync(f, 'utf8'), path.relative(root, f)).not.toMatch(/zod/i);
    },
  );

  it('docs/api.md mentions every export of dist/index.d.ts', () => {
    const dts = readFileSync(path.join(root, 'dist', 'index.d.ts'), 'utf8');
    const exported = [...dts.matchAll(/^export \{([^}]*)\};?$/gm)].flatMap((m) =>
      (m[1] as string).split(',').map(
        (n) =>
          n
            .trim()
            .replace(/^type /, '')
            .split(' as ')
            .at(-1)
            ?.trim() as string,
      ),
    );
    expect(exported.length).toBeGreaterThan(50);
    const docs = readFileSync(path.join(root, 'docs', 'api.md'), 'utf8');
    expect(exported.filter((name) => !docs.includes(`\`${name}`))).toEqual([]);
  });

  it('a strict consumer compiles against them with skipLibCheck: false', { timeout: 180_000 }, async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'stitchnet-types-'));
    try {
      const app = path.join(dir, 'app.ts');
      const dist = path.join(root, 'dist');
      await writeFile(
        app,
        `import { StitchRuntime, ManualSource, isStitchnetError, type ClassifyResult, type Profile } from ${JSON.stringify(`${dist}/index.js`)};
import { VirtualClock } from ${JSON.stringify(`${dist}/testing/index.js`)};
export async function main(pixels: Uint8Array): Promise<ClassifyResult | undefined> {
  const clock = new VirtualClock();
  const battery = new ManualSource('battery');
  battery.set({ 'battery.percent': 50, 'app.queue': 2 });
  try {
    const rt = await StitchRuntime.create({ model: 'm', signals: [battery], scheduler: clock.scheduler, signal: AbortSignal.timeout(1000) });
    const p: Profile | undefined = rt.profile;
    void p;
    return await rt.classify({ pixels, width: 28, height: 28, channels: 1 }, { topK: 3 });
  } catch (e) {
    if (isStitchnetError(e)) return undefined;
    throw e;
  }
}
`,
      );
      const program = ts.createProgram([app], {
        strict: true,
        skipLibCheck: false,
        noEmit: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        types: ['node'],
        typeRoots: [path.join(root, 'node_modules', '@types')],
      });
      const diagnostics = ts
        .getPreEmitDiagnostics(program)
        .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      expect(diagnostics).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
