/**
 * Parsing profiles from YAML or JSON text, with errors that point at the file, line and field and
 * say what would have been accepted.
 */
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import type { z } from 'zod';
import { closest } from '../base/did-you-mean.js';
import { ProfileError } from '../errors.js';
import { ProfileSchema, type Profile } from './schema.js';

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
}

/** The result of {@link validateProfileText}. */
export type ProfileValidation = { ok: true; profile: Profile } | { ok: false; issues: ProfileIssue[] };

const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** Formats a path as `rules[0].when["battery.percent"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && IDENTIFIER.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out === '' ? '(top level)' : out;
}

/**
 * Validates profile text (YAML, or JSON, which is YAML too) and returns either the profile or every
 * problem found, each with its line. Never throws.
 */
export function validateProfileText(text: string, options: ParseProfileOptions = {}): ProfileValidation {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      ok: false,
      issues: doc.errors.map((e) => ({
        path: [],
        field: '(syntax)',
        message: `Syntax error: ${(e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '')}`,
        line: e.linePos?.[0].line,
        column: e.linePos?.[0].col,
        hint: e.code === 'DUPLICATE_KEY' ? 'Each key may appear once per mapping' : 'Check indentation, colons and brackets on that line (YAML or JSON)',
      })),
    };
  }
  const locate = locator(doc, lines);
  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  if (data === null || data === undefined) {
    return { ok: false, issues: [{ path: [], field: '(top level)', message: 'The profile is empty', hint: 'Start from one of the shipped profiles, e.g. profiles/balanced.yaml', line: 1, column: 1 }] };
  }
  const result = ProfileSchema.safeParse(data);
  if (!result.success) return { ok: false, issues: located(schemaIssues(result.error.issues, data), locate) };
  const extra = options.check?.(result.data) ?? [];
  if (extra.length > 0) return { ok: false, issues: located(extra, locate) };
  return { ok: true, profile: result.data };
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
  const result = ProfileSchema.safeParse(value);
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
  if (!first) return new ProfileError('PROFILE_INVALID', 'Invalid profile', { file });
  if (issues.length === 1) {
    const where = first.line === undefined ? '' : ` at line ${first.line}, column ${first.column ?? 1}`;
    return new ProfileError('PROFILE_INVALID', `Invalid profile${where}: ${first.message}`, {
      file,
      field: first.field,
      hint: first.hint,
      validValues: first.validValues,
    });
  }
  const list = issues.map((i) => `${at(i)}: ${i.message}${i.hint ? ` (${i.hint})` : ''}`).join('; ');
  return new ProfileError('PROFILE_INVALID', `Invalid profile, ${issues.length} problems: ${list}`, { file, field: first.field });
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
        const guess = closest(key, valid);
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
      const isThreshold = last === 'below' || last === 'above' || last === 'equals' || last === 'between' || typeof last === 'number';
      const conditionPath = path.includes('when');
      let hint: string | undefined;
      if (issue.expected === 'number' && conditionPath && isThreshold) hint = 'Thresholds are plain numbers, e.g. below: 20 (no quotes, no units)';
      else if (issue.expected === 'number') hint = 'Write a plain number (no quotes, no units; durations are in ms)';
      else if (issue.expected === 'boolean' && conditionPath) hint = `"${String(last)}" is true or false: write ${String(last)}: false, not a range`;
      else if (issue.expected === 'boolean') hint = 'Write true or false';
      const expected = issue.expected === 'object' ? 'a mapping' : issue.expected === 'array' ? 'a list' : `a ${issue.expected}`;
      if (got === 'nothing') return [{ path, message: `Missing "${String(last)}" (${expected})`, hint }];
      return [{ path, message: `Expected ${expected}, got ${got}`, hint }];
    }
    case 'invalid_value': {
      const value = valueAt(data, path);
      const valid = issue.values.map((v) => String(v));
      const guess = typeof value === 'string' ? closest(value, valid) : undefined;
      return [{ path, message: `${JSON.stringify(value)} is not allowed here${guess ? `; did you mean "${guess}"?` : ''}`, validValues: valid }];
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
        const guess = closest(last, (params.validValues ?? []).map(String));
        if (guess) message += `; did you mean "${guess}"?`;
      }
      return [{ path, message, hint: params.hint, validValues: params.validValues }];
    }
    default:
      return [{ path, message: issue.message }];
  }
}

function valueAt(data: unknown, path: readonly (string | number)[]): unknown {
  let v = data;
  for (const k of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string | number, unknown>)[k];
  }
  return v;
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
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
    if (d.type === 'object') s = d.shape?.[String(key)] ?? d.catchall;
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
