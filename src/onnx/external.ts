/**
 * ONNX external data: initializers whose bytes live in a separate file, which onnxruntime maps
 * from disk (file-backed pages, shared and reclaimable) instead of copying into its own memory.
 *
 * A tensor with `dataLocation: EXTERNAL` carries `externalData` entries `location` (the file,
 * relative to the model file's folder), `offset` and `length` (bytes, decimal strings). onnxruntime
 * maps a tensor when its offset is a multiple of the allocation granularity (4 KiB pages on Linux
 * and macOS, 64 KiB on Windows), so {@link splitExternalData} aligns large tensors to 64 KiB and
 * the others to 4 KiB.
 *
 * Pure: no file system access. The package layer decides where the data file lives and checks it.
 */
import { OnnxError } from '../errors.js';
import { ELEM_BYTES, type Model, type onnx, toNumber } from './proto.js';

/** `TensorProto.DataLocation.EXTERNAL`. */
const EXTERNAL = 1;

/** Tensors smaller than this stay in the model file (onnxruntime's own tools use 1024 bytes). */
export const EXTERNAL_DATA_MIN_TENSOR_BYTES = 1024;

const PAGE = 4096;
const LARGE_PAGE = 65536;

/** The keys an external-data entry may have. */
const KNOWN_KEYS = new Set(['location', 'offset', 'length', 'checksum']);

/** Where a tensor sits in the model, for error messages: `graph.initializer[3]`, `…node[2].attribute[0].t`. */
export interface TensorVisit {
  tensor: onnx.ITensorProto;
  where: string;
}

/**
 * Every tensor a model holds, wherever it is: initializers (dense and sparse) of the graph and of
 * every subgraph, tensor attributes of nodes (Constant and any other), local functions' nodes and
 * training-info graphs. onnxruntime could read external data for any of them.
 */
export function allTensors(model: onnx.IModelProto): TensorVisit[] {
  const out: TensorVisit[] = [];
  const sparse = (s: onnx.ISparseTensorProto, where: string) => {
    if (s.values) out.push({ tensor: s.values, where: `${where}.values` });
    if (s.indices) out.push({ tensor: s.indices, where: `${where}.indices` });
  };
  const nodes = (list: readonly onnx.INodeProto[] | null | undefined, where: string) => {
    (list ?? []).forEach((node, n) =>
      (node.attribute ?? []).forEach((a, i) => {
        const at = `${where}.node[${n}].attribute[${i}]`;
        if (a.t) out.push({ tensor: a.t, where: `${at}.t` });
        (a.tensors ?? []).forEach((t, k) => out.push({ tensor: t, where: `${at}.tensors[${k}]` }));
        if (a.sparseTensor) sparse(a.sparseTensor, `${at}.sparseTensor`);
        (a.sparseTensors ?? []).forEach((s, k) => sparse(s, `${at}.sparseTensors[${k}]`));
        if (a.g) graph(a.g, `${at}.g`);
        (a.graphs ?? []).forEach((g, k) => graph(g, `${at}.graphs[${k}]`));
      }),
    );
  };
  const graph = (g: onnx.IGraphProto, where: string) => {
    (g.initializer ?? []).forEach((t, i) => out.push({ tensor: t, where: `${where}.initializer[${i}]` }));
    (g.sparseInitializer ?? []).forEach((s, i) => sparse(s, `${where}.sparseInitializer[${i}]`));
    nodes(g.node, where);
  };
  if (model.graph) graph(model.graph, 'graph');
  (model.functions ?? []).forEach((f, i) => nodes(f.node, `functions[${i}]`));
  (model.trainingInfo ?? []).forEach((t, i) => {
    if (t.initialization) graph(t.initialization, `trainingInfo[${i}].initialization`);
    if (t.algorithm) graph(t.algorithm, `trainingInfo[${i}].algorithm`);
  });
  return out;
}

/** One tensor's reference into an external-data file. */
export interface ExternalRef {
  tensor: onnx.ITensorProto;
  where: string;
  location: string;
  offset: number;
  length: number;
}

/**
 * The external-data references of a model, each checked for form: only the keys `location`,
 * `offset`, `length` (and `checksum`), each at most once; `location` present; `offset` and
 * `length` present as decimal integers; `length` the tensor's size (its dims times its element
 * size). Where the references point is the caller's to check.
 *
 * @throws OnnxError `ONNX_GRAPH_INVALID` naming the tensor and what is wrong
 */
