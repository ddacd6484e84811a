import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OnnxError } from '../../src/errors.js';
import {
  decodeModel,
  encodeModel,
  float32Tensor,
  graphInputs,
  graphOutputs,
  linearModel,
  onnx,
  readModel,
  tensorToFloat32,
  toNumber,
  writeModel,
} from '../../src/onnx/index.js';
import { randomData } from './helpers.js';

const weight = randomData(4 * 3, 1);
const bias = randomData(3, 2);
const model = linearModel({ weight, bias, dimIn: 4, dimOut: 3 });

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stitchnet-onnx-io-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('decode/encode', () => {
  it('round-trips a model', () => {
    const back = decodeModel(encodeModel(model));
    expect(toNumber(back.irVersion)).toBe(8);
    expect(back.opsetImport.map((o) => [o.domain, toNumber(o.version)])).toEqual([['', 17]]);
    expect(back.graph?.node?.map((n) => n.opType)).toEqual(['MatMul', 'Add']);
    const inits = back.graph?.initializer ?? [];
    expect(inits.map((t) => t.name)).toEqual(['onnx::MatMul_0', 'transform.bias']);
    expect(inits.map((t) => (t.dims ?? []).map(toNumber))).toEqual([[4, 3], [3]]);
    expect([...tensorToFloat32(inits[0] as onnx.ITensorProto)]).toEqual([...weight]);
    expect([...tensorToFloat32(inits[1] as onnx.ITensorProto)]).toEqual([...bias]);
    expect(graphInputs(back)).toEqual([{ name: 'x', shape: ['batch', 'tokens', 4], dtype: 'float32' }]);
    expect(graphOutputs(back)).toEqual([{ name: 'y', shape: ['batch', 'tokens', 3], dtype: 'float32' }]);
    expect(encodeModel(back)).toEqual(encodeModel(model));
  });

  it('reads float data from floatData as well as rawData', () => {
    const t = onnx.TensorProto.create({ name: 'f', dims: [2], dataType: 1, floatData: [1.5, -2] });
    expect([...tensorToFloat32(onnx.TensorProto.decode(onnx.TensorProto.encode(t).finish()))]).toEqual([1.5, -2]);
    expect([...tensorToFloat32(float32Tensor('r', [2], Float32Array.of(3, 4)))]).toEqual([3, 4]);
  });

  it('rejects a non-float tensor and a size mismatch', () => {
    const t = onnx.TensorProto.create({ name: 'i', dims: [1], dataType: 7, int64Data: [1] });
    expect(() => tensorToFloat32(t)).toThrow(/not float32/);
    expect(() => float32Tensor('bad', [2, 2], new Float32Array(3))).toThrow(OnnxError);
  });

  it('fails clearly on truncated bytes, naming the file', () => {
    const bytes = encodeModel(model);
    for (const cut of [1, 10, Math.floor(bytes.length / 2), bytes.length - 3]) {
      let err: unknown;
      try {
        decodeModel(bytes.subarray(0, cut), 'pieces/stitch.0.onnx');
      } catch (e) {
        err = e;
      }
      expect(err, `cut at ${cut}`).toBeInstanceOf(OnnxError);
      expect((err as OnnxError).code).toBe('ONNX_DECODE_FAILED');
      expect((err as OnnxError).file).toBe('pieces/stitch.0.onnx');
      expect((err as OnnxError).message).toContain('pieces/stitch.0.onnx');
    }
  });

  it('rejects bytes that are not a model', () => {
    expect(() => decodeModel(new TextEncoder().encode('hello, world'), 'x.onnx')).toThrow(/x\.onnx/);
    expect(() => decodeModel(new Uint8Array(0), 'empty.onnx')).toThrow(/without graph nodes/);
  });
});

describe('readModel/writeModel', () => {
  it('writes and reads back a model', async () => {
    const path = join(dir, 'linear.onnx');
    await writeModel(path, model);
    const back = await readModel(path);
    expect(encodeModel(back)).toEqual(encodeModel(model));
  });

  it('names the file when it is missing or damaged', async () => {
    const missing = join(dir, 'missing.onnx');
    await expect(readModel(missing)).rejects.toMatchObject({ code: 'ONNX_IO_FAILED', file: missing });
    const damaged = join(dir, 'damaged.onnx');
    const bytes = encodeModel(model);
    await writeFile(damaged, bytes.subarray(0, bytes.length - 5));
    await expect(readModel(damaged)).rejects.toMatchObject({ code: 'ONNX_DECODE_FAILED', file: damaged });
  });

  it('reports a folder that cannot be written', async () => {
    await expect(writeModel(join(dir, 'no', 'such', 'dir.onnx'), model)).rejects.toMatchObject({
      code: 'ONNX_IO_FAILED',
    });
  });
});
