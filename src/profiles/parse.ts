/**
 * Parsing profiles from YAML or JSON text, with errors that point at the file, line and field and
 * say what would have been accepted.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { fieldPath, valueAt } from '../base/field-path.js';
import { didYouMean } from '../base/text.js';
import { ProfileError } from '../errors.js';
import { jsonText, ProfileSchema, type Profile } from './schema.js';

/** A problem found by an extra check (see {@link ParseProfileOptions.check}). */
export interface ProfileCheckIssue {
  /** Where in the profile, e.g. `['rules', 2, 'limit', 'stitches', 0]`. */
  readonly path: readonly (string | number)[];
  readonly message: string;
  readonly hint?: string | undefined;
  readonly validValues?: readonly (string | number)[] | undefined;
}

/** One problem of a profile, located. */
export interface ProfileIssue extends ProfileCheckIssue {
  /** The path as text: `rules[0].when["battery.percent"].below`. */
  readonly field: string;
  /** 1-based line and column in the text, where known. */
  readonly line?: number | undefined;
  readonly column?: number | undefined;
}

/** Options of {@link parseProfile}. */
export interface ParseProfileOptions {
  /** The file name, for messages. */
  file?: string | undefined;
  /**
   * Extra checks on a profile that passed the schema, e.g. against the model it will drive (the
   * stitch ids and providers it names exist). Their issues are located like the schema's own.
   */
  check?: ((profile: Profile) => readonly ProfileCheckIssue[]) | undefined;
  /** Refuse a profile larger than this many bytes (UTF-8). Default {@link DEFAULT_MAX_PROFILE_BYTES}. */
  maxBytes?: number | undefined;
}

/**
 * Default cap on the size of a profile: 128 KiB, about a thousand rules (the shipped ones are under
 * 4 KiB). Parsing is synchronous: a profile at this cap parses in about 0.4 s on a 2-core machine
 * (1 MiB took 3 s), which bounds how long a hot reload can hold the event loop.
 */
export const DEFAULT_MAX_PROFILE_BYTES = 128 * 1024;
/** Deepest nesting of mappings and lists a profile may have. */
export const MAX_PROFILE_DEPTH = 100;
/** Most YAML aliases (`*name`) a profile may expand. */
export const MAX_PROFILE_ALIASES = 100;
/** Deepest nesting of `all` / `any` condition sets in a rule. */
export { MAX_CONDITION_DEPTH } from './schema.js';

/** The result of {@link validateProfileText}. */
export type ProfileValidation = { ok: true; profile: Profile } | { ok: false; issues: ProfileIssue[] };

/** Formats a path as `rules[0].when["battery.percent"]`; `(top level)` for the empty path. */
function formatPath(path: readonly PropertyKey[]): string {
  return fieldPath(path) || '(top level)';
}

/**
 * Validates profile text (YAML, or JSON, which is YAML too; a UTF-8 byte order mark is ignored)
 * and returns either the profile or every problem found, each with its line. Bounded: a text
 * over `maxBytes`, nested deeper than {@link MAX_PROFILE_DEPTH} or expanding more than
 * {@link MAX_PROFILE_ALIASES} aliases is refused before it costs time or memory. Never throws.
 */
export function validateProfileText(text: string, options: ParseProfileOptions = {}): ProfileValidation {
  try {
    return validateBounded(text, options);
  } catch (e) {
    // Not expected: every known failure is an issue. Still, this function never throws.
    const message = e instanceof Error ? e.message : String(e);
    return {
      ok: false,
      issues: [
        {
          path: [],
          field: '(top level)',
          message: `The profile could not be validated: ${message}`,
          hint: 'This is a bug in stitchnet; please report it with the profile',
        },
      ],
    };
  }
}

const fail = (issue: Omit<ProfileIssue, 'path'> & { path?: ProfileIssue['path'] }): ProfileValidation => ({
  ok: false,
  issues: [{ path: [], ...issue }],
});

