/**
 * Cutting an anchor model into `embed`, `block.<i>` and `head` pieces.
 *
 * Block boundaries are the residual-stream tensors between blocks. They are found from the node
 * names PyTorch exporters write (`/blocks.3/attn/qkv/MatMul`, `/encoder/layer.3/…`,
 * `/encoder/layers/encoder_layer_3/…`): the nodes of block `i` are grouped, and the one float
 * tensor that enters the group from outside is the block's input; the one float tensor that
 * leaves the last block is the head's input. When names carry no block index, the caller passes
 * the boundary tensor names instead.
 */
import { BuilderError, isStitchnetError } from '../errors.js';
import { extractSubgraph, graphInputs, graphOutputs, type Model, type TensorInfo } from '../onnx/index.js';
import { graphOf } from '../onnx/proto.js';
import { isFloatType, inferShapes, type ShapeMap } from '../onnx/shapes.js';

/** The residual-stream tensors of an anchor: `stream[0]` enters block 0, `stream[i+1]` leaves block `i`. */
export type Boundaries = string[];

/** An anchor cut into pieces. */
export interface AnchorSplit {
  /** The model's input and output. */
  input: TensorInfo;
  output: TensorInfo;
  depth: number;
  /** Width of the residual stream (its last axis). */
  dim: number;
  /** Shape of the residual stream between pieces, batch symbolic (e.g. `['batch', 197, 192]`). */
  streamShape: (number | string)[];
  boundaries: Boundaries;
  embed: Model;
  blocks: Model[];
  head: Model;
}

export interface SplitOptions {
  /** Boundary tensor names, `depth + 1` of them, when detection fails. */
  boundaries?: Boundaries;
  /** The file the model came from, for messages. */
  file?: string;
}

/** Names of a piece's interface tensors. */
export const STREAM_IN = 'x';
export const STREAM_OUT = 'y';
export const EMBED_OUT = 'tokens';

/** Path segments that carry a block index in common exports. */
const BLOCK_SEGMENT = /^(?:blocks|block|layers|layer|resblocks|h|encoder_layer)[._](\d+)$/;

/** The block index a node name places it in, or undefined. */
export function blockIndexOf(nodeName: string): number | undefined {
  for (const seg of nodeName.split('/')) {
    const m = BLOCK_SEGMENT.exec(seg);
    if (m) return Number(m[1]);
  }
  return undefined;
}

function boundaryError(message: string, file: string | undefined, detail?: string): BuilderError {
  return new BuilderError('BUILD_BOUNDARY_NOT_FOUND', detail ? `${message}: ${detail}` : message, {
    file,
    option: 'boundaries',
    hint:
      'Pass the residual-stream tensor names explicitly (depth + 1 names: the tensor entering block 0, then the output of each block), ' +
      'e.g. from Netron; a ViT exported by torch.onnx.export with module names keeps "/blocks.N/" in its node names',
  });
}

/** Tensors whose values depend on a runtime input (not only on weights and constants). */
function dataDependent(model: Model): Set<string> {
  const g = graphOf(model);
  const live = new Set(graphInputs(model).map((t) => t.name));
  for (const n of g.node ?? []) {
    if ((n.input ?? []).some((i) => live.has(i))) for (const o of n.output ?? []) live.add(o);
  }
  return live;
}

/**
 * Finds the residual-stream tensors between blocks from the node names.
 *
 * @returns `depth + 1` tensor names: the input of block 0, then each block's output.
 * @throws BuilderError `BUILD_BOUNDARY_NOT_FOUND` when the names carry no block indices, the
 *   indices are not `0..depth-1`, or a block is entered or left by more than one activation.
 */
export function detectBoundaries(model: Model, options: { file?: string; shapes?: ShapeMap } = {}): Boundaries {
  const { file } = options;
  const g = graphOf(model, file);
  const nodes = g.node ?? [];
  const blockOf = nodes.map((n) => blockIndexOf(n.name ?? ''));
  const indices = [...new Set(blockOf.filter((b): b is number => b !== undefined))].sort((a, b) => a - b);
  if (indices.length === 0) {
    throw boundaryError('No block structure found in the node names (no "/blocks.N/" or similar scopes)', file);
  }
  if (indices.some((b, i) => b !== i)) {
    throw boundaryError(
      `Block indices in the node names are [${indices.join(', ')}], not 0..${indices.length - 1}`,
      file,
    );
  }
  const shapes = options.shapes ?? inferShapes(model, { file });
  const live = dataDependent(model);
  const isActivation = (t: string): boolean =>
    live.has(t) && isFloatType(shapes.get(t)?.dtype ?? 0) && (shapes.get(t)?.shape.length ?? 0) >= 2;
  const producerBlock = new Map<string, number | undefined>();
  nodes.forEach((n, i) => (n.output ?? []).forEach((o) => producerBlock.set(o, blockOf[i])));

  const entering = indices.map(() => new Set<string>());
  const leavingLast = new Set<string>();
  const last = indices.length - 1;
  nodes.forEach((n, i) => {
    const b = blockOf[i];
    for (const t of n.input ?? []) {
      if (!isActivation(t)) continue;
      const from = producerBlock.get(t);
      if (b !== undefined && from !== b) entering[b]?.add(t);
      if (from === last && b !== last) leavingLast.add(t);
    }
  });
  for (const o of g.output ?? [])
    if (producerBlock.get(o.name ?? '') === last && isActivation(o.name ?? '')) leavingLast.add(o.name ?? '');

  const stream: string[] = [];
  entering.forEach((set, b) => {
    if (set.size !== 1) {
      throw boundaryError(
        `Block ${b} is entered by ${set.size} activation tensors, expected exactly one (the residual stream)`,
        file,
        [...set].slice(0, 5).join(', ') || 'none',
      );
    }
    const t = [...set][0] as string;
    if (b > 0 && producerBlock.get(t) !== b - 1) {
      throw boundaryError(`Block ${b} is entered by ${t}, which block ${b - 1} does not produce`, file);
    }
    stream.push(t);
  });
  if (leavingLast.size !== 1) {
    throw boundaryError(
      `The last block is left by ${leavingLast.size} activation tensors, expected exactly one`,
      file,
      [...leavingLast].slice(0, 5).join(', ') || 'none',
    );
  }
  stream.push([...leavingLast][0] as string);
  return stream;
}

