import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** The package version, read from package.json next to dist/. */
export const VERSION: string = (() => {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      return (require(rel) as { version: string }).version;
    } catch {
      // try the next location (source tree vs. built dist/cli)
    }
  }
  return '0.0.0';
})();
