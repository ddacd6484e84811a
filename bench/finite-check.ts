/**
 * What the non-finite input check of `run()` costs: runs of the shipped family with the check on
 * and off (`checkFinite: false`), interleaved in one process, at batch 1 and 8, and the check
 * alone per input. Prints medians and their ratio.
 *
 *   npm run bench:finite
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { firstNonFinite } from '../src/engine/input.js';
import { StitchRuntime } from '../src/runtime/stitch-runtime.js';

const ROUNDS = Number(process.env.ROUNDS ?? 300);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? Number.NaN;
}

async function main(): Promise<void> {
  const model = path.resolve(import.meta.dirname, '..', '..', 'models', 'fmnist-vit');
  const rt = await StitchRuntime.create({ model, providers: ['cpu'], worker: false, fastPath: false });
  const sample = rt.manifest.input.shape.reduce<number>((a, d) => (typeof d === 'number' ? a * d : a), 1);
  console.log(`finite check, ${rt.manifest.name}, stitch ${rt.stitch}, cpu in-process, ${ROUNDS} interleaved rounds\n`);
  console.log('batch  run, checked (ms)  run, unchecked (ms)  ratio  check alone (µs)  check / run');
  for (const batch of [1, 8]) {
    const x = Float32Array.from({ length: sample * batch }, (_, i) => Math.sin(i));
    const on: number[] = [];
    const off: number[] = [];
    for (let i = 0; i < 20; i++) await rt.run(x);
    for (let r = 0; r < ROUNDS; r++) {
      // Alternate the order so that neither side always runs second.
      for (const check of r % 2 === 0 ? [true, false] : [false, true]) {
        const t0 = performance.now();
        await rt.run(x, { checkFinite: check });
        (check ? on : off).push(performance.now() - t0);
      }
    }
    const alone: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const t0 = performance.now();
      firstNonFinite(x);
      alone.push(performance.now() - t0);
    }
    const a = median(on);
    const b = median(off);
    const c = median(alone);
    console.log(
      `${String(batch).padStart(5)}  ${a.toFixed(3).padStart(18)}  ${b.toFixed(3).padStart(19)}  ${(a / b).toFixed(3).padStart(5)}  ${(c * 1000).toFixed(1).padStart(16)}  ${((c / b) * 100).toFixed(2).padStart(10)} %`,
    );
  }
  await rt.close();
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
