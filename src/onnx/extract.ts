/** Cutting a piece out of a graph between named tensors. */
import { closestWords } from '../base/text.js';
import { OnnxError } from '../errors.js';
import { knownTensorInfos, nodeReads } from './graph.js';
import { type Model, type TensorInfo, graphOf, onnx, valueInfo } from './proto.js';
import { renameNode } from './rename.js';

export interface ExtractOptions {
  /** The tensors the piece is fed with: names, or TensorInfos where the graph records no shape for them. */
  inputs: (string | TensorInfo)[];
  /** The tensors the piece computes: names, or TensorInfos where the graph records no shape for them. */
  outputs: (string | TensorInfo)[];
  /** New names for boundary tensors (e.g. `{ '/blocks.3/Add_1_output_0': 'y' }`). */
  rename?: Record<string, string>;
  /** The piece's graph name (default: the source graph's name). */
  name?: string;
}

/**
 * The part of `model` that computes `outputs` from `inputs`: only the nodes on the way, the
 * initializers they read, and the value infos of the kept tensors. Opset imports, IR version and
 * local functions are copied; initializers are shared with `model`, not copied.
 *
 * Throws `ONNX_TENSOR_NOT_FOUND` (listing similar names) when a named tensor is not in the graph or
 * a `rename` key is not a boundary tensor, and `ONNX_GRAPH_INVALID` when an output depends on a
 * graph input that is not among `inputs`, when a boundary tensor has no recorded shape and was
 * given by name only, or when a new name collides with a name already in the piece.
 */
export function extractSubgraph(model: Model, opts: ExtractOptions): Model {
  const g = graphOf(model);
  const index = indexGraph(g);
  const inputNames = opts.inputs.map(nameOf);
  const outputNames = opts.outputs.map(nameOf);
  checkBoundaryNames(index, inputNames, outputNames);
  const { keepNodes, keepInits } = walkBack(index, new Set(inputNames), outputNames);
  const boundary = new Set([...inputNames, ...outputNames]);
  const keptNames = new Set<string>(keepInits);
  for (const i of keepNodes) for (const o of index.nodes[i]?.output ?? []) keptNames.add(o);
  for (const n of inputNames) keptNames.add(n);
  const r = boundaryRenamer(opts.rename ?? {}, boundary, keptNames);
  const boundaryInfo = boundaryInfoOf(knownTensorInfos(g), r);

  const internal = new Set<string>();
  for (const i of keepNodes) for (const o of index.nodes[i]?.output ?? []) if (!boundary.has(o)) internal.add(o);
  const graph = onnx.GraphProto.create({
    name: opts.name ?? g.name ?? 'piece',
    node: index.nodes.filter((_, i) => keepNodes.has(i)).map((n) => renameNode(n, r)),
    initializer: (g.initializer ?? []).filter((t) => keepInits.has(t.name ?? '')),
    input: opts.inputs.map((s, i) => boundaryInfo(s, 'inputs', i)),
    output: opts.outputs.map((s, i) => boundaryInfo(s, 'outputs', i)),
    valueInfo: (g.valueInfo ?? []).filter((vi) => internal.has(vi.name ?? '')),
  });
  return onnx.ModelProto.create({
    irVersion: model.irVersion,
    producerName: model.producerName,
    producerVersion: model.producerVersion,
    domain: model.domain,
    opsetImport: model.opsetImport,
    functions: model.functions,
    graph,
  });
}

/** Who produces each tensor, the initializers, and the graph inputs that are not initializers. */
interface GraphIndex {
  nodes: onnx.INodeProto[];
  producer: Map<string, number>;
  inits: Map<string, onnx.ITensorProto>;
  graphInputNames: Set<string>;
  /** Every tensor name: produced, initializer or graph input. */
  allNames: Set<string>;
}

function indexGraph(g: onnx.IGraphProto): GraphIndex {
  const nodes = g.node ?? [];
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.output ?? []) if (o !== '') producer.set(o, i);
  });
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const graphInputNames = new Set((g.input ?? []).map((vi) => vi.name ?? '').filter((n) => !inits.has(n)));
  const allNames = new Set<string>([...producer.keys(), ...inits.keys(), ...graphInputNames]);
  return { nodes, producer, inits, graphInputNames, allNames };
}

