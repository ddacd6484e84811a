// Calibration cost on the shipped family, side by side in one run: StitchRuntime.create() without
// calibration, with a cold cache (measures the candidates), and with the cache it filled (measures
// nothing). Interleaved repetitions, medians, ratios to the uncalibrated create().
//
//   npm run build && node bench/calibration.mjs [--reps 5] [--model models/fmnist-vit] [--profile profiles/balanced.yaml]
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { StitchRuntime } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    reps: { type: 'string', default: '5' },
    model: { type: 'string', default: 'models/fmnist-vit' },
    profile: { type: 'string', default: 'profiles/balanced.yaml' },
  },
});
const reps = Number(values.reps);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];

async function create(opts) {
  const t0 = performance.now();
  const rt = await StitchRuntime.create({
    model: values.model,
    profile: values.profile,
    watchProfile: false,
    systemSource: false,
    ...opts,
  });
  const ms = performance.now() - t0;
  const cal = rt.calibration;
  await rt.close();
  return { ms, cal };
}

const rows = { off: [], cold: [], cached: [] };
const calMs = { cold: [], cached: [] };
let last;
for (let i = 0; i < reps; i++) {
  const dir = await mkdtemp(path.join(tmpdir(), 'stitchnet-bench-cal-'));
  try {
    // Alternate which create() goes first, so that none always pays for a cold process.
    const off = ['off', { calibrate: false }];
    const cold = ['cold', { cacheDir: dir }];
    const cached = ['cached', { cacheDir: dir }];
    for (const [kind, opts] of i % 2 === 0 ? [off, cold, cached] : [cold, cached, off]) {
      const r = await create(opts);
      rows[kind].push(r.ms);
      if (r.cal) calMs[kind].push(r.cal.ms);
      if (kind === 'cold') last = r.cal;
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const off = median(rows.off);
process.stdout.write(`${values.model}, ${reps} interleaved repetitions, medians\n`);
process.stdout.write(
  `candidates ${last.candidates.length}, batches ${last.batches.join(',')}, mode ${last.mode}, runs per stitch ${Math.min(...last.stitches.map((s) => s.samples))}\n`,
);
process.stdout.write(`create() without calibration   ${off.toFixed(0).padStart(6)} ms   1.00×\n`);
for (const kind of ['cold', 'cached']) {
  const m = median(rows[kind]);
  process.stdout.write(
    `create() ${kind.padEnd(6)} cache          ${m.toFixed(0).padStart(6)} ms   ${(m / off).toFixed(2)}×   (calibration ${median(calMs[kind]).toFixed(0)} ms, at most ${Math.max(...calMs[kind]).toFixed(0)} ms)\n`,
  );
}
