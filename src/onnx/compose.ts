/** Chaining single-input, single-output models into one graph. */
import { OnnxError } from '../errors.js';
import { graphInputs, graphOutputs } from './graph.js';
import { type Model, type TensorInfo, graphOf, onnx, toNumber } from './proto.js';
import { renameNode, renameTensor, renameValueInfo } from './rename.js';

export interface ComposeOptions {
  /** The composed graph's name (default `composed`). */
  name?: string;
  /** The composed model's input name (default: the first model's input name). */
  inputName?: string;
  /** The composed model's output name (default: the last model's output name). */
  outputName?: string;
}

/**
 * One model that runs `models` in order, each one's output feeding the next one's input. Every
 * name inside model `i` is prefixed with `p{i}/` so names never collide; the composed input is
 * the first model's input and the output is the last model's output (optionally renamed). Opset
 * imports are merged (highest version per domain). Tensor data is shared with the source models.
 *
 * Throws `ONNX_GRAPH_INVALID` when a model does not have exactly one input and one output, or
 * when one model's output cannot feed the next one's input (element type, rank or a fixed dimension differs).
 */
export function composeModels(models: Model[], opts: ComposeOptions = {}): Model {
  if (models.length === 0) {
    throw new OnnxError('ONNX_GRAPH_INVALID', 'composeModels needs at least one model', { option: 'models' });
  }
  const ends = models.map(endsOf);
  for (let i = 1; i < ends.length; i++) checkChains(ends[i - 1]?.output as TensorInfo, ends[i]?.input as TensorInfo, i);

  const last = models.length - 1;
  const inputName = opts.inputName ?? (ends[0]?.input.name as string);
  const outputName = opts.outputName ?? (ends[last]?.output.name as string);
  const node: onnx.NodeProto[] = [];
  const initializer: onnx.TensorProto[] = [];
  const valueInfo = new Map<string, onnx.ValueInfoProto>();
  let input: onnx.ValueInfoProto | undefined;
  let output: onnx.ValueInfoProto | undefined;
  const opsets = new Map<string, number>();
  const functions = new Map<string, onnx.IFunctionProto>();
  let irVersion = 0;

  for (const [i, m] of models.entries()) {
    const g = graphOf(m);
    const { input: mi, output: mo } = ends[i] as { input: TensorInfo; output: TensorInfo };
    const prefix = `p${i}/`;
    const rename = (n: string): string => {
      if (n === mi.name) return i === 0 ? inputName : `p${i - 1}/${ends[i - 1]?.output.name ?? ''}`;
      if (i === last && n === mo.name) return outputName;
      return prefix + n;
    };
    for (const n of g.node ?? []) node.push(renameNode(n, rename, (name) => prefix + name));
    for (const t of g.initializer ?? []) initializer.push(renameTensor(t, rename(t.name ?? '')));
    for (const vi of g.valueInfo ?? [])
      valueInfo.set(rename(vi.name ?? ''), renameValueInfo(vi, rename(vi.name ?? '')));
    for (const vi of g.output ?? []) {
      if (vi.name !== mo.name) continue;
      if (i === last) output = renameValueInfo(vi, outputName);
      else valueInfo.set(rename(mo.name), renameValueInfo(vi, rename(mo.name)));
    }
    if (i === 0) {
      const vi = (g.input ?? []).find((v) => v.name === mi.name);
      if (vi) input = renameValueInfo(vi, inputName);
    }
    for (const o of m.opsetImport ?? []) {
      const domain = o.domain === 'ai.onnx' ? '' : (o.domain ?? '');
      opsets.set(domain, Math.max(opsets.get(domain) ?? 0, toNumber(o.version)));
    }
    for (const f of m.functions ?? []) functions.set(`${f.domain ?? ''}:${f.name ?? ''}`, f);
    irVersion = Math.max(irVersion, toNumber(m.irVersion));
  }
  for (const n of [inputName, outputName]) valueInfo.delete(n);

  return onnx.ModelProto.create({
    irVersion,
    producerName: 'stitchnet',
    opsetImport: [...opsets].map(([domain, version]) => ({ domain, version })),
    functions: [...functions.values()],
    graph: {
      name: opts.name ?? 'composed',
      node,
      initializer,
      input: input ? [input] : [],
      output: output ? [output] : [],
      valueInfo: [...valueInfo.values()],
    },
  });
}

/** A model's one input and one output, which must differ. */
function endsOf(m: Model, i: number): { input: TensorInfo; output: TensorInfo } {
  const ins = graphInputs(m);
  const outs = graphOutputs(m);
  const [input] = ins;
  const [output] = outs;
  if (ins.length !== 1 || outs.length !== 1 || !input || !output) {
    throw new OnnxError(
      'ONNX_GRAPH_INVALID',
      `Model ${i} has ${ins.length} inputs and ${outs.length} outputs; composing needs exactly one of each`,
      {
        option: `models[${i}]`,
        hint: 'Extract single-input, single-output pieces first (extractSubgraph).',
      },
    );
  }
  if (input.name === output.name) {
    throw new OnnxError(
      'ONNX_GRAPH_INVALID',
      `Model ${i} passes its input ${input.name} straight through as its output`,
      { option: `models[${i}]` },
    );
  }
  return { input, output };
}

function checkChains(from: TensorInfo, to: TensorInfo, i: number): void {
  const where = `model ${i - 1} output ${from.name} [${from.shape.join(', ')}] (${from.dtype}) -> model ${i} input ${to.name} [${to.shape.join(', ')}] (${to.dtype})`;
  const fixedDiffers = from.shape.some(
    (d, k) => typeof d === 'number' && typeof to.shape[k] === 'number' && d !== to.shape[k],
  );
  if (from.dtype !== to.dtype || from.shape.length !== to.shape.length || fixedDiffers) {
    throw new OnnxError('ONNX_GRAPH_INVALID', `Models don't chain: ${where}`, {
      option: `models[${i}]`,
      hint: "Each model must accept the previous one's output; insert a stitching layer where widths differ.",
    });
  }
}
