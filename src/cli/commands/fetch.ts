/**
 * `stitchnet fetch <url> --sha256 <hex> [--out <dir>]`: downloads a stitch package from the URL
 * of its `stitchnet.json`, verified against the pinned sha256 (see `fetchPackage`), and prints the
 * folder it is in.
 */
import type { Command } from 'commander';
import { fetchPackage, type FetchProgress } from '../../package/fetch.js';

interface FetchCliOptions {
  sha256: string;
  out?: string;
  cache?: string;
}

/** One progress line on stderr per finished file, and the bytes of the file in progress on a terminal. */
function progressWriter(stream: NodeJS.WriteStream): (p: FetchProgress) => void {
  let lastFile = -1;
  return (p) => {
    const mb = (n: number) => (n / 1e6).toFixed(1);
    const total = p.totalBytes === undefined ? '' : ` of ${mb(p.totalBytes)}`;
    if (p.filesDone !== lastFile) {
      lastFile = p.filesDone;
      if (stream.isTTY) stream.write('\r\x1b[K');
      stream.write(`${p.filesDone}/${p.filesTotal ?? '?'} files, ${mb(p.receivedBytes)}${total} MB: ${p.file}\n`);
    } else if (stream.isTTY) {
      stream.write(`\r\x1b[K${mb(p.receivedBytes)}${total} MB ${p.file}`);
    }
  };
}

export function registerFetch(program: Command): void {
  program
    .command('fetch')
    .description(
      'Download a stitch package from the URL of its stitchnet.json, every file verified against the pinned sha256; prints the folder.',
    )
    .argument('<url>', "URL of the package's stitchnet.json (http, https or file)")
    .requiredOption('--sha256 <hex>', 'sha256 of that stitchnet.json (pins the manifest and, through it, every piece)')
    .option('--out <dir>', 'folder to write the package to (default: the cache, named by the sha256)')
    .option('--cache <dir>', 'cache folder (default: STITCHNET_CACHE_DIR, else the OS cache folder)')
    .action(async (url: string, o: FetchCliOptions) => {
      const dir = await fetchPackage(url, {
        sha256: o.sha256,
        ...(o.out !== undefined ? { dir: o.out } : {}),
        ...(o.cache !== undefined ? { cacheDir: o.cache } : {}),
        onProgress: progressWriter(process.stderr),
      });
      process.stdout.write(`${dir}\n`);
    });
}
