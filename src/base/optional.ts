/**
 * Optional peer dependencies: libraries that only the plots, the builder or a CLI command use
 * (vega, vega-lite, @resvg/resvg-js, ml-matrix, cli-progress). An SDK consumer's install does not
 * get them; whoever needs one installs it, and until then the feature that needs it fails with a
 * `DEPENDENCY_MISSING` error naming the package to install. They are loaded only here, on first
 * use, so that `import 'stitchnet'` never pays for them.
 */
import { createRequire } from 'node:module';
import { StitchnetError } from '../errors.js';

/** The optional peer dependencies and what each one is for. */
export const OPTIONAL_PACKAGES = {
  vega: 'drawing plots',
  'vega-lite': 'drawing plots',
  '@resvg/resvg-js': 'rasterising plots to PNG and reading image folders',
  'ml-matrix': 'fitting stitching layers (stitchnet build)',
  'cli-progress': 'progress bars (stitchnet build)',
} as const;

export type OptionalPackage = keyof typeof OPTIONAL_PACKAGES;

const requireHere = createRequire(import.meta.url);

/** True when `e` says that `name` itself (not something else) could not be found. */
function isMissing(e: unknown, name: string): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (code !== 'MODULE_NOT_FOUND' && code !== 'ERR_MODULE_NOT_FOUND') return false;
  const message = e instanceof Error ? e.message : String(e);
  return message.includes(`'${name}'`) || message.includes(`"${name}"`) || message.includes(`${name}/`);
}

/** The `DEPENDENCY_MISSING` error for an optional package. */
export function missingDependency(name: string, purpose: string, cause?: unknown): StitchnetError {
  return new StitchnetError('DEPENDENCY_MISSING', `${purpose} needs the package ${name}, which is not installed`, {
    hint: `Install it next to stitchnet: npm install ${name}`,
    cause,
  });
}

/** Loads an optional package with `import()`; a missing one becomes `DEPENDENCY_MISSING`. */
export async function importOptional<T>(name: OptionalPackage, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (e) {
    if (isMissing(e, name)) throw missingDependency(name, capitalise(OPTIONAL_PACKAGES[name]), e);
    throw e;
  }
}

/** Loads an optional CommonJS package synchronously; a missing one becomes `DEPENDENCY_MISSING`. */
export function requireOptional<T>(name: OptionalPackage): T {
  try {
    return requireHere(name) as T;
  } catch (e) {
    if (isMissing(e, name)) throw missingDependency(name, capitalise(OPTIONAL_PACKAGES[name]), e);
    throw e;
  }
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
