import type { Manifest, Stitch } from '../../src/package/schema.js';

/** Deterministic pseudo-random numbers for tests, in [0, 1). */
export { seededRandom as rng } from '../../src/base/random.js';

/** `n` uniform values in `[lo, hi)`. */
export function uniform(next: () => number, n: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: n }, () => lo + (hi - lo) * next());
}

/** A manifest with only what the plots read: a name and stitches (no pieces, anchors or layers). */
export function toyManifest(stitches: Stitch[], name = 'toy'): Manifest {
  return {
    format: 'stitchnet/1',
    name,
    input: { name: 'input', shape: ['batch', 1, 8, 8], dtype: 'float32' },
    output: { name: 'logits', shape: ['batch', 5], dtype: 'float32' },
    anchors: [],
    pieces: {},
    stitchLayers: [],
    stitches,
    frontier: [],
  };
}
