/**
 * Loading profiles from files, and watching a file for hot reload.
 */
import { readFileSync, statSync, watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import {
  asyncScheduler,
  debounceTime,
  defer,
  filter,
  map,
  merge,
  Observable,
  of,
  type OperatorFunction,
  type SchedulerLike,
} from 'rxjs';
import { isStitchnetError, ProfileError } from '../errors.js';
import { DEFAULT_MAX_PROFILE_BYTES, parseProfile, type ParseProfileOptions } from './parse.js';
import type { Profile } from './schema.js';
import { resolveProfileFile } from './shipped.js';

function notFound(file: string, cause: unknown): ProfileError {
  const code = (cause as { code?: unknown } | null)?.code;
  return new ProfileError('PROFILE_NOT_FOUND', `Cannot read the profile${code ? ` (${String(code)})` : ''}`, {
    file,
    cause,
    hint: 'Check the path, or give a shipped profile by name (balanced, battery-saver, performance, thermal-guard)',
  });
}

function tooLarge(file: string, size: number, maxBytes: number): ProfileError {
  return new ProfileError('PROFILE_INVALID', `The profile is ${size} bytes, over the limit of ${maxBytes}`, {
    file,
    field: '(file)',
    hint: 'A profile is a few KiB; raise maxBytes only for a profile you trust',
  });
}

/**
 * Reads and validates a profile file (YAML or JSON), or a shipped profile by name (`'balanced'`).
 * Throws {@link ProfileError} (`PROFILE_NOT_FOUND`, `PROFILE_INVALID`).
 */
export async function loadProfile(
  nameOrFile: string,
  options: Omit<ParseProfileOptions, 'file'> = {},
): Promise<Profile> {
  const file = resolveProfileFile(nameOrFile);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_PROFILE_BYTES;
  let text: string;
  let size: number;
  try {
    size = (await stat(file)).size;
    text = size > maxBytes ? '' : await readFile(file, 'utf8');
  } catch (e) {
    throw notFound(file, e);
  }
  if (size > maxBytes) throw tooLarge(file, size, maxBytes);
  return parseProfile(text, { ...options, file });
}

/** Synchronous {@link loadProfile}. */
export function loadProfileSync(nameOrFile: string, options: Omit<ParseProfileOptions, 'file'> = {}): Profile {
  const file = resolveProfileFile(nameOrFile);
  let text: string;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_PROFILE_BYTES;
  let size: number;
  try {
    size = statSync(file).size;
  } catch (e) {
    throw notFound(file, e);
  }
  if (size > maxBytes) throw tooLarge(file, size, maxBytes);
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw notFound(file, e);
  }
  return parseProfile(text, { ...options, file });
}

/** What {@link watchProfile} reports. */
export type ProfileEvent =
  /** A valid version is now in force. */
  | { readonly kind: 'loaded'; readonly file: string; readonly at: number; readonly profile: Profile }
  /** A version was rejected; `inForce` (the last valid one, if any) stays in force. */
  | {
      readonly kind: 'rejected';
      readonly file: string;
      readonly at: number;
      readonly error: ProfileError;
      readonly inForce: Profile | undefined;
    };

/** Options of {@link watchProfile}. */
export interface WatchProfileOptions extends Omit<ParseProfileOptions, 'file'> {
  /** Scheduler of the debounce and of event times. Default `asyncScheduler`. */
  scheduler?: SchedulerLike;
  /** Editors write a file in several steps: changes closer together than this are taken as one. Default 100 ms. */
  debounceMs?: number;
  /** Change notifications. Default: `fs.watch` on the file's folder, filtered to the file (survives editors that replace the file). */
  changes?: Observable<unknown>;
  /** Reads the file. Default: `fs.readFileSync` (a profile is small). */
  read?: (file: string) => string;
}

/**
 * Notifications of changes to `file` through `fs.watch` on its folder. The watcher does not keep
 * the process alive and is closed on unsubscribe.
 */
export function fileChanges(file: string): Observable<string> {
  return new Observable<string>((subscriber) => {
    const name = basename(file);
    const watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      if (changed === null || changed === name) subscriber.next(name);
    });
    watcher.on('error', (e) => subscriber.error(notFound(file, e)));
    return () => watcher.close();
  });
}

/**
 * Loads `file` and reloads it whenever it changes. Emits a `loaded` event for the first load and
 * for every new valid version, and a `rejected` event for a version that cannot be read or is
 * invalid — the previous profile stays in force (`inForce`). Saving identical content emits
 * nothing. Pipe through {@link profilesInForce} for a plain `Observable<Profile>`.
 */
export function watchProfile(nameOrFile: string, options: WatchProfileOptions = {}): Observable<ProfileEvent> {
  const file = resolveProfileFile(nameOrFile);
  const scheduler = options.scheduler ?? asyncScheduler;
  const read = options.read ?? ((f: string) => readFileSync(f, 'utf8'));
  return defer(() => {
    let inForce: Profile | undefined;
    let lastText: string | undefined;
    const load = (): ProfileEvent | undefined => {
      const at = scheduler.now();
      let text: string;
      try {
        text = read(file);
      } catch (e) {
        lastText = undefined;
        return { kind: 'rejected', file, at, error: notFound(file, e), inForce };
      }
      if (text === lastText) return undefined;
      lastText = text;
      try {
        inForce = parseProfile(text, { ...options, file });
        return { kind: 'loaded', file, at, profile: inForce };
      } catch (e) {
        const error =
          isStitchnetError(e) && e instanceof ProfileError
            ? e
            : new ProfileError('PROFILE_INVALID', String(e), { file, cause: e });
        return { kind: 'rejected', file, at, error, inForce };
      }
    };
    const changes = options.changes ?? fileChanges(file);
    return merge(of(null), changes.pipe(debounceTime(options.debounceMs ?? 100, scheduler))).pipe(
      map(load),
      filter((e): e is ProfileEvent => e !== undefined),
    );
  });
}

/** Keeps the profiles that came into force: `watchProfile(f).pipe(profilesInForce())`. */
export function profilesInForce(): OperatorFunction<ProfileEvent, Profile> {
  return (events) =>
    events.pipe(
      filter((e): e is Extract<ProfileEvent, { kind: 'loaded' }> => e.kind === 'loaded'),
      map((e) => e.profile),
    );
}
