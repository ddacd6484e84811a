/**
 * Dotted field paths for error messages: `stitches[4].route[1].stitchLayer`,
 * `pieces["ti.block.0"].sha256`.
 */

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** Formats a property path as a dotted path; keys that are not identifiers are bracketed and quoted. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && IDENTIFIER.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

/** The path of a piece's field: `pieces["ti.block.0"].file`. */
export function pieceField(pieceId: string, ...rest: PropertyKey[]): string {
  return fieldPath(['pieces', pieceId, ...rest]);
}

/** The value at `path` inside `data` (object keys and list indices), `undefined` where there is none. */
export function valueAt(data: unknown, path: readonly (string | number)[]): unknown {
  let v = data;
  for (const k of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}
