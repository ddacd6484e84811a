import { Resvg } from '@resvg/resvg-js';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { openDataset, parseIdx, parseNpy } from '../../src/data/datasets.js';
import { BuilderError } from '../../src/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'stitchnet-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function idx(type: number, shape: number[], values: number[]): Uint8Array {
  const size = { 0x08: 1, 0x0d: 4 }[type]!;
  const buf = new Uint8Array(4 + 4 * shape.length + values.length * size);
  const v = new DataView(buf.buffer);
  buf.set([0, 0, type, shape.length]);
  shape.forEach((d, i) => v.setUint32(4 + 4 * i, d, false));
  const off = 4 + 4 * shape.length;
  values.forEach((x, i) => (type === 0x08 ? v.setUint8(off + i, x) : v.setFloat32(off + 4 * i, x, false)));
  return buf;
}

function npy(descr: string, shape: number[], body: Uint8Array, fortran = false): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  while ((10 + header.length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const out = new Uint8Array(10 + header.length + body.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(body, 10 + header.length);
  return out;
}

/** A PNG of the given pixels (rows of [r, g, b]), drawn by resvg. */
function png(pixels: [number, number, number][][]): Uint8Array {
  const rects = pixels
    .flatMap((row, y) =>
      row.map(([r, g, b], x) => `<rect x="${x}" y="${y}" width="1" height="1" fill="rgb(${r},${g},${b})"/>`),
    )
    .join('');
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${pixels[0]!.length}" height="${pixels.length}" shape-rendering="crispEdges">${rects}</svg>`;
  return new Resvg(svg).render().asPng();
}

describe('IDX data', () => {
  const images = [0, 255, 51, 102, 10, 20, 30, 40, 255, 255, 0, 0];
  writeFileSync(path.join(dir, 't10k-images-idx3-ubyte.gz'), gzipSync(idx(0x08, [3, 2, 2], images)));
  writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte.gz'), gzipSync(idx(0x08, [3], [7, 0, 9])));

  it('reads gzipped MNIST-format images with their labels next to them, preprocessed', async () => {
    const ds = await openDataset(path.join(dir, 't10k-images-idx3-ubyte.gz'), {
      shape: ['batch', 1, 2, 2],
      preprocess: { scale: 1 / 255, mean: [0.5], std: [0.5] },
    });
    expect(ds.size).toBe(3);
    expect(ds.name).toBe('t10k-images-idx3-ubyte.gz');
    expect(Array.from(ds.labels!)).toEqual([7, 0, 9]);
    const b = ds.batch(1, 2);
    expect(b).toHaveLength(8);
    expect(b[0]).toBeCloseTo((10 / 255 - 0.5) / 0.5, 6);
    expect(b[4]).toBeCloseTo(1, 6);
    expect(() => ds.batch(2, 2)).toThrow(/outside/);
  });

  it('parses big-endian float IDX and limits the sample count', async () => {
    expect(parseIdx(idx(0x0d, [2], [1.5, -2])).data).toEqual(Float64Array.of(1.5, -2));
    const ds = await openDataset(path.join(dir, 't10k-images-idx3-ubyte.gz'), { shape: ['batch', 4] }, { limit: 2 });
    expect(ds.size).toBe(2);
    expect(Array.from(ds.batch(0, 1))).toEqual([0, 255, 51, 102]);
  });

  it('rejects data of the wrong shape, bad files, and missing or mismatched labels', async () => {
    const file = path.join(dir, 't10k-images-idx3-ubyte.gz');
    await expect(openDataset(file, { shape: ['batch', 3, 2, 2] }, { option: '--calib' })).rejects.toThrow(
      /\[2, 2\].*\[3, 2, 2\]/,
    );
    await expect(openDataset(file, { shape: ['batch', 3, 2, 2] })).rejects.toBeInstanceOf(BuilderError);
    writeFileSync(path.join(dir, 'bad-images-idx3-ubyte'), Uint8Array.of(1, 2, 3, 4));
    await expect(openDataset(path.join(dir, 'bad-images-idx3-ubyte'), { shape: ['batch', 4] })).rejects.toThrow(
      /magic/,
    );
    writeFileSync(path.join(dir, 'solo-images-idx3-ubyte'), idx(0x08, [1, 2, 2], [1, 2, 3, 4]));
    await expect(
      openDataset(path.join(dir, 'solo-images-idx3-ubyte'), { shape: ['batch', 2, 2] }, { requireLabels: true }),
    ).rejects.toThrow(/no labels/);
    writeFileSync(path.join(dir, 'odd-images-idx3-ubyte'), idx(0x08, [1, 2, 2], [1, 2, 3, 4]));
    writeFileSync(path.join(dir, 'odd-labels-idx1-ubyte'), idx(0x08, [2], [1, 2]));
    await expect(openDataset(path.join(dir, 'odd-images-idx3-ubyte'), { shape: ['batch', 4] })).rejects.toThrow(
      /1 samples but .* 2 labels/,
    );
    writeFileSync(path.join(dir, 'empty-images-idx3-ubyte'), idx(0x08, [0, 2, 2], []));
    await expect(openDataset(path.join(dir, 'empty-images-idx3-ubyte'), { shape: ['batch', 2, 2] })).rejects.toThrow(
      /empty/,
    );
    await expect(openDataset(path.join(dir, 'missing.npy'), { shape: ['batch', 2] })).rejects.toThrow(/does not exist/);
  });
});

describe('.npy data', () => {
  it('reads an x/y pair from a folder, moving channels first', async () => {
    const sub = path.join(dir, 'npy');
    mkdirSync(sub);
    // Two samples of 2×2 pixels × 3 channels (HWC); value = 100·sample + 10·pixel + channel.
    const x = Float32Array.from(
      { length: 24 },
      (_, i) => 100 * Math.floor(i / 12) + 10 * Math.floor((i % 12) / 3) + (i % 3),
    );
    writeFileSync(path.join(sub, 'x.npy'), npy('<f4', [2, 2, 2, 3], new Uint8Array(x.buffer)));
    writeFileSync(path.join(sub, 'y.npy'), npy('<i8', [2], new Uint8Array(BigInt64Array.of(3n, 1n).buffer)));
    const ds = await openDataset(
      sub,
      { shape: ['batch', 3, 2, 2], preprocess: { mean: [0, 1, 2], std: [1, 1, 1] } },
      { requireLabels: true },
    );
    expect(ds.name).toBe('npy/x.npy');
    expect(Array.from(ds.labels!)).toEqual([3, 1]);
    // Sample 1, channel c, pixel p → 100 + 10p + c − c.
    expect(Array.from(ds.batch(1, 1))).toEqual([100, 110, 120, 130, 100, 110, 120, 130, 100, 110, 120, 130]);
  });

  it('parses headers and refuses Fortran order and foreign files', () => {
    const a = parseNpy(npy('>i4', [2], Uint8Array.of(0, 0, 0, 5, 255, 255, 255, 255)));
    expect(a.shape).toEqual([2]);
    expect(Array.from(a.data)).toEqual([5, -1]);
    expect(() => parseNpy(npy('<f4', [1], new Uint8Array(4), true))).toThrow(/Fortran/);
    expect(() => parseNpy(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11))).toThrow(/NUMPY/);
    expect(() => parseNpy(npy('<c8', [1], new Uint8Array(8)))).toThrow(/not supported/);
  });
});

describe('a folder of images per class', () => {
  const root = path.join(dir, 'images');
  const red: [number, number, number] = [200, 10, 20];
  const blue: [number, number, number] = [0, 40, 250];
  mkdirSync(path.join(root, 'cat'), { recursive: true });
  mkdirSync(path.join(root, 'ant'), { recursive: true });
  writeFileSync(
    path.join(root, 'cat', 'a.png'),
    png([
      [red, blue],
      [blue, red],
    ]),
  );
  writeFileSync(
    path.join(root, 'ant', 'b.png'),
    png([
      [blue, blue, blue, blue],
      [blue, blue, blue, blue],
      [red, red, red, red],
      [red, red, red, red],
    ]),
  );
  writeFileSync(path.join(root, 'ant', 'notes.txt'), 'not an image');

  it('labels by sorted class folder and decodes pixels into the model layout', async () => {
    const ds = await openDataset(root, { shape: ['batch', 3, 2, 2] }, { requireLabels: true });
    expect(ds.classes).toEqual(['ant', 'cat']);
    expect(Array.from(ds.labels!)).toEqual([0, 1]);
    expect(Array.from(ds.batch(1, 1))).toEqual([200, 0, 0, 200, 10, 40, 40, 10, 20, 250, 250, 20]);
    // The 4×4 image (blue top half, red bottom half) is resized to 2×2: blue over red.
    const small = ds.batch(0, 1);
    expect(small[0]! < small[2]!).toBe(true);
  });

  it('converts to grey for one-channel models, channels last when asked', async () => {
    const grey = await openDataset(root, { shape: ['batch', 1, 2, 2] });
    expect(grey.batch(1, 1)[0]).toBeCloseTo((200 * 299 + 10 * 587 + 20 * 114) / 1000, 4);
    const nhwc = await openDataset(root, { shape: ['batch', 2, 2, 3], layout: 'NHWC' });
    expect(Array.from(nhwc.batch(1, 1).subarray(0, 6))).toEqual([200, 10, 20, 0, 40, 250]);
    await expect(openDataset(root, { shape: ['batch', 4] })).rejects.toThrow(/image model input/);
  });
});
