/**
 * The options of `StitchRuntime.create` and `run` as zod schemas: wrong types, values out of
 * range and unknown keys are refused with an {@link OptionError} naming the option, what it takes,
 * and a did-you-mean for a misspelt key.
 *
 * The public option types are the plain interfaces (`StitchRuntimeOptions`, `RunOptions`,
 * `ThreadOptions`, `FastPathOptions`, `CalibrateOptions`); each schema is typed against its
 * interface, so the two cannot drift apart and no zod type reaches the public declarations.
 */
import { valueAt } from '../base/field-path.js';
import { z } from 'zod';
import { didYouMean as closest } from '../base/text.js';
import { OptionError } from '../errors.js';
import type { FastPathOptions, ThreadOptions } from '../engine/options.js';
import type { ProviderName } from '../engine/providers.js';
import type { StitchPackage } from '../package/read.js';
import type { ProfileInput } from '../profiles/schema.js';
import { describeValue } from '../signals/names.js';
import { isSignalSource } from '../signals/isolate.js';
import type { SignalSource } from '../signals/source.js';
import type { CalibrateOption, ProfileWatchOptions, RunOptions, StitchRuntimeOptions } from './option-types.js';

export type { CalibrateOption } from './option-types.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isFunction = (v: unknown): boolean => typeof v === 'function';

const count = z.number().int().positive();
const ms = z.number().nonnegative();

/** `threads`. */
export const ThreadOptionsSchema = z.strictObject({
  intraOp: count.optional(),
  interOp: count.optional(),
  spinning: z.boolean().optional(),
}) satisfies z.ZodType<ThreadOptions>;

/** `fastPath` when it is an object. */
export const FastPathOptionsSchema = z.strictObject({
  afterRuns: z.number().int().nonnegative().optional(),
  afterMs: ms.optional(),
  cacheSize: count.optional(),
  maxRunMs: ms.optional(),
  memoryBudgetMB: z.number().nonnegative().optional(),
}) satisfies z.ZodType<FastPathOptions>;

/** `calibrate`. */
export const CalibrateOptionsSchema = z.union([
  z.literal('auto'),
  z.literal(false),
  z.strictObject({
    batches: z.array(count).min(1).optional(),
    rounds: count.optional(),
    warmup: z.number().int().nonnegative().optional(),
    budgetMs: z.union([z.number().nonnegative(), z.literal(Number.POSITIVE_INFINITY)]).optional(),
  }),
]) satisfies z.ZodType<CalibrateOption>;

const signalSource = z.custom<SignalSource>(isSignalSource, {
  error: 'a SignalSource (an object with a name and a readings(scheduler) method)',
});

const abortSignal = z.custom<AbortSignal>(
  (v) => isObject(v) && typeof v.aborted === 'boolean' && isFunction(v.addEventListener),
  {
    error: 'an AbortSignal (e.g. AbortSignal.timeout(5000))',
  },
);

const stitchPackage = z.custom<StitchPackage>(
  (v) =>
    isObject(v) &&
    isObject(v.manifest) &&
    Array.isArray(v.manifest.stitches) &&
    isFunction(v.routePieces) &&
    isFunction(v.pieceBytes),
  {
    error: 'a package from readPackage()',
  },
);

const scheduler = z.custom<NonNullable<StitchRuntimeOptions['scheduler']>>(
  (v) => isObject(v) && isFunction(v.now) && isFunction(v.schedule),
  {
    error: 'an RxJS scheduler (with now() and schedule())',
  },
);

const WatchOptionsSchema = z.strictObject({
  changes: z
    .custom<NonNullable<ProfileWatchOptions['changes']>>((v) => isObject(v) && isFunction(v.subscribe), {
      error: 'an Observable',
    })
    .optional(),
  debounceMs: ms.optional(),
  read: z
    .custom<NonNullable<ProfileWatchOptions['read']>>(isFunction, { error: 'a function (file) => string' })
    .optional(),
}) satisfies z.ZodType<ProfileWatchOptions>;

