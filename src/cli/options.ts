/** Parsers for CLI option values; each names the option at fault and the valid form. */
import { OptionError } from '../errors.js';

/** A comma-separated list of positive integers (`--batch 1,8`). */
export function intList(option: string) {
  return (value: string): number[] => {
    const parts = value.split(',').map((s) => s.trim());
    const out = parts.map(Number);
    if (parts.length === 0 || out.some((n, i) => !Number.isInteger(n) || n <= 0 || parts[i] === '')) {
      throw new OptionError('OPTION_INVALID', `${option} must be a comma-separated list of positive integers, got ${JSON.stringify(value)}`, {
        option,
        hint: `For example: ${option} 1,8`,
      });
    }
    return out;
  };
}

/** One positive integer. */
export function positiveInt(option: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n <= 0) {
      throw new OptionError('OPTION_INVALID', `${option} must be a positive integer, got ${JSON.stringify(value)}`, { option });
    }
    return n;
  };
}

/** One of a fixed set of strings. */
export function oneOf<T extends string>(option: string, values: readonly T[]) {
  return (value: string): T => {
    if (!(values as readonly string[]).includes(value)) {
      throw new OptionError('OPTION_INVALID', `${option} got ${JSON.stringify(value)}`, { option, validValues: values });
    }
    return value as T;
  };
}
