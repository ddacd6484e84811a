/** Values as they appear in error messages. */

/**
 * A value as it appears in messages: `NaN`, `"12"` for a string, `null`, `an object`. Never
 * throws, whatever the value (BigInts, symbols, objects without a prototype).
 */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing (undefined)';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'bigint') return `${String(value)}n`;
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'function') return 'a function';
  return typeof value === 'symbol' ? 'a symbol' : 'an object';
}
