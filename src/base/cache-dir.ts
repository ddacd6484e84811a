/**
 * stitchnet's cache folder, shared by the calibration cache, downloaded packages and the demo's
 * random-weight stand-in.
 */
import { homedir } from 'node:os';
import path from 'node:path';

/** The environment variable that moves the cache folder. */
export const CACHE_DIR_ENV = 'STITCHNET_CACHE_DIR';

/**
 * stitchnet's cache folder: `cacheDir` if given, else `$STITCHNET_CACHE_DIR`, else the OS cache
 * folder (`$XDG_CACHE_HOME` or `~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%`
 * on Windows) + `stitchnet`.
 */
export function cacheRoot(
  cacheDir?: string,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = homedir(),
): string {
  if (cacheDir !== undefined && cacheDir !== '') return path.resolve(cacheDir);
  const fromEnv = env[CACHE_DIR_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return path.resolve(fromEnv);
  if (platform === 'win32')
    return path.join(env.LOCALAPPDATA || path.join(home, 'AppData', 'Local'), 'stitchnet', 'Cache');
  if (platform === 'darwin') return path.join(home, 'Library', 'Caches', 'stitchnet');
  const xdg = env.XDG_CACHE_HOME;
  return path.join(xdg !== undefined && path.isAbsolute(xdg) ? xdg : path.join(home, '.cache'), 'stitchnet');
}
