/**
 * The ONNX protobuf classes (from `onnx-proto`, protobufjs 6 underneath) under one `onnx` name that
 * works both as a value (`onnx.ModelProto.decode(...)`) and as a type (`onnx.TensorProto`), plus small
 * helpers for the representation details protobufjs leaves to the caller: int64 fields decode as
 * `Long` objects, nested messages are typed as optional interfaces, and tensor payloads may be
 * `rawData` bytes or repeated fields.
 */
import pkg from 'onnx-proto';
import type { onnx as ns } from 'onnx-proto';
import { OnnxError } from '../errors.js';

const proto = pkg.onnx;

/** The ONNX protobuf message classes and their types. */
// A namespace is the one construct that gives a single import both value and type meanings here:
// `onnx-proto` is CommonJS, so Node's ESM loader exposes only its default export.
// eslint-disable-next-line @typescript-eslint/no-namespace
export namespace onnx {
  export const ModelProto = proto.ModelProto;
  export type ModelProto = ns.ModelProto;
  export type IModelProto = ns.IModelProto;
  export const GraphProto = proto.GraphProto;
  export type GraphProto = ns.GraphProto;
  export type IGraphProto = ns.IGraphProto;
  export const NodeProto = proto.NodeProto;
  export type NodeProto = ns.NodeProto;
  export type INodeProto = ns.INodeProto;
  export const TensorProto = proto.TensorProto;
  export type TensorProto = ns.TensorProto;
  export type ITensorProto = ns.ITensorProto;
  export const ValueInfoProto = proto.ValueInfoProto;
  export type ValueInfoProto = ns.ValueInfoProto;
  export type IValueInfoProto = ns.IValueInfoProto;
  export const AttributeProto = proto.AttributeProto;
  export type AttributeProto = ns.AttributeProto;
  export type IAttributeProto = ns.IAttributeProto;
  export const TypeProto = proto.TypeProto;
  export type TypeProto = ns.TypeProto;
  export type ITypeProto = ns.ITypeProto;
  export const TensorShapeProto = proto.TensorShapeProto;
  export type TensorShapeProto = ns.TensorShapeProto;
  export type ITensorShapeProto = ns.ITensorShapeProto;
  export const OperatorSetIdProto = proto.OperatorSetIdProto;
  export type OperatorSetIdProto = ns.OperatorSetIdProto;
  export type IOperatorSetIdProto = ns.IOperatorSetIdProto;
  export type IFunctionProto = ns.IFunctionProto;
}

/** A decoded or built ONNX model. */
export type Model = onnx.ModelProto;

/** ONNX `TensorProto.DataType` codes used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT8: 3, UINT16: 4, INT16: 5, INT32: 6, INT64: 7, STRING: 8, BOOL: 9, FLOAT16: 10, DOUBLE: 11, UINT32: 12, UINT64: 13 } as const;

/** ONNX `AttributeProto.AttributeType` codes used here. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, GRAPHS: 10 } as const;

/** Element types by the names onnxruntime uses for tensors. */
export type TensorDtype =
  | 'float32'
  | 'float16'
  | 'float64'
  | 'int8'
  | 'uint8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'int64'
  | 'uint64'
  | 'bool'
  | 'string';

const DTYPES: Record<number, TensorDtype> = {
  [DataType.FLOAT]: 'float32',
  [DataType.FLOAT16]: 'float16',
  [DataType.DOUBLE]: 'float64',
  [DataType.INT8]: 'int8',
  [DataType.UINT8]: 'uint8',
  [DataType.INT16]: 'int16',
  [DataType.UINT16]: 'uint16',
  [DataType.INT32]: 'int32',
  [DataType.UINT32]: 'uint32',
  [DataType.INT64]: 'int64',
  [DataType.UINT64]: 'uint64',
  [DataType.BOOL]: 'bool',
  [DataType.STRING]: 'string',
};

const ELEM_CODES = Object.fromEntries(Object.entries(DTYPES).map(([code, name]) => [name, Number(code)])) as Record<TensorDtype, number>;

/** Bytes per element of fixed-size element types (absent: variable size or unknown). */
export const ELEM_BYTES: Record<number, number> = {
  [DataType.FLOAT]: 4,
  [DataType.FLOAT16]: 2,
  [DataType.DOUBLE]: 8,
  [DataType.INT8]: 1,
  [DataType.UINT8]: 1,
  [DataType.INT16]: 2,
  [DataType.UINT16]: 2,
  [DataType.INT32]: 4,
  [DataType.UINT32]: 4,
  [DataType.INT64]: 8,
  [DataType.UINT64]: 8,
  [DataType.BOOL]: 1,
};

/** A graph input or output: its name, shape (symbolic dimensions as strings) and element type. */
export interface TensorInfo {
  name: string;
  /** Fixed dimensions as numbers, symbolic ones by name (`'batch'`); `'?'` where unknown. */
  shape: (number | string)[];
  dtype: TensorDtype;
}

/** A protobufjs int64 value: a number or a `Long`-like object. */
export type Int64 = number | { toNumber(): number } | { low: number; high: number };

/** Converts a protobufjs int64 field (a number, or a `Long` where the `long` package is present) to a number. */
export function toNumber(v: Int64 | null | undefined): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  if ('toNumber' in v) return v.toNumber();
  return v.high * 0x1_0000_0000 + (v.low >>> 0);
}

