/**
 * Static shape inference for the cost model.
 *
 * Walks an ONNX graph in node order with every symbolic input dimension fixed (batch = 1 by
 * default) and works out each tensor's shape. PyTorch exports compute reshape targets at run time
 * from small int64 tensors (`Shape → Gather → Unsqueeze → Concat → Reshape`), so the values of
 * small tensors are propagated too, not just their shapes. An op this module does not know falls
 * back to the shape the graph records for its output (`value_info`), and fails with a clear error
 * when there is none.
 */
import { BuilderError } from '../errors.js';
import { type Model, DataType, graphOf, type onnx, toNumber } from './proto.js';

/** What inference knows about one tensor. */
export interface ValueInfo {
  shape: number[];
  /** ONNX element type code. */
  dtype: number;
  /** The values (row-major) when small and computable; used for shape arithmetic. */
  data?: number[];
}

export interface ShapeOptions {
  /** Values for symbolic input dimensions by name; any other symbolic dimension is 1. */
  dims?: Record<string, number>;
  /** Where the model came from, for error messages. */
  file?: string;
}

/** Tensors with at most this many elements keep their values. */
const MAX_DATA = 4096;

const FLOAT_TYPES: ReadonlySet<number> = new Set([
  DataType.FLOAT,
  DataType.FLOAT16,
  DataType.DOUBLE,
  16 /* BFLOAT16 */,
]);

/** Whether an ONNX element type is a floating-point type. */
export function isFloatType(dtype: number): boolean {
  return FLOAT_TYPES.has(dtype);
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The values of a (small) tensor proto as numbers, or undefined for large float tensors. */
export function tensorValues(t: onnx.ITensorProto, limit = MAX_DATA): number[] | undefined {
  const dims = (t.dims ?? []).map(toNumber);
  const count = numel(dims);
  if (count > limit) return undefined;
  const type = t.dataType ?? 0;
  const raw = t.rawData;
  if (raw && raw.length > 0) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      switch (type) {
        case DataType.FLOAT:
          out.push(view.getFloat32(i * 4, true));
          break;
        case DataType.DOUBLE:
          out.push(view.getFloat64(i * 8, true));
          break;
        case DataType.INT64:
          out.push(Number(view.getBigInt64(i * 8, true)));
          break;
        case DataType.UINT64:
          out.push(Number(view.getBigUint64(i * 8, true)));
          break;
        case DataType.INT32:
          out.push(view.getInt32(i * 4, true));
          break;
        case DataType.UINT32:
          out.push(view.getUint32(i * 4, true));
          break;
        case DataType.INT16:
          out.push(view.getInt16(i * 2, true));
          break;
        case DataType.UINT16:
          out.push(view.getUint16(i * 2, true));
          break;
        case DataType.INT8:
          out.push(view.getInt8(i));
          break;
        case DataType.UINT8:
        case DataType.BOOL:
          out.push(view.getUint8(i));
          break;
        default:
          return undefined;
      }
    }
    return out;
  }
  const fields: (ArrayLike<unknown> | null | undefined)[] = [
    t.floatData,
    t.doubleData,
    t.int64Data,
    t.int32Data,
    t.uint64Data,
  ];
  for (const f of fields) {
    if (f && f.length > 0) return Array.from(f as ArrayLike<number>, (v) => toNumber(v as never));
  }
  return count === 0 ? [] : undefined;
}

/** numpy-style broadcast of two shapes, or undefined when they don't broadcast. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | undefined {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return undefined;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/** Row-major strides. */
const stridesOf = (shape: readonly number[]): number[] => {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = (s[i + 1] as number) * (shape[i + 1] as number);
  return s;
};

/** Element `flat` of the broadcast output, read from an input of shape `inShape`. */
function broadcastIndex(
  flat: number,
  outShape: readonly number[],
  outStrides: readonly number[],
  inShape: readonly number[],
): number {
  const offset = outShape.length - inShape.length;
  const inStrides = stridesOf(inShape);
  let idx = 0;
  for (let d = 0; d < outShape.length; d++) {
    const coord = Math.floor(flat / (outStrides[d] as number)) % (outShape[d] as number);
    const id = d - offset;
    if (id >= 0 && (inShape[id] as number) !== 1) idx += coord * (inStrides[id] as number);
  }
  return idx;
}

type Attrs = Map<string, onnx.IAttributeProto>;

