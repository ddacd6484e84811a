/** A token-wise Linear layer as its own ONNX model (the shape of a stitching layer). */
import { OptionError } from '../errors.js';
import { GraphBuilder } from './graph-builder.js';
import type { Model } from './proto.js';

export interface LinearModelOptions {
  /** Row-major `[dimIn, dimOut]`: `y = x·W + b`. */
  weight: Float32Array;
  /** `[dimOut]`. */
  bias: Float32Array;
  dimIn: number;
  dimOut: number;
  /** Default `x`. */
  inputName?: string;
  /** Default `y`. */
  outputName?: string;
  /** Default `['batch', 'tokens', dimIn]`; the last dimension must be `dimIn`. */
  inputShape?: (number | string)[];
}

/** The opset the Linear models are written for. */
export const LINEAR_OPSET = 17;

/**
 * A model computing `y = x·W + b` over the last axis (MatMul + Add, opset 17), applied to every
 * token. Throws `OPTION_INVALID` when the weight, bias or input shape don't match the dimensions.
 */
export function linearModel(opts: LinearModelOptions): Model {
  const { weight, bias, dimIn, dimOut } = opts;
  const inputShape = opts.inputShape ?? ['batch', 'tokens', dimIn];
  for (const [option, v] of [
    ['dimIn', dimIn],
    ['dimOut', dimOut],
  ] as const) {
    if (!Number.isInteger(v) || v <= 0)
      throw new OptionError('OPTION_INVALID', `${option} must be a positive integer, got ${v}`, { option });
  }
  if (weight.length !== dimIn * dimOut) {
    throw new OptionError(
      'OPTION_INVALID',
      `weight has ${weight.length} values but [dimIn, dimOut] = [${dimIn}, ${dimOut}] needs ${dimIn * dimOut}`,
      {
        option: 'weight',
        hint: 'Pass the weight row-major as [dimIn, dimOut] (the transpose of a PyTorch Linear weight).',
      },
    );
  }
  if (bias.length !== dimOut) {
    throw new OptionError('OPTION_INVALID', `bias has ${bias.length} values, expected dimOut = ${dimOut}`, {
      option: 'bias',
    });
  }
  const lastDim = inputShape[inputShape.length - 1];
  if (inputShape.length === 0 || (typeof lastDim === 'number' && lastDim !== dimIn)) {
    throw new OptionError('OPTION_INVALID', `inputShape [${inputShape.join(', ')}] must end in dimIn = ${dimIn}`, {
      option: 'inputShape',
    });
  }
  const g = new GraphBuilder();
  const x = g.input(opts.inputName ?? 'x', inputShape);
  const outputName = opts.outputName ?? 'y';
  const w = g.matmulWeight([dimIn, dimOut], weight);
  const b = g.initializer('transform.bias', [dimOut], bias);
  const mm = g.op('/transform', 'MatMul', [x, w]);
  g.op('/transform', 'Add', [mm, b], [], outputName);
  g.output(outputName, [...inputShape.slice(0, -1), dimOut]);
  return g.model('linear', LINEAR_OPSET);
}
