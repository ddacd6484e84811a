/**
 * Generators of hostile input for the fuzz suite: texts mutated from valid seeds, values mutated
 * at a random path, and arbitrary values including the awkward ones (NaN, -0, huge numbers,
 * prototypes, deep and wide structures).
 */
import fc from 'fast-check';

/** Fragments that tend to break parsers: brackets, YAML anchors and aliases, BOMs, odd numbers. */
const FRAGMENTS = [
  '[',
  ']',
  '{',
  '}',
  '"',
  "'",
  ',',
  ':',
  '\n',
  '\r\n',
  '\t',
  '#',
  '- ',
  '&a ',
  '*a',
  '!!binary',
  '!!js/function',
  '<<: *a',
  '.nan',
  '.inf',
  '-.inf',
  'NaN',
  'Infinity',
  '1e309',
  '-1',
  '0x10',
  '1_000',
  'null',
  '~',
  'true',
  'yes',
  '\uFEFF',
  '\u0000',
  '\u2028',
  '"t_ms"',
  't_ms',
  'battery.percent',
  'app.x',
  '150',
  '-5',
  '""',
  '\\',
  '%YAML 1.2\n---\n',
  '---\n',
  '...\n',
  '? ',
];

type Mutation = (text: string, at: number, span: number, fragment: string) => string;
const MUTATIONS: readonly Mutation[] = [
  (t, at, span) => t.slice(0, at) + t.slice(at + span),
  (t, at, span) => t.slice(0, at) + t.slice(at, at + span).repeat(3) + t.slice(at),
  (t, at, _s, f) => t.slice(0, at) + f + t.slice(at),
  (t, at, span, f) => t.slice(0, at) + f + t.slice(at + span),
  (t, at) => t.slice(0, at),
  (t, at, span) => t.slice(0, at) + t.slice(at, at + span).toUpperCase() + t.slice(at + span),
];

/** A seed text with 1–6 random edits (cut, repeat, insert or replace a fragment, truncate). */
export function mutatedText(seeds: readonly string[]): fc.Arbitrary<string> {
  const edit = fc.tuple(
    fc.nat(MUTATIONS.length - 1),
    fc.double({ min: 0, max: 1, noNaN: true }),
    fc.nat(40),
    fc.constantFrom(...FRAGMENTS),
  );
  return fc
    .tuple(fc.constantFrom(...seeds), fc.array(edit, { minLength: 1, maxLength: 6 }))
    .map(([seed, edits]) =>
      edits.reduce(
        (t, [m, where, span, fragment]) => (MUTATIONS[m] as Mutation)(t, Math.floor(where * t.length), span, fragment),
        seed,
      ),
    );
}

/** Awkward scalars and small structures. */
export function anyValue(): fc.Arbitrary<unknown> {
  const odd = fc.constantFrom<unknown>(
    Number.NaN,
    Infinity,
    -Infinity,
    -0,
    1e308,
    Number.MAX_SAFE_INTEGER + 2,
    '',
    'false',
    '0',
    [],
    {},
    null,
    undefined,
    Object.create(null),
    new Date(0),
    () => 1,
    Symbol('s'),
    10n,
    new Float32Array(2),
    new Map(),
  );
  return fc.oneof(
    { weight: 2, arbitrary: odd },
    {
      weight: 3,
      arbitrary: fc.anything({ maxDepth: 3, withNullPrototype: true, withBigInt: true, withTypedArray: true }),
    },
  );
}

/** Paths into a plain value: every key and index, down to leaves. */
function pathsOf(
  value: unknown,
  prefix: (string | number)[] = [],
  out: (string | number)[][] = [],
  limit = 2000,
): (string | number)[][] {
  if (out.length >= limit) return out;
  out.push(prefix);
  if (Array.isArray(value)) value.forEach((v, i) => pathsOf(v, [...prefix, i], out, limit));
  else if (typeof value === 'object' && value !== null)
    for (const [k, v] of Object.entries(value)) pathsOf(v, [...prefix, k], out, limit);
  return out;
}

function setAt(value: unknown, path: readonly (string | number)[], replacement: unknown, remove: boolean): unknown {
  if (path.length === 0) return replacement;
  let copy: Record<string | number, unknown>;
  try {
    copy = (
      Array.isArray(value) ? Array.prototype.slice.call(value) : { ...(value as Record<string, unknown>) }
    ) as Record<string | number, unknown>;
  } catch {
    // An awkward value put there by an earlier edit (an exotic prototype): build over a plain object.
    copy = {};
  }
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  if (rest.length === 0 && remove) delete copy[head];
  else copy[head] = setAt(copy[head], rest, replacement, remove);
  return copy;
}

/** A valid value with one to three paths replaced by awkward values, deleted, or given an extra key. */
export function mutatedValue(valid: unknown): fc.Arbitrary<unknown> {
  const paths = pathsOf(valid);
  const edit = fc.tuple(
    fc.constantFrom(...paths),
    anyValue(),
    fc.constantFrom('replace', 'delete', 'extra'),
    fc.constantFrom('provder', 'stich', 'extra', '__proto__', 'constructor', 'afterRun'),
  );
  return fc.array(edit, { minLength: 1, maxLength: 3 }).map((edits) =>
    edits.reduce<unknown>((v, [path, replacement, how, key]) => {
      if (how === 'extra') return setAt(v, [...path, key], replacement, false);
      return setAt(v, path, replacement, how === 'delete');
    }, valid),
  );
}
