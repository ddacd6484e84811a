/** Renaming the values of a graph without copying tensor data. */
import { onnx } from './proto.js';

/** Maps a value name to its new name. */
export type Renamer = (name: string) => string;

/**
 * A copy of `node` whose inputs and outputs are renamed by `tensor` and whose name is renamed by
 * `nodeName`. Subgraph attributes are renamed throughout (their local names included), so
 * outer-scope references stay consistent. Other attributes are shared, not copied.
 */
export function renameNode(node: onnx.INodeProto, tensor: Renamer, nodeName: Renamer = (n) => n): onnx.NodeProto {
  const attribute = (node.attribute ?? []).map((a) =>
    a.g || (a.graphs && a.graphs.length > 0)
      ? onnx.AttributeProto.create({
          ...a,
          g: a.g ? renameGraph(a.g, tensor, nodeName) : null,
          graphs: (a.graphs ?? []).map((sub) => renameGraph(sub, tensor, nodeName)),
        })
      : a,
  );
  return onnx.NodeProto.create({
    ...node,
    name: node.name ? nodeName(node.name) : '',
    input: (node.input ?? []).map((n) => (n === '' ? '' : tensor(n))),
    output: (node.output ?? []).map((n) => (n === '' ? '' : tensor(n))),
    attribute,
  });
}

/** A copy of an initializer under a new name; the data buffers are shared. */
export function renameTensor(t: onnx.ITensorProto, name: string): onnx.TensorProto {
  return onnx.TensorProto.create({ ...t, name });
}

/** A copy of a value info under a new name; its type is shared. */
export function renameValueInfo(vi: onnx.IValueInfoProto, name: string): onnx.ValueInfoProto {
  return onnx.ValueInfoProto.create({ ...vi, name });
}

function renameGraph(g: onnx.IGraphProto, tensor: Renamer, nodeName: Renamer): onnx.GraphProto {
  return onnx.GraphProto.create({
    ...g,
    node: (g.node ?? []).map((n) => renameNode(n, tensor, nodeName)),
    initializer: (g.initializer ?? []).map((t) => renameTensor(t, tensor(t.name ?? ''))),
    input: (g.input ?? []).map((vi) => renameValueInfo(vi, tensor(vi.name ?? ''))),
    output: (g.output ?? []).map((vi) => renameValueInfo(vi, tensor(vi.name ?? ''))),
    valueInfo: (g.valueInfo ?? []).map((vi) => renameValueInfo(vi, tensor(vi.name ?? ''))),
  });
}
