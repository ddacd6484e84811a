/** A small helper for writing ONNX graphs node by node, with names like `torch.onnx.export` gives them. */
import { OnnxError } from '../errors.js';
import { AttributeType, type Model, type TensorDtype, float32Tensor, onnx, valueInfo } from './proto.js';

/** Attribute constructors. */
export const attr = {
  int: (name: string, i: number): onnx.IAttributeProto => ({ name, type: AttributeType.INT, i }),
  float: (name: string, f: number): onnx.IAttributeProto => ({ name, type: AttributeType.FLOAT, f }),
  ints: (name: string, ints: number[]): onnx.IAttributeProto => ({ name, type: AttributeType.INTS, ints }),
  tensor: (name: string, t: onnx.ITensorProto): onnx.IAttributeProto => ({ name, type: AttributeType.TENSOR, t }),
};

/** The ONNX IR version written by the builders (the one opset 17 belongs to). */
export const IR_VERSION = 8;

/**
 * Collects nodes, initializers and graph inputs/outputs. Node names follow the exporter's scheme:
 * `${scope}/${opType}`, then `_1`, `_2`, … for repeats in the same scope; a node's output is
 * `${nodeName}_output_0` unless given.
 */
export class GraphBuilder {
  private readonly nodes: onnx.NodeProto[] = [];
  private readonly initializers: onnx.TensorProto[] = [];
  private readonly inputs: onnx.ValueInfoProto[] = [];
  private readonly outputs: onnx.ValueInfoProto[] = [];
  private readonly valueInfos: onnx.ValueInfoProto[] = [];
  private readonly counts = new Map<string, number>();
  private readonly initializerNames = new Set<string>();
  private matmulWeights = 0;

  /** Adds a node and returns the name of its (single) output. */
  op(
    scope: string,
    opType: string,
    inputs: string[],
    attributes: onnx.IAttributeProto[] = [],
    output?: string,
  ): string {
    const base = `${scope}/${opType}`;
    const n = this.counts.get(base) ?? 0;
    this.counts.set(base, n + 1);
    const name = n === 0 ? base : `${base}_${n}`;
    const out = output ?? `${name}_output_0`;
    this.nodes.push(onnx.NodeProto.create({ name, opType, input: inputs, output: [out], attribute: attributes }));
    return out;
  }

  /** Adds a `Constant` node holding `t` and returns its output name. */
  constant(scope: string, t: onnx.ITensorProto): string {
    return this.op(scope, 'Constant', [], [attr.tensor('value', t)]);
  }

  /** Adds a float32 initializer under `name` (which must be new) and returns the name. */
  initializer(name: string, dims: readonly number[], data: Float32Array): string {
    if (this.initializerNames.has(name)) {
      throw new OnnxError('ONNX_GRAPH_INVALID', `Initializer ${name} is defined twice`, { field: name });
    }
    this.initializerNames.add(name);
    this.initializers.push(float32Tensor(name, dims, data));
    return name;
  }

  /** Adds a MatMul weight `[in, out]` under a fresh `onnx::MatMul_<n>` name, as the exporter names transposed Linear weights. */
  matmulWeight(dims: readonly number[], data: Float32Array): string {
    return this.initializer(`onnx::MatMul_${this.matmulWeights++}`, dims, data);
  }

  /** Declares a graph input. */
  input(name: string, shape: readonly (number | string)[], dtype: TensorDtype = 'float32'): string {
    this.inputs.push(valueInfo(name, shape, dtype));
    return name;
  }

  /** Declares a graph output. */
  output(name: string, shape: readonly (number | string)[], dtype: TensorDtype = 'float32'): void {
    this.outputs.push(valueInfo(name, shape, dtype));
  }

  /** Records the shape of an intermediate tensor. */
  valueInfo(name: string, shape: readonly (number | string)[], dtype: TensorDtype = 'float32'): void {
    this.valueInfos.push(valueInfo(name, shape, dtype));
  }

  /** The model, with the default-domain opset `opset`. */
  model(name: string, opset: number): Model {
    return onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: 'stitchnet',
      opsetImport: [{ domain: '', version: opset }],
      graph: {
        name,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
        valueInfo: this.valueInfos,
      },
    });
  }
}