/** The options of `StitchRuntime.create`. */
export const CreateOptionsSchema = z.strictObject({
  model: z
    .union([z.string().min(1), stitchPackage])
    .describe('the path of a stitch package folder, or a package from readPackage()'),
  providers: z.custom<readonly ProviderName[]>(() => true).optional(),
  threads: ThreadOptionsSchema.optional(),
  cpuMemArena: z.boolean().optional(),
  prepackWeights: z.boolean().optional(),
  worker: z.boolean().optional(),
  fastPath: z.union([z.literal(false), FastPathOptionsSchema]).optional(),
  stitch: z.number().int().nonnegative().optional(),
  now: z.custom<() => number>(isFunction, { error: 'a function returning the time in ms' }).optional(),
  calibrate: CalibrateOptionsSchema.optional(),
  cacheDir: z.string().min(1).optional(),
  signal: abortSignal.optional(),
  profile: z.union([z.string().min(1), z.custom<ProfileInput>(isObject, { error: 'a profile object' })]).optional(),
  watchProfile: z.union([z.boolean(), WatchOptionsSchema]).optional(),
  signals: z.array(signalSource).optional(),
  systemSource: z.union([z.literal(false), signalSource]).optional(),
  scheduler: scheduler.optional(),
}) satisfies z.ZodType<StitchRuntimeOptions>;

/** The options of `run`. */
export const RunOptionsSchema = z.strictObject({
  stitch: z.number().optional(),
  signal: abortSignal.optional(),
  checkFinite: z.boolean().optional(),
}) satisfies z.ZodType<RunOptions>;

/**
 * Validates the options of `StitchRuntime.create`.
 * @throws OptionError OPTION_INVALID naming the option (`fastPath.afterRuns`, `signals[1]`)
 */
export function parseCreateOptions(value: unknown): StitchRuntimeOptions {
  if (!isObject(value)) {
    throw new OptionError(
      'OPTION_INVALID',
      `StitchRuntime.create needs an options object such as { model: 'models/fmnist-vit' }, got ${describeValue(value)}`,
      {
        option: 'options',
        hint: 'Pass the path of a stitch package folder as model, or a package from readPackage().',
      },
    );
  }
  return parseOptions(CreateOptionsSchema, value, '');
}

/**
 * Validates the options of `run`.
 * @throws OptionError OPTION_INVALID naming the option
 */
export function parseRunOptions(value: unknown): RunOptions {
  if (value === undefined) return {};
  return parseOptions(RunOptionsSchema, value, 'options.');
}

/**
 * Validates one option on its own, with the errors `StitchRuntime.create` gives for it (naming
 * `name`, or `name.field`).
 * @throws OptionError OPTION_INVALID
 */
export function parseOption<T>(name: string, schema: z.ZodType<T>, value: unknown): T {
  return parseOptions(z.strictObject({ [name]: schema }), { [name]: value }, '')[name] as T;
}

function parseOptions<T>(schema: z.ZodType<T>, value: unknown, prefix: string): T {
  let result: ReturnType<typeof schema.safeParse>;
  try {
    result = schema.safeParse(value);
  } catch (e) {
    // Only an object that cannot be walked (a getter that throws, an exotic prototype) gets here.
    throw new OptionError(
      'OPTION_INVALID',
      `The options cannot be read: ${e instanceof Error ? e.message : String(e)}`,
      {
        option: 'options',
        cause: e,
        hint: 'Pass a plain object of options',
      },
    );
  }
  if (result.success) return result.data;
  throw optionError(schema, result.error.issues, value, prefix);
}

type Issue = z.core.$ZodIssue;

