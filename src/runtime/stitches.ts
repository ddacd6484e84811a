/**
 * Stitch ids as the user gives them, and the stitch a runtime starts on.
 */
import { RuntimeError } from '../errors.js';
import type { Manifest } from '../package/schema.js';
import { describeValue } from '../signals/names.js';

/** Throws RuntimeError STITCH_UNKNOWN unless `id` is a stitch of the package. */
export function checkStitchId(manifest: Manifest, id: unknown, option: string): number {
  if (typeof id !== 'number' || !Number.isInteger(id)) {
    throw new RuntimeError('STITCH_UNKNOWN', `${option} must be a stitch id (an integer), got ${describeValue(id)}`, {
      option,
      validValues: manifest.stitches.map((s) => s.id),
      hint: `Use the id of one of the ${manifest.stitches.length} stitches of package "${manifest.name}".`,
    });
  }
  if (!manifest.stitches.some((s) => s.id === id)) {
    throw new RuntimeError('STITCH_UNKNOWN', `unknown stitch ${id}`, {
      option,
      validValues: manifest.stitches.map((s) => s.id),
      hint: `Use the id of one of the ${manifest.stitches.length} stitches of package "${manifest.name}".`,
    });
  }
  return id;
}

/**
 * The stitch a runtime starts on: the most accurate frontier stitch (the last, most costly one
 * when accuracies are unknown), else the largest anchor, else the first stitch.
 */
export function defaultStitch(manifest: Manifest): number {
  const frontier = manifest.frontier
    .map((id) => manifest.stitches.find((s) => s.id === id))
    .filter((s) => s !== undefined);
  const scored = frontier.filter((s) => s.accuracy !== undefined);
  if (scored.length > 0) {
    return scored.reduce((best, s) => ((s.accuracy ?? 0) >= (best.accuracy ?? 0) ? s : best)).id;
  }
  const last = frontier[frontier.length - 1];
  if (last) return last.id;
  const size = (anchorId: string) => {
    const a = manifest.anchors.find((x) => x.id === anchorId);
    return a ? a.dim * a.depth : 0;
  };
  const anchors = manifest.stitches.filter(
    (s) => s.route.length === 1 && s.route[0] !== undefined && 'anchor' in s.route[0],
  );
  const largest = anchors.reduce<{ id: number; size: number } | undefined>((best, s) => {
    const step = s.route[0];
    const n = step && 'anchor' in step ? size(step.anchor) : 0;
    return best === undefined || n > best.size ? { id: s.id, size: n } : best;
  }, undefined);
  return largest?.id ?? (manifest.stitches[0] as { id: number }).id;
}