/** The graph of a model; throws `ONNX_GRAPH_INVALID` when the model has none. */
export function graphOf(model: Model, file?: string): onnx.IGraphProto {
  const g = model.graph;
  if (!g) {
    throw new OnnxError('ONNX_GRAPH_INVALID', 'The ONNX model has no graph', {
      file,
      hint: 'Check that the file is a complete ONNX model (re-export it).',
    });
  }
  return g;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * A float32 initializer with the data as little-endian `rawData`. On little-endian hosts (all
 * supported ones) the bytes share `data`'s buffer: don't mutate `data` while the tensor is in use.
 */
export function float32Tensor(name: string, dims: readonly number[], data: Float32Array): onnx.TensorProto {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (data.length !== expected) {
    throw new OnnxError('ONNX_GRAPH_INVALID', `Tensor ${name} has ${data.length} values but dims [${dims.join(', ')}] need ${expected}`, {
      field: name,
      hint: 'Pass data whose length is the product of dims.',
    });
  }
  let raw: Uint8Array;
  if (LITTLE_ENDIAN) {
    raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } else {
    raw = new Uint8Array(data.length * 4);
    const view = new DataView(raw.buffer);
    for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i] as number, true);
  }
  return onnx.TensorProto.create({ name, dims: [...dims], dataType: DataType.FLOAT, rawData: raw });
}

/** An int64 tensor (for shapes, axes and indices); `dims` defaults to a 1-D vector, `[]` makes a scalar. */
export function int64Tensor(name: string, values: readonly number[], dims: readonly number[] = [values.length]): onnx.TensorProto {
  const data = BigInt64Array.from(values, (v) => BigInt(v));
  let raw = new Uint8Array(data.buffer);
  if (!LITTLE_ENDIAN) {
    raw = new Uint8Array(data.length * 8);
    const view = new DataView(raw.buffer);
    data.forEach((v, i) => view.setBigInt64(i * 8, v, true));
  }
  return onnx.TensorProto.create({ name, dims: [...dims], dataType: DataType.INT64, rawData: raw });
}

/**
 * The values of a float32 tensor as a fresh `Float32Array`, from `rawData` (little-endian) or
 * `floatData`. Throws `ONNX_GRAPH_INVALID` for other element types or external data.
 */
export function tensorToFloat32(t: onnx.ITensorProto): Float32Array {
  const name = t.name ?? '';
  if ((t.dataType ?? 0) !== DataType.FLOAT) {
    throw new OnnxError('ONNX_GRAPH_INVALID', `Tensor ${name} is ${dtypeName(t.dataType ?? 0)}, not float32`, {
      field: name,
      validValues: ['float32'],
      hint: 'Convert the model to float32 before using it here.',
    });
  }
  if (t.dataLocation === 1) {
    throw new OnnxError('ONNX_GRAPH_INVALID', `Tensor ${name} keeps its data in an external file`, {
      field: name,
      hint: 'Save the model with its weights inside the .onnx file (onnx.save_model(..., save_as_external_data=False)).',
    });
  }
  const count = (t.dims ?? []).reduce<number>((a, d) => a * toNumber(d), 1);
  const raw = t.rawData;
  let out: Float32Array;
  if (raw && raw.length > 0) {
    if (raw.length % 4 !== 0) {
      throw new OnnxError('ONNX_GRAPH_INVALID', `Tensor ${name} has ${raw.length} raw bytes, not a multiple of 4`, { field: name });
    }
    out = new Float32Array(raw.length / 4);
    if (LITTLE_ENDIAN) {
      new Uint8Array(out.buffer).set(raw);
    } else {
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
    }
  } else {
    out = Float32Array.from(t.floatData ?? []);
  }
  if (out.length !== count) {
    throw new OnnxError('ONNX_GRAPH_INVALID', `Tensor ${name} holds ${out.length} values but its dims [${(t.dims ?? []).map(toNumber).join(', ')}] need ${count}`, {
      field: name,
      hint: 'The model file is damaged; re-export it.',
    });
  }
  return out;
}

/** The onnxruntime name of an ONNX element type code, or `type <code>` when unknown. */
export function dtypeName(code: number): string {
  return DTYPES[code] ?? `type ${code}`;
}

/** A `ValueInfoProto` for a tensor of the given shape and element type. */
export function valueInfo(name: string, shape: readonly (number | string)[], dtype: TensorDtype = 'float32'): onnx.ValueInfoProto {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: ELEM_CODES[dtype],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

/**
 * The {@link TensorInfo} of a value, or `undefined` when it carries no tensor type or no shape.
 * Throws `ONNX_GRAPH_INVALID` for an element type onnxruntime cannot name.
 */
export function tensorInfoOf(vi: onnx.IValueInfoProto): TensorInfo | undefined {
  const tt = vi.type?.tensorType;
  if (!tt?.shape) return undefined;
  const code = tt.elemType ?? 0;
  const dtype = DTYPES[code];
  if (!dtype) {
    throw new OnnxError('ONNX_GRAPH_INVALID', `Tensor ${vi.name ?? ''} has an unsupported element type (${code})`, {
      field: vi.name ?? undefined,
      validValues: Object.values(DTYPES),
    });
  }
  const shape = (tt.shape.dim ?? []).map((d): number | string => {
    if (d.dimValue !== null && d.dimValue !== undefined) return toNumber(d.dimValue);
    if (d.dimParam) return d.dimParam;
    return '?';
  });
  return { name: vi.name ?? '', shape, dtype };
}
