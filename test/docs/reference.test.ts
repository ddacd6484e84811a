/**
 * The reference in docs/ cannot drift from the code: the profile key table and the CLI option
 * tables are generated from the zod schema and the commander definitions (test/docs/reference.ts).
 * After changing either, regenerate with `UPDATE_DOCS=1 npx vitest run test/docs`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliTables, fillBlocks, profileKeysTable } from './reference.js';

const root = path.resolve(import.meta.dirname, '../..');
const update = process.env.UPDATE_DOCS === '1';

async function checkDoc(file: string, blocks: Map<string, string>): Promise<void> {
  const full = path.join(root, file);
  const text = await readFile(full, 'utf8');
  const { text: filled, found } = fillBlocks(text, blocks);
  expect(found.sort(), `${file} must hold every generated block`).toEqual([...blocks.keys()].sort());
  if (update && filled !== text) await writeFile(full, filled);
  else expect(filled, `${file} is out of date: run UPDATE_DOCS=1 npx vitest run test/docs`).toBe(text);
}

describe('generated reference', () => {
  it('docs/profiles.md lists every profile key with its type, default and meaning', async () => {
    await checkDoc('docs/profiles.md', new Map([['profile-keys', profileKeysTable()]]));
  });

  it('docs/cli.md lists every command with its options', async () => {
    await checkDoc('docs/cli.md', cliTables());
  });
});
