// Classifies the shipped sample images with every stitch of the accuracy–MACs frontier and prints
// each one's accuracy next to the one its package states, and its time per image.
//
//   npm run build && node examples/classify.mjs [package folder]
//
// Images go in as raw pixels ({ pixels, width, height, channels }); the runtime applies the
// package's `preprocess` block and `classify()` names the classes by its `output.labels`. The
// package's `samples/` folder holds 1,000 test images and their labels in the IDX format (gzip).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { readPackage, StitchRuntime } from 'stitchnet';

const dir = process.argv[2] ?? fileURLToPath(new URL('../models/fmnist-vit/', import.meta.url));

/** An IDX file of unsigned bytes: its shape and its values. */
function readIdx(file) {
  const bytes = gunzipSync(readFileSync(file));
  if (bytes[2] !== 0x08) throw new Error(`${file}: not an IDX file of unsigned bytes`);
  const shape = Array.from({ length: bytes[3] }, (_, i) => bytes.readUInt32BE(4 + 4 * i));
  return { shape, values: bytes.subarray(4 + 4 * shape.length) };
}

const pkg = await readPackage(dir);
const { frontier, stitches } = pkg.manifest;
const idx = readIdx(path.join(dir, 'samples', 'images-idx3-ubyte.gz'));
const labels = readIdx(path.join(dir, 'samples', 'labels-idx1-ubyte.gz')).values;
const [count, height, width] = idx.shape;
// One greyscale image per sample, as raw 8-bit pixels.
const images = Array.from({ length: count }, (_, i) => ({
  pixels: idx.values.subarray(i * height * width, (i + 1) * height * width),
  width,
  height,
  channels: 1,
}));

const rt = await StitchRuntime.create({ model: pkg });
const first = await rt.classify(images[0], { topK: 3 });
const top = first.labels.map((l) => `${l.label} ${(100 * l.score).toFixed(1)} %`).join(', ');
const stderr = Math.sqrt(0.25 / count) * 100;
console.log(
  `${pkg.manifest.name}: ${count} sample images (an estimate within about ±${stderr.toFixed(1)} points, one standard error), provider ${rt.provider}`,
);
console.log(`first image (a ${pkg.manifest.output.labels[labels[0]]}): ${top}`);
console.log(' id  MMACs  accuracy (samples)  accuracy (package)  ms per image');
const batch = 100;
for (const id of frontier) {
  let correct = 0;
  const started = performance.now();
  for (let start = 0; start < count; start += batch) {
    // A batch of images: one label list per image, the most probable first.
    const result = await rt.classify(images.slice(start, start + batch), { stitch: id, topK: 1 });
    result.images.forEach((best, i) => {
      if (best[0].index === labels[start + i]) correct++;
    });
  }
  const ms = (performance.now() - started) / count;
  const s = stitches[id];
  console.log(
    `${String(id).padStart(3)}  ${(s.macs / 1e6).toFixed(2).padStart(5)}  ${((100 * correct) / count).toFixed(1).padStart(17)} %  ${(100 * s.accuracy).toFixed(1).padStart(17)} %  ${ms.toFixed(3).padStart(12)}`,
  );
}
await rt.close();
