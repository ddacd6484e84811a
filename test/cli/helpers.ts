import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll } from 'vitest';

const exec = promisify(execFile);
export const root = path.resolve(import.meta.dirname, '..', '..');
export const cliPath = path.join(root, 'dist', 'cli', 'main.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built `stitchnet` command; never throws on a non-zero exit. */
export async function cli(
  args: string[],
  opts: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [cliPath, ...args], {
      cwd: opts.cwd ?? root,
      ...(opts.env ? { env: opts.env } : {}),
      timeout: opts.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

/**
 * A temp folder for the tests of one file: registers a `beforeAll` that makes it (named
 * `<prefix>…` in the system's temp folder) and an `afterAll` that removes it; read `dir` inside
 * tests and hooks (hooks registered after this call run after it is made).
 */
export function useTempDir(prefix: string): { readonly dir: string } {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return {
    get dir() {
      if (!dir) throw new Error('the temp folder is made in beforeAll: use it inside a test or a hook');
      return dir;
    },
  };
}