/** The error for the most telling issue: an unknown key first, else the first problem. */
export function optionError(schema: z.ZodType, raw: readonly Issue[], value: unknown, prefix = ''): OptionError {
  const issues = raw.flatMap((i) => flattenUnion(i, []));
  const issue = issues.find((i) => i.code === 'unrecognized_keys') ?? issues[0];
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more problem${issues.length > 2 ? 's' : ''})` : '';
  if (!issue) return new OptionError('OPTION_INVALID', 'Invalid options', { option: 'options' });
  const path = issue.path.filter((k): k is string | number => typeof k !== 'symbol');
  const name = (p: readonly (string | number)[]) =>
    prefix + p.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
  if (issue.code === 'unrecognized_keys') {
    const key = issue.keys[0] as string;
    const valid = keysAt(schema, path);
    const guess = closest(key, valid);
    return new OptionError(
      'OPTION_INVALID',
      `Unknown option "${name([...path, key])}"${guess ? `; did you mean "${guess}"?` : ''}${more}`,
      {
        option: name([...path, key]),
        validValues: valid,
        hint: guess ? `Rename it to ${guess}` : 'Remove it; the valid options are listed',
      },
    );
  }
  const got = describeValue(valueAt(value, path));
  const option = path.length === 0 ? 'options' : name(path);
  const { message, validValues } = describeIssue(issue, got);
  return new OptionError('OPTION_INVALID', `${option} ${message}${more}`, {
    option,
    validValues,
    hint: 'See the documentation of StitchRuntime.create and run for every option and its type',
  });
}

function describeIssue(issue: Issue, got: string): { message: string; validValues?: (string | number)[] } {
  switch (issue.code) {
    case 'invalid_type':
      return {
        message: `must be ${article(issue.expected)}, got ${got}`,
        ...(issue.expected === 'boolean' ? { validValues: ['true', 'false'] } : {}),
      };
    case 'invalid_value': {
      const values = issue.values.map((v) => (typeof v === 'string' || typeof v === 'number' ? v : String(v)));
      return {
        message: `must be ${values.map((v) => JSON.stringify(v)).join(' or ')}, got ${got}`,
        validValues: values,
      };
    }
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const cmp = issue.code === 'too_small' ? (issue.inclusive ? '≥' : '>') : issue.inclusive ? '≤' : '<';
      if (issue.origin === 'array') return { message: `needs ${cmp} ${String(bound)} entries, got ${got}` };
      if (issue.origin === 'string') return { message: `must not be empty, got ${got}` };
      return { message: `must be ${cmp} ${String(bound)}, got ${got}` };
    }
    case 'invalid_union':
      return { message: `must be ${unionExpectation(issue)}, got ${got}` };
    case 'custom':
      return { message: `must be ${issue.message}, got ${got}` };
    default:
      return { message: `is invalid (${issue.message}), got ${got}` };
  }
}

function article(expected: string): string {
  if (expected === 'int') return 'an integer';
  if (expected === 'object') return 'an object';
  if (expected === 'array') return 'a list';
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

/** "false or an object" from the root-level failures of each branch. */
function unionExpectation(issue: Extract<Issue, { code: 'invalid_union' }>): string {
  const forms = issue.errors.flatMap((branch) =>
    branch
      .filter((i) => i.path.length === 0)
      .map((i) =>
        i.code === 'invalid_value'
          ? i.values.map((v) => JSON.stringify(v)).join(' or ')
          : i.code === 'invalid_type'
            ? article(i.expected)
            : i.message,
      ),
  );
  return [...new Set(forms)].join(' or ') || 'one of the accepted forms';
}

/** Replaces a union failure by the issues of the branch that came closest (failed deepest). */
function flattenUnion(issue: Issue, prefix: readonly PropertyKey[]): Issue[] {
  const path = [...prefix, ...issue.path];
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return [{ ...issue, path } as Issue];
  const score = (branch: readonly Issue[]) =>
    Math.max(...branch.map((i) => (i.path.length === 0 && i.code !== 'unrecognized_keys' ? 0 : 1 + i.path.length)));
  const best = issue.errors.reduce((a, b) => (score(b) > score(a) ? b : a));
  if (score(best) === 0) return [{ ...issue, path } as Issue];
  return best.flatMap((i) => flattenUnion(i, path));
}

interface Def {
  type: string;
  innerType?: Walk;
  shape?: Record<string, Walk>;
  element?: Walk;
  options?: Walk[];
}
interface Walk {
  _zod: { def: Def };
}

/** The keys of the object schema at `path` (through optionals, unions and lists). */
function keysAt(schema: z.ZodType, path: readonly (string | number)[]): string[] {
  const objectOf = (s: Walk | undefined): Def | undefined => {
    let d = s?._zod.def;
    while (d?.innerType) d = d.innerType._zod.def;
    if (d?.type === 'union') return d.options?.map((o) => objectOf(o)).find((o) => o?.type === 'object');
    return d;
  };
  let d = objectOf(schema as unknown as Walk);
  for (const key of path) {
    if (d?.type === 'object')
      d = d.shape && Object.hasOwn(d.shape, String(key)) ? objectOf(d.shape[String(key)]) : undefined;
    else if (d?.type === 'array') d = objectOf(d.element);
    else return [];
  }
  return d?.type === 'object' && d.shape ? Object.keys(d.shape) : [];
}
