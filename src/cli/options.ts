/** Parsers for CLI option values; each names the option at fault and the valid form. */
import { OptionError } from '../errors.js';

/** A comma-separated list of positive integers (`--batch 1,8`). */
export function intList(option: string) {
  return (value: string): number[] => {
    const parts = value.split(',').map((s) => s.trim());
    const out = parts.map(Number);
    if (parts.length === 0 || out.some((n, i) => !Number.isInteger(n) || n <= 0 || parts[i] === '')) {
      throw new OptionError(
        'OPTION_INVALID',
        `${option} must be a comma-separated list of positive integers, got ${JSON.stringify(value)}`,
        {
          option,
          hint: `For example: ${option} 1,8`,
        },
      );
    }
    return out;
  };
}

/** One positive integer. */
export function positiveInt(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) {
      throw new OptionError('OPTION_INVALID', `${option} must be a positive integer, got ${JSON.stringify(value)}`, {
        option,
      });
    }
    return n;
  };
}

/** One of a fixed set of strings. */
export function oneOf<T extends string>(option: string, values: readonly T[]) {
  return (value: string): T => {
    if (!(values as readonly string[]).includes(value)) {
      throw new OptionError('OPTION_INVALID', `${option} got ${JSON.stringify(value)}`, {
        option,
        validValues: values,
      });
    }
    return value as T;
  };
}

/** A positive number, written as a decimal or a fraction (`--scale 1/255`). */
export function positiveNumber(option: string) {
  return (value: string): number => {
    const n = parseNumber(value);
    if (n === undefined || n <= 0) {
      throw new OptionError('OPTION_INVALID', `${option} must be a positive number, got ${JSON.stringify(value)}`, {
        option,
        hint: `For example: ${option} 0.5 or ${option} 1/255`,
      });
    }
    return n;
  };
}

/** A comma-separated list of numbers (`--mean 0.485,0.456,0.406`). */
export function numberList(option: string) {
  return (value: string): number[] => {
    const out = value.split(',').map((s) => parseNumber(s.trim()));
    if (out.some((n) => n === undefined)) {
      throw new OptionError(
        'OPTION_INVALID',
        `${option} must be a comma-separated list of numbers, got ${JSON.stringify(value)}`,
        {
          option,
          hint: `For example: ${option} 0.5,0.5,0.5`,
        },
      );
    }
    return out as number[];
  };
}

/** A whole number ≥ 0. */
export function nonNegativeInt(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n) || n < 0) {
      throw new OptionError('OPTION_INVALID', `${option} must be a whole number ≥ 0, got ${JSON.stringify(value)}`, {
        option,
      });
    }
    return n;
  };
}

/** A finite number from a decimal (`0.5`, `1e-6`) or a fraction (`1/255`); undefined otherwise. */
function parseNumber(s: string): number | undefined {
  const parts = s.split('/');
  if (parts.length > 2 || parts.some((p) => p.trim() === '')) return undefined;
  const [num, den = 1] = parts.map(Number) as [number, number?];
  const n = num / den;
  return Number.isFinite(n) ? n : undefined;
}
