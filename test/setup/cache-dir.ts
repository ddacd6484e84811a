/**
 * Tests never write into the user's cache folder: one temporary stitchnet cache folder for the
 * whole run (inherited by the test processes and the CLI processes they start), removed at the end.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export default function setup(): () => void {
  const dir = mkdtempSync(path.join(tmpdir(), 'stitchnet-test-cache-'));
  process.env.STITCHNET_CACHE_DIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