/** Shape of a tensor with the dimensions that follow the batch marked symbolic. */
function symbolicShape(name: string, at1: ShapeMap, at2: ShapeMap, batchName: string): (number | string)[] {
  const a = at1.get(name)?.shape ?? [];
  const b = at2.get(name)?.shape ?? [];
  return a.map((d, i) => (d === b[i] ? d : batchName));
}

/**
 * Cuts an anchor into pieces between its residual-stream tensors.
 *
 * @throws BuilderError `BUILD_BOUNDARY_NOT_FOUND` when the boundaries can't be detected or the
 *   given ones don't separate the graph into a chain of pieces; `BUILD_ANCHORS_INVALID` when the
 *   model does not have exactly one input and one output.
 */
export function splitAnchor(model: Model, options: SplitOptions = {}): AnchorSplit {
  const { file } = options;
  const inputs = graphInputs(model);
  const outputs = graphOutputs(model);
  const input = inputs[0];
  const output = outputs[0];
  if (inputs.length !== 1 || outputs.length !== 1 || !input || !output) {
    throw new BuilderError(
      'BUILD_ANCHORS_INVALID',
      `An anchor needs exactly one input and one output, this one has ${inputs.length} and ${outputs.length}`,
      {
        file,
        hint: 'Export the classifier with a single image input and a single logits output',
      },
    );
  }
  const symbolic = [...input.shape.filter((d): d is string => typeof d === 'string')];
  const batchName = symbolic[0] ?? 'batch';
  const dims2 = Object.fromEntries(symbolic.map((s) => [s, 2]));
  const at1 = inferShapes(model, { file });
  const at2 = inferShapes(model, { file, dims: dims2 });
  const boundaries = options.boundaries ?? detectBoundaries(model, { file, shapes: at1 });
  if (boundaries.length < 2) {
    throw boundaryError(`${boundaries.length} boundary tensor(s) given; a model with n blocks needs n + 1`, file);
  }
  const known = new Set<string>();
  for (const n of graphOf(model).node ?? []) for (const o of n.output ?? []) known.add(o);
  boundaries.forEach((t, i) => {
    if (!known.has(t)) throw boundaryError(`Boundary ${i} "${t}" is not a tensor computed by the graph`, file);
  });
  const streamShape = symbolicShape(boundaries[0] as string, at1, at2, batchName);
  const info = (name: string): TensorInfo => ({
    name,
    shape: symbolicShape(name, at1, at2, batchName),
    dtype: 'float32',
  });
  const piece = (what: string, from: TensorInfo, to: TensorInfo, rename: Record<string, string>): Model => {
    try {
      return extractSubgraph(model, { inputs: [from], outputs: [to], rename, name: what });
    } catch (e) {
      if (isStitchnetError(e) && (e.code === 'ONNX_GRAPH_INVALID' || e.code === 'ONNX_TENSOR_NOT_FOUND')) {
        throw boundaryError(`The ${what} piece cannot be cut between ${from.name} and ${to.name}`, file, e.message);
      }
      throw e;
    }
  };
  const stream = boundaries.map(info);
  stream.forEach((s, i) => {
    if (s.shape.length !== streamShape.length || s.shape.some((d, k) => d !== streamShape[k])) {
      throw boundaryError(
        `Boundary ${i} "${s.name}" has shape [${s.shape.join(', ')}], but boundary 0 has [${streamShape.join(', ')}]`,
        file,
      );
    }
  });
  const first = stream[0] as TensorInfo;
  const lastStream = stream[stream.length - 1] as TensorInfo;
  const embed = piece('embed', input, first, { [first.name]: EMBED_OUT });
  const blocks = stream.slice(1).map((out, i) =>
    piece(`block.${i}`, stream[i] as TensorInfo, out, {
      [(stream[i] as TensorInfo).name]: STREAM_IN,
      [out.name]: STREAM_OUT,
    }),
  );
  const head = piece('head', lastStream, output, { [lastStream.name]: STREAM_IN });
  const dim = streamShape[streamShape.length - 1];
  if (typeof dim !== 'number')
    throw boundaryError(`The residual stream's last dimension is not fixed ([${streamShape.join(', ')}])`, file);
  return { input, output, depth: blocks.length, dim, streamShape, boundaries: [...boundaries], embed, blocks, head };
}
