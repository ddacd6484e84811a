/**
 * Editing copies of a package on disk, for tests that break one thing at a time.
 */
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_FILE, type Manifest } from '../../src/package/schema.js';

/** Copies of a package folder, each in a fresh numbered folder under `root`. */
export function packageCopier(root: string): (from: string) => Promise<string> {
  let n = 0;
  return async (from) => {
    const dir = path.join(root, `case-${n++}`);
    await cp(from, dir, { recursive: true });
    return dir;
  };
}

/** Rewrites the manifest of the package in `dir` through `edit`. */
export async function editManifest(dir: string, edit: (m: Manifest) => void): Promise<void> {
  const file = path.join(dir, MANIFEST_FILE);
  const m = JSON.parse(await readFile(file, 'utf8')) as Manifest;
  edit(m);
  await writeFile(file, JSON.stringify(m, null, 2));
}
