/**
 * Checking a `run()` input against the package's declared input tensor.
 */
import { RuntimeError } from '../errors.js';
import type { TensorSpec } from '../package/schema.js';

/** What `run()` accepts: a flat float32 array (batch inferred) or data with explicit dims. */
export type RunInput = Float32Array | { data: Float32Array; dims: readonly number[] };

/** A validated input. */
export interface Input {
  data: Float32Array;
  dims: number[];
}

function shapeText(shape: readonly (number | string)[]): string {
  return `[${shape.join(', ')}]`;
}

function invalid(message: string, spec: TensorSpec, option: string): RuntimeError {
  return new RuntimeError(
    'INPUT_INVALID',
    `${message}; the package input "${spec.name}" has shape ${shapeText(spec.shape)}`,
    {
      option,
      hint: 'Pass a Float32Array whose length is a multiple of one sample, or { data, dims } with dims matching that shape (symbolic dims such as "batch" are free).',
    },
  );
}

/** Options of {@link checkInput}. */
export interface CheckInputOptions {
  /** Refuse a value that is not finite (NaN, ±Infinity). Default `true`. */
  checkFinite?: boolean;
}

/**
 * The index of the first value of `data` that is not finite (NaN or ±Infinity), or -1. One
 * subtraction per value: `x - x` is 0 for every finite `x` and NaN otherwise.
 */
export function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) {
    const v = data[i] as number;
    if (v - v !== 0) return i;
  }
  return -1;
}

/**
 * Checks `input` against `spec` and returns its data and dims. A bare Float32Array is read as a
 * batch of samples when the shape has exactly one symbolic dimension (the batch). Throws
 * RuntimeError INPUT_INVALID naming the expected shape, or the index of the first value that is
 * not finite (unless `checkFinite` is false).
 */
export function checkInput(input: RunInput, spec: TensorSpec, options: CheckInputOptions = {}): Input {
  const checked = checkShape(input, spec);
  if (options.checkFinite ?? true) {
    const bad = firstNonFinite(checked.data);
    if (bad >= 0) {
      throw new RuntimeError(
        'INPUT_INVALID',
        `input value [${bad}] is ${String(checked.data[bad])}, not a finite number`,
        {
          option: `input[${bad}]`,
          hint: 'Check the preprocessing that produced the input (a division by zero, a missing pixel); pass { checkFinite: false } to run() only if your data is always finite',
        },
      );
    }
  }
  return checked;
}

function checkShape(input: RunInput, spec: TensorSpec): Input {
  if (input instanceof Float32Array) {
    const free = spec.shape.filter((d) => typeof d === 'string');
    if (free.length > 1)
      throw invalid(
        'a bare Float32Array is ambiguous with several symbolic dimensions; pass { data, dims }',
        spec,
        'input',
      );
    const sample = spec.shape.reduce<number>((a, d) => (typeof d === 'number' ? a * d : a), 1);
    if (
      input.length === 0 ||
      sample === 0 ||
      input.length % sample !== 0 ||
      (free.length === 0 && input.length !== sample)
    ) {
      throw invalid(
        `the input has ${input.length} values, which is not ${free.length === 0 ? '' : 'a positive multiple of '}${sample}`,
        spec,
        'input',
      );
    }
    return { data: input, dims: spec.shape.map((d) => (typeof d === 'number' ? d : input.length / sample)) };
  }
  if (
    input === null ||
    typeof input !== 'object' ||
    !(input.data instanceof Float32Array) ||
    !Array.isArray(input.dims)
  ) {
    throw invalid('the input must be a Float32Array or { data: Float32Array, dims: number[] }', spec, 'input');
  }
  const { data, dims } = input;
  if (dims.length !== spec.shape.length) {
    throw invalid(
      `input dims [${dims.join(', ')}] have rank ${dims.length}, expected rank ${spec.shape.length}`,
      spec,
      'input.dims',
    );
  }
  dims.forEach((d, i) => {
    const want = spec.shape[i];
    if (!Number.isInteger(d) || d <= 0)
      throw invalid(`input dims[${i}] is ${d}, not a positive integer`, spec, `input.dims[${i}]`);
    if (typeof want === 'number' && d !== want)
      throw invalid(`input dims[${i}] is ${d}, expected ${want}`, spec, `input.dims[${i}]`);
  });
  const count = dims.reduce((a, b) => a * b, 1);
  if (data.length !== count) {
    throw invalid(
      `the input has ${data.length} values but dims [${dims.join(', ')}] need ${count}`,
      spec,
      'input.data',
    );
  }
  return { data, dims: [...dims] };
}