function validateBounded(input: string, options: ParseProfileOptions): ProfileValidation {
  if (typeof input !== 'string')
    return fail({
      field: '(top level)',
      message: `A profile is text, got ${typeof input}`,
      hint: 'Pass the YAML or JSON text of the profile',
    });
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_PROFILE_BYTES;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) {
    return fail({
      field: '(file)',
      message: `The profile is ${bytes} bytes, over the limit of ${maxBytes}`,
      hint: 'A profile is a few KiB; raise maxBytes only for a profile you trust',
    });
  }
  const nesting = flowNesting(text);
  if (nesting.depth > MAX_PROFILE_DEPTH) return fail({ ...tooDeep(), line: nesting.line, column: nesting.column });
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) return syntaxIssues(doc);
  const depth = documentDepth(doc.contents);
  if (depth > MAX_PROFILE_DEPTH) return fail(tooDeep());
  const badKey = collectionKey(doc.contents);
  if (badKey) {
    const at = badKey.range?.[0] === undefined ? undefined : lines.linePos(badKey.range[0]);
    return fail({
      field: '(syntax)',
      message: `A mapping key must be a plain name, got a ${isMap(badKey) ? 'mapping' : 'list'}`,
      hint: 'Write keys as names (battery.percent:, rules:); a "? " complex key is not part of a profile',
      ...(at ? { line: at.line, column: at.col } : {}),
    });
  }
  const locate = locator(doc, lines);
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: MAX_PROFILE_ALIASES });
  } catch (e) {
    const aliases = e instanceof ReferenceError && /alias/i.test(e.message);
    return fail({
      field: '(top level)',
      message: aliases
        ? `The profile expands too many YAML aliases (more than ${MAX_PROFILE_ALIASES})`
        : `The profile cannot be read: ${e instanceof Error ? e.message : String(e)}`,
      hint: aliases
        ? 'Write the repeated parts out, or use fewer *aliases'
        : 'Check the YAML anchors (&name) and aliases (*name)',
    });
  }
  if (data === null || data === undefined) {
    return {
      ok: false,
      issues: [
        {
          path: [],
          field: '(top level)',
          message: 'The profile is empty',
          hint: 'Start from one of the shipped profiles, e.g. profiles/balanced.yaml',
          line: 1,
          column: 1,
        },
      ],
    };
  }
  if (valueDepth(data, MAX_PROFILE_DEPTH) > MAX_PROFILE_DEPTH) return fail(tooDeep());
  const result = ProfileSchema.safeParse(data);
  if (!result.success) return { ok: false, issues: located(schemaIssues(result.error.issues, data), locate) };
  const extra = options.check?.(result.data) ?? [];
  if (extra.length > 0) return { ok: false, issues: located(extra, locate) };
  return { ok: true, profile: result.data };
}

function syntaxIssues(doc: Document): ProfileValidation {
  return {
    ok: false,
    issues: doc.errors.slice(0, 20).map((e) => {
      const overflow = /call stack/i.test(e.message);
      return {
        path: [],
        field: '(syntax)',
        message: overflow
          ? `The profile is nested too deeply (more than ${MAX_PROFILE_DEPTH} levels)`
          : `Syntax error: ${(e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '')}`,
        line: e.linePos?.[0].line,
        column: e.linePos?.[0].col,
        hint: overflow
          ? 'Flatten the profile'
          : e.code === 'DUPLICATE_KEY'
            ? 'Each key may appear once per mapping'
            : 'Check indentation, colons and brackets on that line (YAML or JSON)',
      };
    }),
  };
}

function tooDeep(): Omit<ProfileIssue, 'path'> {
  return {
    field: '(top level)',
    message: `The profile is nested deeper than ${MAX_PROFILE_DEPTH} levels`,
    hint: 'A profile needs a few levels; nest condition sets (all/any) at most a few deep',
  };
}

/**
 * The deepest nesting of flow brackets (`[`, `{`) in the text, outside quotes and comments, and
 * where it is first reached; a cheap scan that keeps the YAML parser from recursing on
 * `[[[[…`.
 */
export function flowNesting(text: string): { depth: number; line: number; column: number } {
  let depth = 0;
  let max = { depth: 0, line: 1, column: 1 };
  let line = 1;
  let lineStart = 0;
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') {
      line++;
      lineStart = i + 1;
      if (quote === "'") continue;
    }
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1] ?? ''))) {
      const end = text.indexOf('\n', i);
      i = (end < 0 ? text.length : end) - 1;
    } else if (c === '[' || c === '{') {
      depth++;
      if (depth > max.depth) max = { depth, line, column: i - lineStart + 1 };
      if (depth > MAX_PROFILE_DEPTH) return max;
    } else if ((c === ']' || c === '}') && depth > 0) depth--;
  }
  return max;
}

