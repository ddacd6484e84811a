/**
 * Stitch packages by npm package name: `create({ model: '@stitchnet/fmnist-vit' })` reads the
 * installed package `node_modules/@stitchnet/fmnist-vit` (a folder holding `stitchnet.json`).
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PackageError } from '../errors.js';
import { MANIFEST_FILE } from './schema.js';

/** An npm package name (`name` or `@scope/name`), as npm accepts them for new packages. */
const NPM_NAME = /^(?:@[a-z0-9-~][a-z0-9-._~]*\/)?[a-z0-9-~][a-z0-9-._~]*$/;

/** True when `s` reads as an npm package name rather than a path. */
export function isPackageName(s: string): boolean {
  return NPM_NAME.test(s) && !s.startsWith('.');
}

/**
 * The folder of the installed npm package `name` that holds a stitch package: looked up in the
 * `node_modules` folders from each of `from` upwards, as Node resolves packages (by default from
 * the working directory, then from this installation of stitchnet, so that an app's dependency is
 * found wherever the app is started).
 */
export function findInstalledPackage(name: string, from: readonly string[] = defaultBases()): string | undefined {
  for (const start of from) {
    let dir = path.resolve(start);
    for (;;) {
      const candidate = path.join(dir, 'node_modules', name);
      if (existsSync(path.join(candidate, MANIFEST_FILE))) return candidate;
      const up = path.dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  return undefined;
}

function defaultBases(): string[] {
  return [process.cwd(), path.dirname(fileURLToPath(import.meta.url))];
}

/**
 * What `readPackage` reads for `model`: the path as given when it exists (or does not read as a
 * package name), else the installed npm package of that name.
 *
 * @throws PackageError `PACKAGE_NOT_FOUND` for a package name that is not installed, or whose
 *   installed package holds no stitch package.
 */
export function resolveModel(model: string, from?: string): string {
  if (!isPackageName(model) || existsSync(model)) return model;
  const bases = from === undefined ? defaultBases() : [from];
  const found = findInstalledPackage(model, bases);
  if (found) return found;
  const installed = bases
    .map((b) => path.join(b, 'node_modules', model))
    .find((d) => existsSync(d) && statSync(d).isDirectory());
  if (installed) {
    throw new PackageError(
      'PACKAGE_NOT_FOUND',
      `The installed package ${model} holds no stitch package (no ${MANIFEST_FILE})`,
      {
        file: installed,
        hint: `Check that ${model} is a stitchnet model package, or pass the path of a stitch package folder`,
      },
    );
  }
  throw new PackageError('PACKAGE_NOT_FOUND', `"${model}" is neither a folder nor an installed model package`, {
    file: model,
    hint: `Install it (npm install ${model}), download it with fetchPackage(), or pass the path of a stitch package folder (looked in node_modules from ${bases[0]})`,
  });
}
