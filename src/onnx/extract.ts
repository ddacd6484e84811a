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
  const nodes = g.node ?? [];
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.output ?? []) if (o !== '') producer.set(o, i);
  });
  const inits = new Map((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const graphInputNames = new Set((g.input ?? []).map((vi) => vi.name ?? '').filter((n) => !inits.has(n)));
  const allNames = new Set<string>([...producer.keys(), ...inits.keys(), ...graphInputNames]);

  const inputNames = opts.inputs.map(nameOf);
  const outputNames = opts.outputs.map(nameOf);
  for (const [role, names] of [
    ['inputs', inputNames],
    ['outputs', outputNames],
  ] as const) {
    names.forEach((n, i) => {
      if (!allNames.has(n)) throw notFound(n, `${role}[${i}]`, allNames);
    });
  }
  const inputSet = new Set(inputNames);
  for (const n of outputNames) {
    if (inputSet.has(n)) {
      throw new OnnxError('ONNX_GRAPH_INVALID', `Tensor ${n} is both an input and an output of the piece, which would then compute nothing`, {
        option: 'outputs',
        hint: 'Choose an output that lies after the inputs in the graph.',
      });
    }
  }

  // Walk back from the outputs to the inputs.
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
        throw new OnnxError('ONNX_GRAPH_INVALID', `Output ${out} depends on graph input ${name}, which is not among the piece's inputs`, {
          option: 'inputs',
          hint: `Add ${name} to the inputs, or choose inputs that separate ${out} from the graph inputs.`,
        });
      } else {
        throw new OnnxError('ONNX_GRAPH_INVALID', `Tensor ${name}, needed for output ${out}, is read but never produced in the graph`, {
          hint: 'The model is malformed; check it with onnx.checker.check_model.',
        });
      }
    }
  }

  // Renaming of boundary tensors.
  const rename = opts.rename ?? {};
  const boundary = new Set([...inputNames, ...outputNames]);
  for (const key of Object.keys(rename)) {
    if (!boundary.has(key)) throw notFound(key, `rename.${key}`, boundary);
  }
  const r = (n: string): string => rename[n] ?? n;
  const keptNames = new Set<string>(keepInits);
  for (const i of keepNodes) for (const o of nodes[i]?.output ?? []) keptNames.add(o);
  for (const n of inputNames) keptNames.add(n);
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

  const infos = knownTensorInfos(g);
  const boundaryInfo = (spec: string | TensorInfo, role: string, i: number): onnx.ValueInfoProto => {
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

  const keptNodeList = nodes.filter((_, i) => keepNodes.has(i)).map((n) => renameNode(n, r));
  const internal = new Set<string>();
  for (const i of keepNodes) for (const o of nodes[i]?.output ?? []) if (!boundary.has(o)) internal.add(o);
  const graph = onnx.GraphProto.create({
    name: opts.name ?? g.name ?? 'piece',
    node: keptNodeList,
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

function nameOf(spec: string | TensorInfo): string {
  return typeof spec === 'string' ? spec : spec.name;
}

function notFound(name: string, option: string, names: Iterable<string>): OnnxError {
  const similar = closestWords(name, names, 8);
  return new OnnxError('ONNX_TENSOR_NOT_FOUND', `Tensor ${name} is not in the graph`, {
    option,
    validValues: similar,
    hint: similar.length > 0 ? 'The valid values listed are the most similar tensor names.' : 'List the graph tensors with a viewer such as Netron.',
  });
}
