/**
 * sha256 helpers: lowercase hex digests, files hashed as a stream.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** The lowercase hex sha256 of some bytes. */
export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * The lowercase hex sha256 of a file, read as a stream (the file is never held in memory).
 *
 * @param file - path of the file
 * @returns the digest and the number of bytes hashed
 */
export function hashFile(file: string): Promise<{ sha256: string; bytes: number }> {
  return hashStream(createReadStream(file, { highWaterMark: 1 << 20 }));
}

/** The sha256 and length of everything a byte stream yields. */
export async function hashStream(stream: AsyncIterable<Uint8Array>): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    bytes += chunk.length;
    hash.update(chunk);
  }
  return { sha256: hash.digest('hex'), bytes };
}