const attrInt = (a: Attrs, name: string, dflt: number): number => {
  const v = a.get(name);
  return v ? toNumber(v.i) : dflt;
};
const attrInts = (a: Attrs, name: string): number[] | undefined => {
  const v = a.get(name);
  return v ? (v.ints ?? []).map(toNumber) : undefined;
};
const attrString = (a: Attrs, name: string, dflt: string): string => {
  const s = a.get(name)?.s;
  return s && s.length > 0 ? new TextDecoder().decode(s) : dflt;
};

const normAxis = (axis: number, rank: number): number => (axis < 0 ? axis + rank : axis);

/** Result of {@link inferShapes}: every named tensor's inferred info. */
export type ShapeMap = Map<string, ValueInfo>;

/**
 * Infers the shape of every tensor of a model's main graph.
 *
 * @returns a map from tensor name to shape, element type and (for small tensors) values.
 * @throws BuilderError `BUILD_COST_UNSUPPORTED` when a node's output shape can be neither
 *   inferred nor read from the graph's `value_info`.
 */
export function inferShapes(model: Model, options: ShapeOptions = {}): ShapeMap {
  const g = graphOf(model, options.file);
  const opset = (model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx');
  const version = opset ? toNumber(opset.version) : 17;
  const values: ShapeMap = new Map();
  const recorded = new Map<string, onnx.IValueInfoProto>();
  for (const vi of [...(g.valueInfo ?? []), ...(g.output ?? [])]) recorded.set(vi.name ?? '', vi);

  for (const t of g.initializer ?? []) {
    const shape = (t.dims ?? []).map(toNumber);
    const data = tensorValues(t);
    values.set(t.name ?? '', { shape, dtype: t.dataType ?? 0, ...(data ? { data } : {}) });
  }
  for (const vi of g.input ?? []) {
    const name = vi.name ?? '';
    if (values.has(name)) continue;
    const tt = vi.type?.tensorType;
    const shape = (tt?.shape?.dim ?? []).map((d) => {
      if (d.dimValue !== null && d.dimValue !== undefined) return toNumber(d.dimValue);
      return d.dimParam ? (options.dims?.[d.dimParam] ?? 1) : 1;
    });
    values.set(name, { shape, dtype: tt?.elemType ?? DataType.FLOAT });
  }

  for (const node of g.node ?? []) {
    const attrs: Attrs = new Map((node.attribute ?? []).map((a) => [a.name ?? '', a]));
    const inputs = (node.input ?? []).map((n) => (n === '' ? undefined : values.get(n)));
    let outs: (ValueInfo | undefined)[] | undefined;
    try {
      outs = inferNode(node, attrs, inputs, version);
    } catch (cause) {
      if (cause instanceof BuilderError) throw cause;
      outs = undefined;
    }
    (node.output ?? []).forEach((name, i) => {
      if (name === '') return;
      let info = outs?.[i];
      if (!info) info = fromRecorded(recorded.get(name), options);
      if (!info) {
        throw new BuilderError(
          'BUILD_COST_UNSUPPORTED',
          `Cannot work out the shape of "${name}", output of node "${node.name ?? ''}" (${node.opType ?? '?'}), to count its cost`,
          {
            file: options.file,
            field: `graph.node.${node.name ?? ''}`,
            hint: 'Run onnx.shape_inference.infer_shapes on the model (so the graph records the shapes) and build again',
          },
        );
      }
      values.set(name, info);
    });
  }
  return values;
}

function fromRecorded(vi: onnx.IValueInfoProto | undefined, options: ShapeOptions): ValueInfo | undefined {
  const tt = vi?.type?.tensorType;
  if (!tt?.shape) return undefined;
  const shape: number[] = [];
  for (const d of tt.shape.dim ?? []) {
    if (d.dimValue !== null && d.dimValue !== undefined) shape.push(toNumber(d.dimValue));
    else if (d.dimParam) shape.push(options.dims?.[d.dimParam] ?? 1);
    else return undefined;
  }
  return { shape, dtype: tt.elemType ?? DataType.FLOAT };
}

const UNARY = new Set([
  'Identity',
  'Relu',
  'Gelu',
  'Erf',
  'Sqrt',
  'Exp',
  'Log',
  'Tanh',
  'Sigmoid',
  'Neg',
  'Reciprocal',
  'Abs',
  'Floor',
  'Ceil',
  'Round',
  'Sign',
  'Not',
  'Softmax',
  'LogSoftmax',
  'HardSigmoid',
  'HardSwish',
  'LeakyRelu',
  'Elu',
  'Selu',
  'Clip',
  'Sin',
  'Cos',
  'Softplus',
  'Mish',
  'CumSum',
  'InstanceNormalization',
  'LpNormalization',
  'Dropout',
  'BatchNormalization',
  'Trilu',
  'Celu',
  'ThresholdedRelu',
  'Hardmax',
  'Shrink',
]);
const COMPARE = new Set(['Equal', 'Less', 'LessOrEqual', 'Greater', 'GreaterOrEqual', 'And', 'Or', 'Xor']);
const BINARY = new Set([
  'Add',
  'Sub',
  'Mul',
  'Div',
  'Pow',
  'Max',
  'Min',
  'Mod',
  'Sum',
  'Mean',
  'PRelu',
  'BitShift',
  ...COMPARE,
]);
const REDUCE = new Set([
  'ReduceMean',
  'ReduceSum',
  'ReduceMax',
  'ReduceMin',
  'ReduceProd',
  'ReduceL1',
  'ReduceL2',
  'ReduceSumSquare',
  'ReduceLogSum',
  'ReduceLogSumExp',
]);
const INT_TYPES: ReadonlySet<number> = new Set([
  DataType.INT8,
  DataType.INT16,
  DataType.INT32,
  DataType.INT64,
  DataType.UINT8,
  DataType.UINT16,
  DataType.UINT32,
  DataType.UINT64,
]);

const unaryFns: Record<string, (x: number) => number> = {
  Identity: (x) => x,
  Neg: (x) => -x,
  Abs: Math.abs,
  Floor: Math.floor,
  Ceil: Math.ceil,
  Sqrt: Math.sqrt,
  Exp: Math.exp,
  Log: Math.log,
  Sign: Math.sign,
  Not: (x) => (x ? 0 : 1),
  Reciprocal: (x) => 1 / x,
  Relu: (x) => Math.max(0, x),
  Round: (x) => Math.round(x),
};
const binaryFns: Record<string, (x: number, y: number, int: boolean) => number> = {
  Add: (x, y) => x + y,
  Sub: (x, y) => x - y,
  Mul: (x, y) => x * y,
  Div: (x, y, int) => (int ? Math.trunc(x / y) : x / y),
  Pow: (x, y) => x ** y,
  Max: (x, y) => Math.max(x, y),
  Min: (x, y) => Math.min(x, y),
  Mod: (x, y) => x - y * Math.floor(x / y),
  Equal: (x, y) => Number(x === y),
  Less: (x, y) => Number(x < y),
  LessOrEqual: (x, y) => Number(x <= y),
  Greater: (x, y) => Number(x > y),
  GreaterOrEqual: (x, y) => Number(x >= y),
  And: (x, y) => Number(Boolean(x) && Boolean(y)),
  Or: (x, y) => Number(Boolean(x) || Boolean(y)),
  Xor: (x, y) => Number(Boolean(x) !== Boolean(y)),
};

function withData(shape: number[], dtype: number, compute: (() => number[] | undefined) | undefined): ValueInfo {
  const data = compute && numel(shape) <= MAX_DATA ? compute() : undefined;
  return data ? { shape, dtype, data } : { shape, dtype };
}

/** Element-wise op over broadcast inputs; values computed when all inputs have them. */
function elementwise(inputs: ValueInfo[], dtype: number, fn?: (args: number[]) => number): ValueInfo | undefined {
  let shape: number[] | undefined = inputs[0]?.shape;
  for (const v of inputs.slice(1)) shape = shape && broadcastShapes(shape, v.shape);
  if (!shape) return undefined;
  const out = shape;
  const canCompute = fn && inputs.every((v) => v.data);
  return withData(
    out,
    dtype,
    canCompute
      ? () => {
          const strides = stridesOf(out);
          const n = numel(out);
          const res: number[] = [];
          for (let f = 0; f < n; f++)
            res.push(fn(inputs.map((v) => v.data?.[broadcastIndex(f, out, strides, v.shape)] as number)));
          return res;
        }
      : undefined,
  );
}

/** `x` broadcast to `shape` (Expand). */
function broadcastTo(x: ValueInfo, shape: number[]): ValueInfo {
  return withData(
    shape,
    x.dtype,
    x.data
      ? () => {
          const strides = stridesOf(shape);
          return Array.from(
            { length: numel(shape) },
            (_, f) => (x.data as number[])[broadcastIndex(f, shape, strides, x.shape)] as number,
          );
        }
      : undefined,
  );
}

/** Axes given by attribute (older opsets) or by an input (newer ones). */
function axesOf(attrs: Attrs, input: ValueInfo | undefined): number[] | undefined {
  return attrInts(attrs, 'axes') ?? input?.data;
}

/** Output size of a sliding window along one spatial axis (Conv, pooling). */
function windowOut(
  size: number,
  kernel: number,
  stride: number,
  dilation: number,
  padBegin: number,
  padEnd: number,
  autoPad: string,
  ceilMode: boolean,
): number {
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') return Math.ceil(size / stride);
  const span = dilation * (kernel - 1) + 1;
  if (autoPad === 'VALID') return Math.floor((size - span) / stride) + 1;
  const q = (size + padBegin + padEnd - span) / stride;
  return (ceilMode ? Math.ceil(q) : Math.floor(q)) + 1;
}

function spatial(x: ValueInfo, kernel: number[], attrs: Attrs): number[] {
  const k = kernel.length;
  const strides = attrInts(attrs, 'strides') ?? new Array<number>(k).fill(1);
  const dil = attrInts(attrs, 'dilations') ?? new Array<number>(k).fill(1);
  const pads = attrInts(attrs, 'pads') ?? new Array<number>(2 * k).fill(0);
  const autoPad = attrString(attrs, 'auto_pad', 'NOTSET');
  const ceil = attrInt(attrs, 'ceil_mode', 0) === 1;
  return kernel.map((kk, i) =>
    windowOut(
      x.shape[2 + i] as number,
      kk,
      strides[i] ?? 1,
      dil[i] ?? 1,
      pads[i] ?? 0,
      pads[i + k] ?? 0,
      autoPad,
      ceil,
    ),
  );
}

/** Gathers along `axis`; values when data and indices are known. */
function gather(data: ValueInfo, indices: ValueInfo, axisAttr: number): ValueInfo {
  const axis = normAxis(axisAttr, data.shape.length);
  const dim = data.shape[axis] as number;
  const shape = [...data.shape.slice(0, axis), ...indices.shape, ...data.shape.slice(axis + 1)];
  return withData(
    shape,
    data.dtype,
    data.data && indices.data
      ? () => {
          const outer = numel(data.shape.slice(0, axis));
          const inner = numel(data.shape.slice(axis + 1));
          const res: number[] = [];
          for (let o = 0; o < outer; o++) {
            for (const raw of indices.data as number[]) {
              const ix = raw < 0 ? raw + dim : raw;
              for (let i = 0; i < inner; i++) res.push((data.data as number[])[(o * dim + ix) * inner + i] as number);
            }
          }
          return res;
        }
      : undefined,
  );
}

function concat(inputs: ValueInfo[], axisAttr: number): ValueInfo | undefined {
  const first = inputs[0];
  if (!first) return undefined;
  const axis = normAxis(axisAttr, first.shape.length);
  const shape = [...first.shape];
  shape[axis] = inputs.reduce((s, v) => s + (v.shape[axis] as number), 0);
  return withData(
    shape,
    first.dtype,
    inputs.every((v) => v.data)
      ? () => {
          const outer = numel(first.shape.slice(0, axis));
          const res: number[] = [];
          for (let o = 0; o < outer; o++) {
            for (const v of inputs) {
              const block = numel(v.shape.slice(axis));
              res.push(...(v.data as number[]).slice(o * block, (o + 1) * block));
            }
          }
          return res;
        }
      : undefined,
  );
}

function slice(
  data: ValueInfo,
  starts: number[],
  ends: number[],
  axesIn: number[] | undefined,
  stepsIn: number[] | undefined,
): ValueInfo {
  const rank = data.shape.length;
  const axes = (axesIn ?? starts.map((_, i) => i)).map((a) => normAxis(a, rank));
  const shape = [...data.shape];
  const ranges = data.shape.map((d) => ({ start: 0, step: 1, len: d }));
  axes.forEach((axis, i) => {
    const dim = data.shape[axis] as number;
    const step = stepsIn?.[i] ?? 1;
    let start = starts[i] as number;
    let end = ends[i] as number;
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    if (step > 0) {
      start = Math.min(Math.max(start, 0), dim);
      end = Math.min(Math.max(end, 0), dim);
    } else {
      start = Math.min(Math.max(start, 0), dim - 1);
      end = Math.min(Math.max(end, -1), dim - 1);
    }
    const len = Math.max(0, Math.ceil((end - start) / step));
    shape[axis] = len;
    ranges[axis] = { start, step, len };
  });
  return withData(
    shape,
    data.dtype,
    data.data
      ? () => {
          const inStrides = stridesOf(data.shape);
          const outStrides = stridesOf(shape);
          const res: number[] = [];
          for (let f = 0; f < numel(shape); f++) {
            let idx = 0;
            shape.forEach((d, ax) => {
              const c = Math.floor(f / (outStrides[ax] as number)) % d;
              const r = ranges[ax] as { start: number; step: number };
              idx += (r.start + c * r.step) * (inStrides[ax] as number);
            });
            res.push((data.data as number[])[idx] as number);
          }
          return res;
        }
      : undefined,
  );
}

function transpose(x: ValueInfo, permIn: number[] | undefined): ValueInfo {
  const perm = permIn ?? x.shape.map((_, i) => x.shape.length - 1 - i);
  const shape = perm.map((p) => x.shape[p] as number);
  return withData(
    shape,
    x.dtype,
    x.data
      ? () => {
          const inStrides = stridesOf(x.shape);
          const outStrides = stridesOf(shape);
          const res: number[] = [];
          for (let f = 0; f < numel(shape); f++) {
            let idx = 0;
            perm.forEach(
              (p, ax) =>
                (idx +=
                  (Math.floor(f / (outStrides[ax] as number)) % (shape[ax] as number)) * (inStrides[p] as number)),
            );
            res.push((x.data as number[])[idx] as number);
          }
          return res;
        }
      : undefined,
  );
}

function reshape(x: ValueInfo, target: number[], allowZero: boolean): ValueInfo {
  const shape = target.map((d, i) => (d === 0 && !allowZero ? (x.shape[i] as number) : d));
  const minus = shape.indexOf(-1);
  if (minus >= 0) shape[minus] = numel(x.shape) / numel(shape.filter((_, i) => i !== minus));
  return x.data ? { shape, dtype: x.dtype, data: x.data } : { shape, dtype: x.dtype };
}

function constantValue(attrs: Attrs): ValueInfo | undefined {
  const t = attrs.get('value')?.t;
  if (t) {
    const data = tensorValues(t);
    return { shape: (t.dims ?? []).map(toNumber), dtype: t.dataType ?? 0, ...(data ? { data } : {}) };
  }
  const f = attrs.get('value_float');
  if (f) return { shape: [], dtype: DataType.FLOAT, data: [f.f ?? 0] };
  const fs = attrs.get('value_floats');
  if (fs) return { shape: [fs.floats?.length ?? 0], dtype: DataType.FLOAT, data: Array.from(fs.floats ?? []) };
  const i = attrs.get('value_int');
  if (i) return { shape: [], dtype: DataType.INT64, data: [toNumber(i.i)] };
  const is = attrs.get('value_ints');
  if (is) return { shape: [is.ints?.length ?? 0], dtype: DataType.INT64, data: (is.ints ?? []).map(toNumber) };
  return undefined;
}

/** One node's inputs as the inference rules see them. */
interface NodeArgs {
  node: onnx.INodeProto;
  op: string;
  attrs: Attrs;
  inputs: (ValueInfo | undefined)[];
  /** The inputs that are known. */
  present: ValueInfo[];
  /** The first input. */
  x: ValueInfo | undefined;
  opset: number;
}

/** The outputs of one node; `undefined` (or undefined entries) means "unknown". */
type Outputs = (ValueInfo | undefined)[] | undefined;
type Rule = (n: NodeArgs) => Outputs;

/** Infers one node's outputs; undefined entries (or a thrown TypeError) mean "unknown". */
function inferNode(node: onnx.INodeProto, attrs: Attrs, inputs: (ValueInfo | undefined)[], opset: number): Outputs {
  const op = node.opType ?? '';
  if (node.domain && node.domain !== 'ai.onnx') return undefined;
  const rule =
    RULES.get(op) ??
    (UNARY.has(op) ? inferUnary : BINARY.has(op) ? inferBinary : REDUCE.has(op) ? inferReduce : undefined);
  const present = inputs.filter((v): v is ValueInfo => v !== undefined);
  return rule?.({ node, op, attrs, inputs, present, x: inputs[0], opset });
}

// ---------------------------------------------------------------------------------------------
// element-wise operators

function inferCast({ op, x, attrs, inputs }: NodeArgs): Outputs {
  if (!x) return undefined;
  const to = op === 'Cast' ? attrInt(attrs, 'to', DataType.FLOAT) : (inputs[1]?.dtype ?? DataType.FLOAT);
  const conv = INT_TYPES.has(to)
    ? Math.trunc
    : to === DataType.BOOL
      ? (v: number) => Number(v !== 0)
      : (v: number) => v;
  return [x.data ? { shape: x.shape, dtype: to, data: x.data.map(conv) } : { shape: x.shape, dtype: to }];
}

function inferLayerNorm({ x, attrs }: NodeArgs): Outputs {
  if (!x) return undefined;
  const axis = normAxis(attrInt(attrs, 'axis', -1), x.shape.length);
  const stat = x.shape.map((d, i) => (i < axis ? d : 1));
  return [
    { shape: x.shape, dtype: x.dtype },
    { shape: stat, dtype: DataType.FLOAT },
    { shape: stat, dtype: DataType.FLOAT },
  ];
}

function inferUnary({ op, x }: NodeArgs): Outputs {
  if (!x) return undefined;
  const fn = unaryFns[op];
  return [elementwise([x], x.dtype, fn ? ([v]) => fn(v as number) : undefined)];
}

function inferBinary({ op, x, present }: NodeArgs): Outputs {
  const dtype = COMPARE.has(op) ? DataType.BOOL : (x?.dtype ?? DataType.FLOAT);
  const fn = binaryFns[op];
  const int = INT_TYPES.has(x?.dtype ?? 0);
  const reduce =
    fn && present.length >= 2
      ? (args: number[]) => args.slice(1).reduce((acc, v) => fn(acc, v, int), args[0] as number)
      : undefined;
  return [elementwise(present, dtype, reduce)];
}

function inferWhere({ inputs }: NodeArgs): Outputs {
  const [c, a, b] = inputs;
  if (!c || !a || !b) return undefined;
  return [elementwise([c, a, b], a.dtype, ([cv, av, bv]) => ((cv as number) ? (av as number) : (bv as number)))];
}

// ---------------------------------------------------------------------------------------------
// matrix products, convolution and pooling

function inferMatMul({ inputs }: NodeArgs): Outputs {
  const [a, b] = inputs;
  if (!a || !b) return undefined;
  const as = a.shape.length === 1 ? [1, ...a.shape] : a.shape;
  const bs = b.shape.length === 1 ? [...b.shape, 1] : b.shape;
  const batch = broadcastShapes(as.slice(0, -2), bs.slice(0, -2));
  if (!batch) return undefined;
  const shape = [...batch, as[as.length - 2] as number, bs[bs.length - 1] as number];
  if (a.shape.length === 1) shape.splice(shape.length - 2, 1);
  if (b.shape.length === 1) shape.pop();
  return [{ shape, dtype: a.dtype }];
}

function inferGemm({ inputs, attrs }: NodeArgs): Outputs {
  const [a, b] = inputs;
  if (!a || !b) return undefined;
  const m = attrInt(attrs, 'transA', 0) ? a.shape[1] : a.shape[0];
  const n = attrInt(attrs, 'transB', 0) ? b.shape[0] : b.shape[1];
  return [{ shape: [m as number, n as number], dtype: a.dtype }];
}

function inferConv({ x, inputs, attrs }: NodeArgs): Outputs {
  const w = inputs[1];
  if (!x || !w) return undefined;
  const kernel = attrInts(attrs, 'kernel_shape') ?? w.shape.slice(2);
  return [{ shape: [x.shape[0] as number, w.shape[0] as number, ...spatial(x, kernel, attrs)], dtype: x.dtype }];
}

function inferPool({ x, attrs }: NodeArgs): Outputs {
  if (!x) return undefined;
  const kernel = attrInts(attrs, 'kernel_shape') ?? [];
  return [{ shape: [x.shape[0] as number, x.shape[1] as number, ...spatial(x, kernel, attrs)], dtype: x.dtype }];
}

function inferGlobalPool({ x }: NodeArgs): Outputs {
  return x ? [{ shape: x.shape.map((d, i) => (i < 2 ? d : 1)), dtype: x.dtype }] : undefined;
}

function inferReduce({ op, x, attrs, inputs }: NodeArgs): Outputs {
  if (!x) return undefined;
  const isArg = op.startsWith('Arg');
  const axes = isArg ? [attrInt(attrs, 'axis', 0)] : axesOf(attrs, inputs[1]);
  const keep = attrInt(attrs, 'keepdims', 1) === 1;
  const all = !axes || axes.length === 0;
  if (all && attrInt(attrs, 'noop_with_empty_axes', 0) === 1) return [{ shape: x.shape, dtype: x.dtype }];
  const set = new Set(all ? x.shape.map((_, i) => i) : axes.map((a) => normAxis(a, x.shape.length)));
  const shape = x.shape.flatMap((d, i) => (set.has(i) ? (keep ? [1] : []) : [d]));
  return [{ shape, dtype: isArg ? DataType.INT64 : x.dtype }];
}

// ---------------------------------------------------------------------------------------------
// shape arithmetic: shapes, indexing and re-arranging

function inferShape({ x, attrs }: NodeArgs): Outputs {
  if (!x) return undefined;
  const r = x.shape.length;
  const start = Math.min(Math.max(normAxis(attrInt(attrs, 'start', 0), r), 0), r);
  const end = Math.min(Math.max(normAxis(attrInt(attrs, 'end', r), r), 0), r);
  const data = x.shape.slice(start, Math.max(start, end));
  return [{ shape: [data.length], dtype: DataType.INT64, data }];
}

function inferGather({ x, inputs, attrs }: NodeArgs): Outputs {
  const idx = inputs[1];
  if (!x || !idx) return undefined;
  return [gather(x, idx, attrInt(attrs, 'axis', 0))];
}

function inferUnsqueeze({ x, attrs, inputs }: NodeArgs): Outputs {
  const axes = axesOf(attrs, inputs[1]);
  if (!x || !axes) return undefined;
  const rank = x.shape.length + axes.length;
  const norm = new Set(axes.map((a) => normAxis(a, rank)));
  const shape: number[] = [];
  let k = 0;
  for (let i = 0; i < rank; i++) shape.push(norm.has(i) ? 1 : (x.shape[k++] as number));
  return [x.data ? { shape, dtype: x.dtype, data: x.data } : { shape, dtype: x.dtype }];
}

function inferSqueeze({ x, attrs, inputs }: NodeArgs): Outputs {
  if (!x) return undefined;
  const axes = axesOf(attrs, inputs[1]);
  const drop = new Set(
    axes ? axes.map((a) => normAxis(a, x.shape.length)) : x.shape.flatMap((d, i) => (d === 1 ? [i] : [])),
  );
  const shape = x.shape.filter((_, i) => !drop.has(i));
  return [x.data ? { shape, dtype: x.dtype, data: x.data } : { shape, dtype: x.dtype }];
}

function inferReshape({ x, attrs, inputs, opset }: NodeArgs): Outputs {
  const target = opset < 5 ? attrInts(attrs, 'shape') : inputs[1]?.data;
  if (!x || !target) return undefined;
  return [reshape(x, target, attrInt(attrs, 'allowzero', 0) === 1)];
}

function inferFlatten({ x, attrs }: NodeArgs): Outputs {
  if (!x) return undefined;
  const axis = normAxis(attrInt(attrs, 'axis', 1), x.shape.length);
  return [reshape(x, [numel(x.shape.slice(0, axis)), numel(x.shape.slice(axis))], false)];
}

function inferExpand({ x, inputs }: NodeArgs): Outputs {
  const target = inputs[1]?.data;
  const shape = x && target && broadcastShapes(x.shape, target);
  return x && shape ? [broadcastTo(x, shape)] : undefined;
}

function inferSlice({ x, attrs, inputs, opset }: NodeArgs): Outputs {
  if (!x) return undefined;
  if (opset < 10) {
    const starts = attrInts(attrs, 'starts');
    const ends = attrInts(attrs, 'ends');
    return starts && ends ? [slice(x, starts, ends, attrInts(attrs, 'axes'), undefined)] : undefined;
  }
  const [, s, e, a, st] = inputs;
  if (!s?.data || !e?.data) return undefined;
  return [slice(x, s.data, e.data, a?.data, st?.data)];
}

function inferSplit({ node, x, attrs, inputs }: NodeArgs): Outputs {
  if (!x) return undefined;
  const axis = normAxis(attrInt(attrs, 'axis', 0), x.shape.length);
  const count = (node.output ?? []).length;
  const dim = x.shape[axis] as number;
  let sizes = attrInts(attrs, 'split') ?? inputs[1]?.data;
  if (!sizes) {
    const parts = attrInt(attrs, 'num_outputs', count);
    const size = Math.ceil(dim / parts);
    sizes = Array.from({ length: parts }, (_, i) => Math.min(size, dim - i * size));
  }
  return sizes.map((s) => ({ shape: x.shape.map((d, i) => (i === axis ? s : d)), dtype: x.dtype }));
}

function inferTile({ x, inputs }: NodeArgs): Outputs {
  const reps = inputs[1]?.data;
  if (!x || !reps) return undefined;
  return [{ shape: x.shape.map((d, i) => d * (reps[i] ?? 1)), dtype: x.dtype }];
}

function inferPad({ x, attrs, inputs, opset }: NodeArgs): Outputs {
  const pads = opset < 11 ? attrInts(attrs, 'pads') : inputs[1]?.data;
  if (!x || !pads) return undefined;
  const r = x.shape.length;
  const padAxes = inputs[3]?.data?.map((a) => normAxis(a, r)) ?? x.shape.map((_, i) => i);
  const shape = [...x.shape];
  padAxes.forEach(
    (ax, i) => (shape[ax] = (shape[ax] as number) + (pads[i] as number) + (pads[i + padAxes.length] as number)),
  );
  return [{ shape, dtype: x.dtype }];
}

// ---------------------------------------------------------------------------------------------
// generators

function inferConstantOfShape({ x, attrs }: NodeArgs): Outputs {
  const shape = x?.data;
  if (!shape) return undefined;
  const t = attrs.get('value')?.t;
  const fill = t ? (tensorValues(t)?.[0] ?? 0) : 0;
  const dtype = t?.dataType ?? DataType.FLOAT;
  return [withData(shape, dtype, () => new Array<number>(numel(shape)).fill(fill))];
}

function inferRange({ x, inputs }: NodeArgs): Outputs {
  const [s, l, d] = inputs.map((v) => v?.data?.[0]);
  if (s === undefined || l === undefined || d === undefined) return undefined;
  const n = Math.max(Math.ceil((l - s) / d), 0);
  return [withData([n], x?.dtype ?? DataType.INT64, () => Array.from({ length: n }, (_, i) => s + i * d))];
}

/** The operators with a rule of their own (the unary, binary and reduce families are matched by set). */
const RULES: ReadonlyMap<string, Rule> = new Map<string, Rule>([
  ['Constant', ({ attrs }) => [constantValue(attrs)]],
  ['Cast', inferCast],
  ['CastLike', inferCast],
  ['LayerNormalization', inferLayerNorm],
  ['Where', inferWhere],
  ['MatMul', inferMatMul],
  ['Gemm', inferGemm],
  ['Conv', inferConv],
  ['MaxPool', inferPool],
  ['AveragePool', inferPool],
  ['LpPool', inferPool],
  ['GlobalAveragePool', inferGlobalPool],
  ['GlobalMaxPool', inferGlobalPool],
  ['GlobalLpPool', inferGlobalPool],
  ['ArgMax', inferReduce],
  ['ArgMin', inferReduce],
  ['Shape', inferShape],
  ['Size', ({ x }) => (x ? [{ shape: [], dtype: DataType.INT64, data: [numel(x.shape)] }] : undefined)],
  ['Gather', inferGather],
  [
    'GatherElements',
    ({ x, inputs }) => (inputs[1] ? [{ shape: inputs[1].shape, dtype: x?.dtype ?? DataType.FLOAT }] : undefined),
  ],
  ['Unsqueeze', inferUnsqueeze],
  ['Squeeze', inferSqueeze],
  [
    'Concat',
    ({ present, inputs, attrs }) =>
      present.length === inputs.length ? [concat(present, attrInt(attrs, 'axis', 0))] : undefined,
  ],
  ['Reshape', inferReshape],
  ['Flatten', inferFlatten],
  ['Expand', inferExpand],
  ['Slice', inferSlice],
  ['Transpose', ({ x, attrs }) => (x ? [transpose(x, attrInts(attrs, 'perm'))] : undefined)],
  ['ConstantOfShape', inferConstantOfShape],
  ['Range', inferRange],
  ['Split', inferSplit],
  ['Tile', inferTile],
  ['Pad', inferPad],
]);
