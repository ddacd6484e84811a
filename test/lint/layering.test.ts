/**
 * The layering rules of `.dependency-cruiser.cjs` (run by `npm run lint`) really bite: a file in
 * src/engine/ that imports the runtime, policy, signals or profiles fails them, and one that
 * imports only what the engine may use passes.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
const depcruise = path.join(root, 'node_modules/dependency-cruiser/bin/dependency-cruise.mjs');

interface Violation {
  from: string;
  to: string;
  rule: { name: string; severity: string };
}

/**
 * Writes each source as a file of src/engine/ (names no other run uses), cruises them with the
 * project's config, removes them again, and returns each one's violations.
 */
async function violationsOfEngineFiles(sources: readonly string[]): Promise<Violation[][]> {
  const tag = `${process.pid}-${randomUUID().slice(0, 8)}`;
  const files = sources.map((_, i) => `src/engine/layering-probe-${tag}-${i}.ts`);
  try {
    for (const [i, file] of files.entries())
      await writeFile(path.join(root, file), sources[i] as string, { flag: 'wx' });
    const args = [
      depcruise,
      ...files,
      '--config',
      '.dependency-cruiser.cjs',
      '--output-type',
      'json',
      '--max-depth',
      '1',
    ];
    // depcruise exits non-zero when a rule is broken; the report is on stdout either way.
    const { stdout } = await run(process.execPath, args, { cwd: root, maxBuffer: 64 << 20 }).catch(
      (e: { stdout?: string }) => ({
        stdout: e.stdout ?? '',
      }),
    );
    const report = JSON.parse(stdout) as { summary: { violations: Violation[] } };
    return files.map((file) => report.summary.violations.filter((v) => v.from === file));
  } finally {
    await Promise.all(files.map((file) => rm(path.join(root, file), { force: true })));
  }
}

describe('layering rules', () => {
  let upward: Violation[] = [];
  let allowed: Violation[] = [];
  beforeAll(async () => {
    [upward = [], allowed = []] = await violationsOfEngineFiles([
      [
        "export { StitchRuntime } from '../runtime/stitch-runtime.js';",
        "export { decide } from '../policy/decide.js';",
        "export { ManualSource } from '../signals/push.js';",
        "export { parseProfile } from '../profiles/parse.js';",
      ].join('\n'),
      [
        "export { readPackage } from '../package/index.js';",
        "export { encodeModel } from '../onnx/index.js';",
        "export { median } from '../base/stats.js';",
        "export { RuntimeError } from '../errors.js';",
      ].join('\n'),
    ]);
  }, 60_000);

  it('fail on an import from engine/ into runtime/, policy/, signals/ or profiles/', () => {
    const broken = upward.filter((v) => v.rule.name === 'engine-deps' && v.rule.severity === 'error').map((v) => v.to);
    expect(broken.sort()).toEqual([
      'src/policy/decide.ts',
      'src/profiles/parse.ts',
      'src/runtime/stitch-runtime.ts',
      'src/signals/push.ts',
    ]);
  });

  it('pass on an engine file that imports only package/, onnx/, the base and errors', () => {
    expect(allowed).toEqual([]);
  });
});
