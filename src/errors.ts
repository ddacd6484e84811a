/**
 * The stitchnet error family.
 *
 * Every error the SDK throws (or emits on `errors$`) is a {@link StitchnetError} with a stable
 * `code`, the place at fault (`file`, `field`, `option`), the valid values where there is a finite
 * set, and a `hint` that says what to do. Callers branch on `code` (or {@link isStitchnetError}),
 * never on the message text.
 *
 * Identity is by a brand, `Symbol.for('stitchnet.error')`, not by class: an app that loads the ESM
 * and the CommonJS build side by side (or two copies of the package) gets two sets of classes, and
 * `isStitchnetError(e)` and `e instanceof StitchnetError` still hold for an error of either copy.
 * (`instanceof` on a subclass such as `PackageError` is by class; compare `e.name` across copies.)
 */
import { messageOf } from './base/message.js';

/** Stable error codes. Adding a code is fine; renaming one is a breaking change. */
export type StitchnetErrorCode =
  // package format and integrity
  | 'PACKAGE_NOT_FOUND'
  | 'PACKAGE_MANIFEST_INVALID'
  | 'PACKAGE_FORMAT_UNKNOWN'
  | 'PACKAGE_FILE_MISSING'
  | 'PACKAGE_FILE_TOO_LARGE'
  | 'PACKAGE_HASH_MISMATCH'
  | 'PACKAGE_PATH_OUTSIDE'
  | 'PACKAGE_ROUTE_INVALID'
  | 'PACKAGE_DIMENSION_MISMATCH'
  | 'PACKAGE_DATA_INVALID'
  // ONNX graphs
  | 'ONNX_DECODE_FAILED'
  | 'ONNX_GRAPH_INVALID'
  | 'ONNX_TENSOR_NOT_FOUND'
  | 'ONNX_IO_FAILED'
  // runtime
  | 'PROVIDER_UNKNOWN'
  | 'PROVIDER_UNAVAILABLE'
  | 'SESSION_CREATE_FAILED'
  | 'INFERENCE_FAILED'
  | 'INPUT_INVALID'
  | 'STITCH_UNKNOWN'
  | 'RUNTIME_CLOSED'
  | 'ABORTED'
  | 'WORKER_FAILED'
  | 'CACHE_WRITE_FAILED'
  // profiles, signals, policy
  | 'PROFILE_INVALID'
  | 'PROFILE_NOT_FOUND'
  | 'PROFILE_NEEDS_RESTART'
  | 'PROVIDER_NOT_IN_USE'
  | 'SIGNAL_UNAVAILABLE'
  | 'SIGNAL_SOURCE_FAILED'
  | 'TRACE_INVALID'
  // install: optional dependencies, models by package name, downloads
  | 'DEPENDENCY_MISSING'
  | 'PACKAGE_FETCH_FAILED'
  // builder and CLI
  | 'BUILD_BOUNDARY_NOT_FOUND'
  | 'BUILD_ANCHORS_INVALID'
  | 'BUILD_PARITY_FAILED'
  | 'BUILD_DATA_INVALID'
  | 'BUILD_STITCH_WEIGHTS_INVALID'
  | 'BUILD_COST_UNSUPPORTED'
  | 'OPTION_INVALID';

export interface StitchnetErrorOptions {
  /** What to do about it, in one sentence. */
  hint?: string;
  /** The file at fault (a path as the user gave it, or relative to the package). */
  file?: string;
  /** The field at fault inside that file, as a dotted path (`stitches[3].route[1].anchor`). */
  field?: string;
  /** The API or CLI option at fault (`providers[0]`, `--batch`). */
  option?: string;
  /** The values that would have been accepted, where the set is finite. */
  validValues?: readonly (string | number)[];
  /** The underlying error. */
  cause?: unknown;
}

/**
 * The brand every StitchnetError carries (a registered symbol: the same in every copy of the
 * package loaded into one process).
 */
const STITCHNET_ERROR_BRAND = Symbol.for('stitchnet.error');

export class StitchnetError extends Error {
  override readonly name: string = 'StitchnetError';
  readonly code: StitchnetErrorCode;
  readonly hint: string | undefined;
  readonly file: string | undefined;
  readonly field: string | undefined;
  readonly option: string | undefined;
  readonly validValues: readonly (string | number)[] | undefined;

