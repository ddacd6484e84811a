// Lets a profile pick the stitch from device readings. The app pushes battery readings itself
// (a ManualSource; `systemSource` would read the real battery), and a virtual clock makes two
// minutes of readings, decisions and switches pass at once — the way to test an app's policy.
//
//   npm run build && node examples/adaptive.mjs
import { fileURLToPath } from 'node:url';
import { ManualSource, StitchRuntime } from 'stitchnet';
import { VirtualClock } from 'stitchnet/testing';

const model = fileURLToPath(new URL('../models/fmnist-vit/', import.meta.url));
const profile = fileURLToPath(new URL('../profiles/balanced.yaml', import.meta.url));

const clock = new VirtualClock();
const battery = new ManualSource('battery');
const rt = await StitchRuntime.create({
  model,
  profile,
  signals: [battery],
  systemSource: false, // only the readings pushed below
  scheduler: clock.scheduler,
  watchProfile: false,
});
const macs = (id) => `${(rt.manifest.stitches[id].macs / 1e6).toFixed(1)} MMACs`;
console.log(`profile ${rt.profile.name}: starts on stitch ${rt.stitch} (${macs(rt.stitch)})`);
rt.stitchChanges$.subscribe((e) => {
  console.log(
    `${String(e.at / 1000).padStart(4)} s  stitch ${e.from} → ${e.to} (${macs(e.to)}, ${e.direction}): ${e.reason.summary}`,
  );
});

// [time in ms, readings]: unplugged and draining, then plugged in.
const timeline = [
  [0, { 'battery.percent': 80, 'battery.charging': false }],
  [20_000, { 'battery.percent': 28 }],
  [40_000, { 'battery.percent': 12 }],
  [60_000, { 'battery.charging': true }],
  [90_000, { 'battery.percent': 40 }],
];
for (const [at, readings] of timeline) {
  clock.advanceTo(at);
  console.log(`${String(at / 1000).padStart(4)} s  battery ${JSON.stringify(readings)}`);
  battery.set(readings);
}
clock.advanceTo(120_000);

// rt.run(image) now runs this stitch. Every run also feeds its latency back to the policy as
// `inference.slowdown` (observed ÷ profiled), which the profile's `slowed-down` rule watches.
console.log(`at 120 s the runtime is on stitch ${rt.stitch} (${macs(rt.stitch)})`);
await rt.close();