/** The nesting depth of a YAML node tree, walked without recursion. */
function documentDepth(root: unknown): number {
  let max = 0;
  const stack: { node: unknown; depth: number }[] = [{ node: root, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop() as { node: unknown; depth: number };
    if (depth > max) max = depth;
    if (max > MAX_PROFILE_DEPTH) return max;
    if (isMap(node) || isSeq(node)) {
      for (const item of node.items) {
        if (isPair(item)) stack.push({ node: item.value, depth: depth + 1 });
        else stack.push({ node: item, depth: depth + 1 });
      }
    }
  }
  return max;
}

/** The first mapping key that is itself a mapping or a list (`? [a]: 1`), walked without recursion. */
function collectionKey(root: unknown): YamlNode | undefined {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (!isMap(node) && !isSeq(node)) continue;
    for (const item of node.items) {
      if (isPair(item)) {
        if (isMap(item.key) || isSeq(item.key)) return item.key;
        stack.push(item.value);
      } else stack.push(item);
    }
  }
  return undefined;
}

/**
 * The nesting depth of a plain value, walked without recursion and stopping past `limit` (so a
 * cyclic object reads as too deep rather than looping).
 */
export function valueDepth(value: unknown, limit: number): number {
  let max = 0;
  const stack: { v: unknown; depth: number }[] = [{ v: value, depth: 1 }];
  let visited = 0;
  while (stack.length > 0) {
    const { v, depth } = stack.pop() as { v: unknown; depth: number };
    if (typeof v !== 'object' || v === null) continue;
    if (depth > max) max = depth;
    if (max > limit || ++visited > 1_000_000) return Math.max(max, limit + 1);
    for (const child of Array.isArray(v) ? v : Object.values(v))
      if (typeof child === 'object' && child !== null) stack.push({ v: child, depth: depth + 1 });
  }
  return max;
}

/**
 * Parses and validates a profile from YAML or JSON text. Throws a {@link ProfileError}
 * (`PROFILE_INVALID`) naming the file, the line and field of the first problem, every other
 * problem, the valid values and a hint.
 */
export function parseProfile(text: string, options: ParseProfileOptions = {}): Profile {
  const v = validateProfileText(text, options);
  if (v.ok) return v.profile;
  throw profileError(v.issues, options.file);
}

/**
 * Validates a profile given as an object (e.g. `StitchRuntime.create({ profile: { … } })`).
 * Errors carry the field path but no line.
 */
export function profileFromObject(value: unknown, options: ParseProfileOptions = {}): Profile {
  let result: ReturnType<typeof ProfileSchema.safeParse>;
  try {
    if (valueDepth(value, MAX_PROFILE_DEPTH) > MAX_PROFILE_DEPTH)
      throw profileError([{ path: [], ...tooDeep() }], options.file);
    result = ProfileSchema.safeParse(value);
  } catch (e) {
    if (e instanceof ProfileError) throw e;
    // Only a value that YAML or JSON cannot produce (a typed array, a Date, a getter that throws) gets here.
    throw new ProfileError(
      'PROFILE_INVALID',
      `The profile cannot be checked: ${e instanceof Error ? e.message : String(e)}`,
      {
        file: options.file,
        cause: e,
        hint: 'A profile object is plain data: objects, arrays, strings, numbers and booleans',
      },
    );
  }
  const issues = result.success ? (options.check?.(result.data) ?? []) : schemaIssues(result.error.issues, value);
  if (result.success && issues.length === 0) return result.data;
  throw profileError(
    issues.map((i) => ({ ...i, field: formatPath(i.path) })),
    options.file,
  );
}

/** Builds the error thrown for a list of issues. */
export function profileError(issues: readonly ProfileIssue[], file: string | undefined): ProfileError {
  const at = (i: ProfileIssue) => (i.line === undefined ? i.field : `line ${i.line}:${i.column ?? 1} ${i.field}`);
  const [first] = issues;
  const hint =
    'Fix the field named; `stitchnet validate <profile>` lists every problem with its line and a hint, and profiles/profile.schema.json gives editors completion';
  if (!first) return new ProfileError('PROFILE_INVALID', 'Invalid profile', { file, hint });
  if (issues.length === 1) {
    const where = first.line === undefined ? '' : ` at line ${first.line}, column ${first.column ?? 1}`;
    return new ProfileError('PROFILE_INVALID', `Invalid profile${where}: ${first.message}`, {
      file,
      field: first.field,
      hint: first.hint ?? hint,
      validValues: first.validValues,
    });
  }
  const list = issues.map((i) => `${at(i)}: ${i.message}${i.hint ? ` (${i.hint})` : ''}`).join('; ');
  return new ProfileError('PROFILE_INVALID', `Invalid profile, ${issues.length} problems: ${list}`, {
    file,
    field: first.field,
    hint: 'Fix the problems in order: a syntax error often causes the ones after it',
  });
}

