/**
 * A runtime's recording (`rt.record()`) written to a trace CSV file, as `stitchnet demo --record`
 * and `npm run bench:adaptive -- --record` write it.
 */
import { createWriteStream } from 'node:fs';
import type { StitchRuntime } from '../runtime/stitch-runtime.js';

/**
 * Writes every reading the policy sees to `file` as a trace CSV (`stitchnet simulate` replays it
 * to the same switches). Resolves the returned `done` once the file is complete (after close),
 * and rejects it with the file-system error if the file cannot be written.
 */
export function startRecording(rt: StitchRuntime, file: string): { done: Promise<void> } {
  const out = createWriteStream(file);
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  const ended = new Promise<void>((resolve) => {
    rt.record().subscribe({
      next: (line) => out.write(line),
      complete: () => out.end(resolve),
    });
  });
  return { done: Promise.race([ended, failed]) };
}
