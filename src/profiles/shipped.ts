/**
 * The profiles that ship with stitchnet (`profiles/*.yaml` in the package, exported as
 * `stitchnet/profiles/<name>.yaml`), by name: `profile: 'balanced'` is the shipped
 * `profiles/balanced.yaml`.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ProfileError } from '../errors.js';

/** A profile given by name rather than by path: letters, digits and dashes, no extension. */
const PROFILE_NAME = /^[a-z0-9][a-z0-9-]*$/i;

let shippedDir: string | null | undefined;

/**
 * The folder of the shipped profiles: `profiles/` next to the package.json of this installation
 * (found by walking up from this module, which sits in `dist/` or `src/profiles/`); `undefined` if
 * it is not there.
 */
export function shippedProfilesDir(): string | undefined {
  if (shippedDir === undefined) {
    shippedDir = null;
    let dir = path.dirname(fileURLToPath(import.meta.url));
    for (;;) {
      if (existsSync(path.join(dir, 'package.json')) && existsSync(path.join(dir, 'profiles', 'balanced.yaml'))) {
        shippedDir = path.join(dir, 'profiles');
        break;
      }
      const up = path.dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  return shippedDir ?? undefined;
}

/** The names of the shipped profiles (`balanced`, `battery-saver`, …), sorted. */
export function shippedProfileNames(): string[] {
  const dir = shippedProfilesDir();
  if (!dir) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.slice(0, -'.yaml'.length))
    .sort();
}

/**
 * The file of a profile given as a path or as the name of a shipped profile. A path (anything
 * with a folder separator or an extension, or an existing file) is returned as it is; a bare name
 * is the shipped `profiles/<name>.yaml`.
 *
 * @throws ProfileError `PROFILE_NOT_FOUND` for a bare name that is neither a file here nor a
 *   shipped profile, with the shipped names as the valid values.
 */
export function resolveProfileFile(nameOrPath: string): string {
  if (!PROFILE_NAME.test(nameOrPath) || existsSync(nameOrPath)) return nameOrPath;
  const names = shippedProfileNames();
  const dir = shippedProfilesDir();
  if (dir && names.includes(nameOrPath)) return path.join(dir, `${nameOrPath}.yaml`);
  throw new ProfileError(
    'PROFILE_NOT_FOUND',
    `"${nameOrPath}" is neither a profile file nor the name of a shipped profile`,
    {
      file: nameOrPath,
      validValues: names,
      hint: 'Give a shipped profile by name, or the path of a YAML or JSON profile file',
    },
  );
}