// ---------------------------------------------------------------------------------------------
// zod issues → profile issues

type Issue = z.core.$ZodIssue;

function schemaIssues(raw: readonly Issue[], data: unknown): ProfileCheckIssue[] {
  const out: ProfileCheckIssue[] = [];
  for (const issue of raw.flatMap((i) => flattenUnion(i, []))) out.push(...describeIssue(issue, data));
  // An unknown signal makes the conditions under it moot: report the name only.
  const unknown = out.filter((i) => i.message.startsWith('Unknown signal')).map((i) => i.path);
  return out.filter((i) => i.message.startsWith('Unknown signal') || !unknown.some((p) => startsWith(i.path, p)));
}

function startsWith(path: readonly (string | number)[], prefix: readonly (string | number)[]): boolean {
  return prefix.length <= path.length && prefix.every((k, i) => path[i] === k);
}

/** Replaces a union failure by the issues of the branch that came closest. */
function flattenUnion(issue: Issue, prefix: readonly PropertyKey[]): Issue[] {
  const path = [...prefix, ...issue.path];
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return [{ ...issue, path } as Issue];
  const score = (branch: readonly Issue[]) => {
    const wrongTypeHere = branch.some((i) => i.code === 'invalid_type' && i.path.length === 0);
    const depth = Math.max(0, ...branch.map((i) => i.path.length));
    return (wrongTypeHere ? 0 : 1000) + depth;
  };
  const best = issue.errors.reduce((a, b) => (score(b) > score(a) ? b : a));
  return best.flatMap((i) => flattenUnion(i, path));
}