  constructor(code: StitchnetErrorCode, message: string, options: StitchnetErrorOptions = {}) {
    super(composeMessage(message, options), options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.file = options.file;
    this.field = options.field;
    this.option = options.option;
    this.validValues = options.validValues;
  }

  /**
   * `e instanceof StitchnetError` holds for a StitchnetError of any copy of the package (by its
   * brand); for a subclass, by class as usual.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class asked about (StitchnetError or a subclass)
    if (this === StitchnetError) return hasBrand(value);
    // biome-ignore lint/complexity/noThisInStatic: as above
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }

  /** A plain object for logs, JSON output and crossing a worker boundary. */
  toJSON(): SerializedStitchnetError {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      hint: this.hint,
      file: this.file,
      field: this.field,
      option: this.option,
      validValues: this.validValues ? [...this.validValues] : undefined,
      cause: this.cause === undefined ? undefined : messageOf(this.cause),
    };
  }
}

export interface SerializedStitchnetError {
  name: string;
  code: StitchnetErrorCode;
  message: string;
  hint?: string | undefined;
  file?: string | undefined;
  field?: string | undefined;
  option?: string | undefined;
  validValues?: (string | number)[] | undefined;
  cause?: string | undefined;
}

function composeMessage(message: string, o: StitchnetErrorOptions): string {
  const where = [o.file && `file ${o.file}`, o.field && `field ${o.field}`, o.option && `option ${o.option}`]
    .filter(Boolean)
    .join(', ');
  let text = message;
  if (where) text += ` (${where})`;
  if (o.validValues && o.validValues.length > 0) {
    const shown = o.validValues
      .slice(0, 20)
      .map((v) => JSON.stringify(v))
      .join(', ');
    text += `. Valid values: ${shown}${o.validValues.length > 20 ? ', …' : ''}`;
  }
  if (o.hint) text += `. ${o.hint}`;
  return text;
}

/** A stitch package on disk is missing, malformed or fails an integrity check. */
export class PackageError extends StitchnetError {
  override readonly name = 'PackageError';
}
/** An ONNX file cannot be decoded or a graph operation cannot be done on it. */
export class OnnxError extends StitchnetError {
  override readonly name = 'OnnxError';
}
/** Session creation, inference, providers, or use after close. */
export class RuntimeError extends StitchnetError {
  override readonly name = 'RuntimeError';
}
/** A profile file or object is invalid. */
export class ProfileError extends StitchnetError {
  override readonly name = 'ProfileError';
}
/** A device signal source failed or a trace is malformed. */
export class SignalError extends StitchnetError {
  override readonly name = 'SignalError';
}
/** The offline builder cannot proceed with the given anchors, data or options. */
export class BuilderError extends StitchnetError {
  override readonly name = 'BuilderError';
}
/** An API or CLI option is invalid. */
export class OptionError extends StitchnetError {
  override readonly name = 'OptionError';
}

const classes = { PackageError, OnnxError, RuntimeError, ProfileError, SignalError, BuilderError, OptionError };

/** Rebuilds an error that crossed a worker boundary as {@link toJSON} output. */
export function reviveError(e: SerializedStitchnetError): StitchnetError {
  const Ctor = (classes as Record<string, typeof StitchnetError>)[e.name] ?? StitchnetError;
  const err = new Ctor(e.code, e.message, {});
  // The message was already composed on the other side; restore the fields without recomposing it.
  Object.assign(err, {
    hint: e.hint,
    file: e.file,
    field: e.field,
    option: e.option,
    validValues: e.validValues,
  });
  return err;
}

Object.defineProperty(StitchnetError.prototype, STITCHNET_ERROR_BRAND, {
  value: true,
  enumerable: false,
  writable: false,
});

function hasBrand(value: unknown): boolean {
  return (
    (typeof value === 'object' || typeof value === 'function') &&
    value !== null &&
    (value as Record<symbol, unknown>)[STITCHNET_ERROR_BRAND] === true
  );
}

/**
 * True for an error of the StitchnetError family, from this copy of the package or any other
 * loaded into the process (the ESM and CommonJS builds side by side): checked by the brand
 * `Symbol.for('stitchnet.error')`, not by class.
 */
export function isStitchnetError(e: unknown): e is StitchnetError {
  return hasBrand(e);
}