export function externalRefs(model: onnx.IModelProto): ExternalRef[] {
  const refs: ExternalRef[] = [];
  for (const { tensor, where } of allTensors(model)) {
    const entries = tensor.externalData ?? [];
    if (tensor.dataLocation !== EXTERNAL && entries.length === 0) continue;
    const bad = (why: string) =>
      new OnnxError('ONNX_GRAPH_INVALID', `Tensor ${JSON.stringify(tensor.name ?? '')} (${where}): ${why}`, {
        field: where,
        hint: 'Keep external data as location, offset and length of one data file next to the model (stitchnet build writes it so).',
      });
    if (tensor.dataLocation !== EXTERNAL) throw bad('has external_data entries but its data_location is not EXTERNAL');
    const values = new Map<string, string>();
    for (const { key, value } of entries) {
      const k = key ?? '';
      if (!KNOWN_KEYS.has(k)) throw bad(`unknown external_data key ${JSON.stringify(k)}`);
      if (values.has(k)) throw bad(`external_data key ${JSON.stringify(k)} given twice`);
      values.set(k, value ?? '');
    }
    const location = values.get('location');
    if (!location) throw bad('external data without a location');
    const offset = decimal(values.get('offset'));
    const length = decimal(values.get('length'));
    if (offset === undefined || length === undefined)
      throw bad('external data needs an offset and a length (decimal integers)');
    const size = byteSize(tensor);
    if (size === undefined) throw bad(`element type ${tensor.dataType ?? 0} cannot be kept as external data`);
    if (length !== size) throw bad(`external data length ${length}, but its dims and type need ${size} bytes`);
    refs.push({ tensor, where, location, offset, length });
  }
  return refs;
}

/** Bytes of initializers (graph level, dense) in a model: what {@link splitExternalData} could move out. */
export function initializerBytes(model: onnx.IModelProto): number {
  return (model.graph?.initializer ?? []).reduce((n, t) => n + (t.rawData?.length ?? byteSize(t) ?? 0), 0);
}

/**
 * Moves a model's large graph initializers into one external-data file: each tensor of at least
 * `minTensorBytes` bytes stored as `rawData` goes to the next aligned offset of the data, and the
 * tensor in the model keeps its name, type and dims, with `dataLocation: EXTERNAL` and
 * `location`, `offset`, `length`. The model is changed in place.
 *
 * @param location - the data file's path relative to the model file's folder (forward slashes)
 * @returns the data file's bytes, or `undefined` when no tensor qualified (the model is unchanged)
 */
export function splitExternalData(
  model: Model,
  location: string,
  minTensorBytes: number = EXTERNAL_DATA_MIN_TENSOR_BYTES,
): Uint8Array | undefined {
  const moved: { tensor: onnx.ITensorProto; raw: Uint8Array; offset: number }[] = [];
  let end = 0;
  for (const tensor of model.graph?.initializer ?? []) {
    const raw = tensor.rawData;
    if (!raw || raw.length < minTensorBytes || tensor.dataLocation === EXTERNAL) continue;
    const align = raw.length >= LARGE_PAGE ? LARGE_PAGE : PAGE;
    const offset = Math.ceil(end / align) * align;
    moved.push({ tensor, raw, offset });
    end = offset + raw.length;
  }
  if (moved.length === 0) return undefined;
  const data = new Uint8Array(end);
  for (const { tensor, raw, offset } of moved) {
    data.set(raw, offset);
    delete tensor.rawData;
    tensor.dataLocation = EXTERNAL;
    tensor.externalData = [
      { key: 'location', value: location },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(raw.length) },
    ];
  }
  return data;
}

/**
 * Puts the bytes of every external reference back into its tensor (`rawData`, a view into
 * `data`: no copy), so that the model is self-contained. The references must have been checked
 * to lie within `data` ({@link externalRefs} and the caller's bounds check). Changes the model in place.
 */
export function inlineExternalData(refs: readonly ExternalRef[], data: Uint8Array): void {
  for (const { tensor, offset, length } of refs) {
    tensor.rawData = data.subarray(offset, offset + length);
    delete tensor.dataLocation;
    tensor.externalData = [];
  }
}

function decimal(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d{1,15}$/.test(v)) return undefined;
  return Number(v);
}

/** A tensor's size in bytes from its dims and element type; undefined for variable-size types. */
function byteSize(t: onnx.ITensorProto): number | undefined {
  const elem = ELEM_BYTES[t.dataType ?? 0];
  if (elem === undefined) return undefined;
  return (t.dims ?? []).reduce<number>((a, d) => a * toNumber(d), elem);
}