/** Every named tensor exists, and no tensor is both an input and an output. */
function checkBoundaryNames(index: GraphIndex, inputNames: readonly string[], outputNames: readonly string[]): void {
  for (const [role, names] of [
    ['inputs', inputNames],
    ['outputs', outputNames],
  ] as const) {
    names.forEach((n, i) => {
      if (!index.allNames.has(n)) throw notFound(n, `${role}[${i}]`, index.allNames);
    });
  }
  const inputSet = new Set(inputNames);
  for (const n of outputNames) {
    if (inputSet.has(n)) {
      throw new OnnxError(
        'ONNX_GRAPH_INVALID',
        `Tensor ${n} is both an input and an output of the piece, which would then compute nothing`,
        {
          option: 'outputs',
          hint: 'Choose an output that lies after the inputs in the graph.',
        },
      );
    }
  }
}

/** Walks back from the outputs to the inputs: the nodes and initializers on the way. */
function walkBack(
  index: GraphIndex,
  inputSet: ReadonlySet<string>,
  outputNames: readonly string[],
): { keepNodes: Set<number>; keepInits: Set<string> } {
  const { nodes, producer, inits, graphInputNames } = index;
  const keepNodes = new Set<number>();
  const keepInits = new Set<string>();
  const seen = new Set<string>();
  for (const out of outputNames) {
    const stack = [out];
    while (stack.length > 0) {
      const name = stack.pop() as string;
      if (seen.has(name) || inputSet.has(name)) continue;
      seen.add(name);
      const p = producer.get(name);
      if (p !== undefined) {
        if (!keepNodes.has(p)) {
          keepNodes.add(p);
          stack.push(...nodeReads(nodes[p] as onnx.INodeProto));
        }
      } else if (inits.has(name)) {
        keepInits.add(name);
      } else if (graphInputNames.has(name)) {
        throw new OnnxError(
          'ONNX_GRAPH_INVALID',
          `Output ${out} depends on graph input ${name}, which is not among the piece's inputs`,
          {
            option: 'inputs',
            hint: `Add ${name} to the inputs, or choose inputs that separate ${out} from the graph inputs.`,
          },
        );
      } else {
        throw new OnnxError(
          'ONNX_GRAPH_INVALID',
          `Tensor ${name}, needed for output ${out}, is read but never produced in the graph`,
          {
            hint: 'The model is malformed; check it with onnx.checker.check_model.',
          },
        );
      }
    }
  }
  return { keepNodes, keepInits };
}

/** The renaming of boundary tensors, checked: only boundary tensors, no two kept tensors with one name. */
function boundaryRenamer(
  rename: Record<string, string>,
  boundary: ReadonlySet<string>,
  keptNames: ReadonlySet<string>,
): (name: string) => string {
  for (const key of Object.keys(rename)) {
    if (!boundary.has(key)) throw notFound(key, `rename.${key}`, boundary);
  }
  const r = (n: string): string => rename[n] ?? n;
  const finalNames = new Map<string, string>();
  for (const n of keptNames) {
    const f = r(n);
    const other = finalNames.get(f);
    if (other !== undefined) {
      throw new OnnxError('ONNX_GRAPH_INVALID', `Renaming makes ${n} and ${other} both ${f}`, {
        option: `rename.${n in rename ? n : other}`,
        hint: 'Choose a new name that is not used elsewhere in the piece.',
      });
    }
    finalNames.set(f, n);
  }
  return r;
}

/** The value info of a piece input or output, from the graph's records or the caller's TensorInfo. */
function boundaryInfoOf(infos: ReadonlyMap<string, TensorInfo>, r: (name: string) => string) {
  return (spec: string | TensorInfo, role: string, i: number): onnx.ValueInfoProto => {
    const name = nameOf(spec);
    const info = typeof spec === 'string' ? infos.get(name) : spec;
    if (!info) {
      throw new OnnxError('ONNX_GRAPH_INVALID', `The graph records no shape for ${name}`, {
        option: `${role}[${i}]`,
        hint: `Pass it as a TensorInfo, e.g. { name: '${name}', shape: ['batch', 197, 384], dtype: 'float32' }.`,
      });
    }
    return valueInfo(r(name), info.shape, info.dtype);
  };
}

function nameOf(spec: string | TensorInfo): string {
  return typeof spec === 'string' ? spec : spec.name;
}

function notFound(name: string, option: string, names: Iterable<string>): OnnxError {
  const similar = closestWords(name, names, 8);
  return new OnnxError('ONNX_TENSOR_NOT_FOUND', `Tensor ${name} is not in the graph`, {
    option,
    validValues: similar,
    hint:
      similar.length > 0
        ? 'The valid values listed are the most similar tensor names.'
        : 'List the graph tensors with a viewer such as Netron.',
  });
}
