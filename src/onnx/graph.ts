/** Inspecting a model's graph: its real inputs and outputs and where each tensor comes from. */
import { OnnxError } from '../errors.js';
import { type Model, type TensorInfo, graphOf, type onnx, tensorInfoOf } from './proto.js';

/** The graph's inputs that are fed at run time (initializers listed as inputs are left out). */
export function graphInputs(model: Model): TensorInfo[] {
  const g = graphOf(model);
  const inits = new Set((g.initializer ?? []).map((t) => t.name ?? ''));
  return (g.input ?? []).filter((vi) => !inits.has(vi.name ?? '')).map((vi) => requireInfo(vi, 'input'));
}

/** The graph's outputs. */
export function graphOutputs(model: Model): TensorInfo[] {
  return (graphOf(model).output ?? []).map((vi) => requireInfo(vi, 'output'));
}

function requireInfo(vi: onnx.IValueInfoProto, role: string): TensorInfo {
  const info = tensorInfoOf(vi);
  if (!info) {
    throw new OnnxError('ONNX_GRAPH_INVALID', `Graph ${role} ${vi.name ?? ''} has no tensor type and shape`, {
      field: `graph.${role}.${vi.name ?? ''}`,
      hint: 'Re-export the model with input and output shapes (torch.onnx.export does this by default).',
    });
  }
  return info;
}

/**
 * The names a node reads: its inputs plus, for nodes with subgraph attributes (If, Loop, Scan),
 * the outer-scope names those subgraphs use. Empty names (absent optional inputs) are left out.
 */
export function nodeReads(node: onnx.INodeProto): string[] {
  const reads = (node.input ?? []).filter((n) => n !== '');
  for (const a of node.attribute ?? []) {
    for (const sub of [a.g, ...(a.graphs ?? [])]) {
      if (sub) reads.push(...outerReads(sub));
    }
  }
  return reads;
}

function outerReads(g: onnx.IGraphProto): string[] {
  const defined = new Set<string>();
  for (const vi of g.input ?? []) defined.add(vi.name ?? '');
  for (const t of g.initializer ?? []) defined.add(t.name ?? '');
  for (const n of g.node ?? []) for (const o of n.output ?? []) defined.add(o);
  const reads = new Set<string>();
  for (const n of g.node ?? []) for (const r of nodeReads(n)) if (!defined.has(r)) reads.add(r);
  for (const vi of g.output ?? []) if (!defined.has(vi.name ?? '')) reads.add(vi.name ?? '');
  return [...reads];
}

/** Every named value of the graph with its TensorInfo where the graph records one. */
export function knownTensorInfos(g: onnx.IGraphProto): Map<string, TensorInfo> {
  const infos = new Map<string, TensorInfo>();
  for (const vi of [...(g.input ?? []), ...(g.valueInfo ?? []), ...(g.output ?? [])]) {
    const info = tensorInfoOf(vi);
    if (info) infos.set(info.name, info);
  }
  return infos;
}