function describeIssue(issue: Issue, data: unknown): ProfileCheckIssue[] {
  const path = issue.path.filter((k): k is string | number => typeof k !== 'symbol');
  const last = path.at(-1);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const valid = validKeysAt(path);
      return issue.keys.map((key) => {
        const guess = didYouMean(key, valid);
        return {
          path: [...path, key],
          message: `Unknown key "${key}"${guess ? `; did you mean "${guess}"?` : ''}`,
          hint: valid.length > 0 ? `Valid keys here: ${valid.join(', ')}` : undefined,
          validValues: valid,
        };
      });
    }
    case 'invalid_type': {
      const got = describeValue(valueAt(data, path));
      const isThreshold =
        last === 'below' || last === 'above' || last === 'equals' || last === 'between' || typeof last === 'number';
      const conditionPath = path.includes('when');
      let hint: string | undefined;
      const value = valueAt(data, path);
      if (typeof value === 'number' && !Number.isFinite(value))
        hint = 'Write a finite number: .nan and .inf are not thresholds or settings';
      else if (issue.expected === 'number' && conditionPath && isThreshold)
        hint = 'Thresholds are plain numbers, e.g. below: 20 (no quotes, no units)';
      else if (issue.expected === 'number') hint = 'Write a plain number (no quotes, no units; durations are in ms)';
      else if (issue.expected === 'boolean' && conditionPath)
        hint = `"${String(last)}" is true or false: write ${String(last)}: false, not a range`;
      else if (issue.expected === 'boolean') hint = 'Write true or false';
      const expected =
        issue.expected === 'object' ? 'a mapping' : issue.expected === 'array' ? 'a list' : `a ${issue.expected}`;
      if (got === 'nothing') return [{ path, message: `Missing "${String(last)}" (${expected})`, hint }];
      return [{ path, message: `Expected ${expected}, got ${got}`, hint }];
    }
    case 'invalid_value': {
      const value = valueAt(data, path);
      const valid = issue.values.map((v) => String(v));
      const guess = typeof value === 'string' ? didYouMean(value, valid) : undefined;
      return [
        {
          path,
          message: `${jsonText(value)} is not allowed here${guess ? `; did you mean "${guess}"?` : ''}`,
          validValues: valid,
        },
      ];
    }
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const cmp = issue.code === 'too_small' ? (issue.inclusive ? '≥' : '>') : issue.inclusive ? '≤' : '<';
      const what = issue.origin === 'array' ? 'Needs a number of entries' : 'Must be';
      const ms = typeof last === 'string' && /Ms$/.test(last) ? ' (ms)' : '';
      return [{ path, message: `${what} ${cmp} ${String(bound)}${ms}, got ${describeValue(valueAt(data, path))}` }];
    }
    case 'custom': {
      const params = (issue.params ?? {}) as { hint?: string; validValues?: (string | number)[]; kind?: string };
      let message = issue.message;
      if (params.kind === 'unknown-signal' && typeof last === 'string') {
        const guess = didYouMean(last, (params.validValues ?? []).map(String));
        if (guess) message += `; did you mean "${guess}"?`;
      }
      return [{ path, message, hint: params.hint, validValues: params.validValues }];
    }
    default:
      return [{ path, message: issue.message }];
  }
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'number' && !Number.isFinite(v)) return `${String(v)} (not a finite number)`;
  if (typeof v === 'bigint') return `bigint ${String(v)}n`;
  if (typeof v === 'symbol' || typeof v === 'function') return `a ${typeof v}`;
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${JSON.stringify(v)}`;
}

// ---------------------------------------------------------------------------------------------
// schema walking: which keys are valid at a path

interface Def {
  type: string;
  innerType?: Schema;
  in?: Schema;
  shape?: Record<string, Schema>;
  catchall?: Schema;
  element?: Schema;
  valueType?: Schema;
  items?: Schema[];
  options?: Schema[];
}
interface Schema {
  _zod: { def: Def };
}

function unwrap(s: Schema): Schema {
  let cur = s;
  for (;;) {
    const d = cur._zod.def;
    const next = d.innerType ?? (d.type === 'pipe' ? d.in : undefined);
    if (!next) return cur;
    cur = next;
  }
}

/** The keys the schema accepts for the mapping at `path` (empty when unknown). */
export function validKeysAt(path: readonly (string | number)[]): string[] {
  let s: Schema | undefined = ProfileSchema as unknown as Schema;
  for (const key of path) {
    if (!s) return [];
    const d: Def = unwrap(s)._zod.def;
    if (d.type === 'object') s = d.shape && Object.hasOwn(d.shape, String(key)) ? d.shape[String(key)] : d.catchall;
    else if (d.type === 'array') s = d.element;
    else if (d.type === 'record') s = d.valueType;
    else if (d.type === 'tuple') s = d.items?.[Number(key)];
    else if (d.type === 'union') s = d.options?.find((o) => unwrap(o)._zod.def.type === 'object');
    else return [];
  }
  if (!s) return [];
  const d = unwrap(s)._zod.def;
  const obj = d.type === 'union' ? d.options?.map((o) => unwrap(o)._zod.def).find((o) => o.type === 'object') : d;
  return obj?.type === 'object' && obj.shape ? Object.keys(obj.shape) : [];
}

// ---------------------------------------------------------------------------------------------
// paths → lines

type Locate = (path: readonly (string | number)[]) => { line: number; column: number } | undefined;

function locator(doc: Document, lines: LineCounter): Locate {
  return (path) => {
    // The key of the last segment if it is a mapping key (points at "bogus:" for an unknown key),
    // else the value; if the path does not exist (a missing key), its closest existing parent.
    for (let n = path.length; n >= 0; n--) {
      const head = path.slice(0, n);
      const parent = n === 0 ? doc.contents : doc.getIn(path.slice(0, n - 1), true);
      const key = path[n - 1];
      let node: YamlNode | null | undefined;
      if (n > 0 && isMap(parent)) {
        const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(key));
        node = pair && isScalar(pair.key) ? pair.key : undefined;
      } else {
        node = (n === 0 ? doc.contents : doc.getIn(head, true)) as YamlNode | null | undefined;
      }
      const offset = node?.range?.[0];
      if (offset !== undefined) {
        const pos = lines.linePos(offset);
        return { line: pos.line, column: pos.col };
      }
    }
    return undefined;
  };
}

function located(issues: readonly ProfileCheckIssue[], locate: Locate): ProfileIssue[] {
  return issues
    .map((i) => ({ ...i, field: formatPath(i.path), ...prefixed(locate(i.path)) }))
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
}

function prefixed(pos: { line: number; column: number } | undefined): { line?: number; column?: number } {
  return pos ? { line: pos.line, column: pos.column } : {};
}
