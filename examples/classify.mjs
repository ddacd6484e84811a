// Classifies the shipped sample images with every stitch of the accuracy–MACs frontier and prints
// each one's accuracy next to the one its package states, and its time per image.
//
//   npm run build && node examples/classify.mjs [package folder]
//
// The package's `preprocess` block says how pixels become model input; its `samples/` folder holds
// 1,000 test images and their labels in the IDX format (gzip).
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
const { preprocess, frontier, stitches } = pkg.manifest;
const images = readIdx(path.join(dir, 'samples', 'images-idx3-ubyte.gz'));
const labels = readIdx(path.join(dir, 'samples', 'labels-idx1-ubyte.gz')).values;
const [count, height, width] = images.shape;
const pixels = height * width;
// One channel: pixel × scale, minus the mean, over the standard deviation.
const input = Float32Array.from(images.values, (p) => (p * preprocess.scale - preprocess.mean[0]) / preprocess.std[0]);

const rt = await StitchRuntime.create({ model: pkg });
const stderr = Math.sqrt(0.25 / count) * 100;
console.log(`${pkg.manifest.name}: ${count} sample images (an estimate within about ±${stderr.toFixed(1)} points, one standard error), provider ${rt.provider}`);
console.log(' id  MMACs  accuracy (samples)  accuracy (package)  ms per image');
const batch = 100;
for (const id of frontier) {
  let correct = 0;
  const started = performance.now();
  for (let start = 0; start < count; start += batch) {
    const n = Math.min(batch, count - start);
    const data = input.subarray(start * pixels, (start + n) * pixels);
    const { logits } = await rt.run({ data, dims: [n, 1, height, width] }, { stitch: id });
    const classes = logits.length / n;
    for (let i = 0; i < n; i++) {
      const row = logits.subarray(i * classes, (i + 1) * classes);
      if (row.indexOf(Math.max(...row)) === labels[start + i]) correct++;
    }
  }
  const ms = (performance.now() - started) / count;
  const s = stitches[id];
  console.log(
    `${String(id).padStart(3)}  ${(s.macs / 1e6).toFixed(2).padStart(5)}  ${((100 * correct) / count).toFixed(1).padStart(17)} %  ${(100 * s.accuracy).toFixed(1).padStart(17)} %  ${ms.toFixed(3).padStart(12)}`,
  );
}
await rt.close();
