/**
 * Expanding a stitch's route into the pieces it runs, in order.
 */
import { PackageError } from '../errors.js';
import { fieldPath } from '../base/field-path.js';
import { type Anchor, MANIFEST_FILE, type Manifest, type RouteStep, type StitchLayer } from './schema.js';

/** One piece of an expanded route and the manifest field that put it there. */
export interface RoutePiece {
  piece: string;
  /** Dotted path of the route step (or its part) that references this piece. */
  field: string;
}

type AnchorStep = Extract<RouteStep, { anchor: string }>;
type Resolved = { anchor: Anchor; blocks: string[] } | { layer: StitchLayer };

function isAnchorStep(step: RouteStep): step is AnchorStep {
  return 'anchor' in step;
}

/**
 * Expands a route into the ids of the pieces it runs, in execution order: the embed of the
 * first anchor, that anchor's blocks, a stitching layer, the next anchor's blocks, …, the head
 * of the last anchor.
 *
 * A route starts and ends with an anchor step, and every stitching layer sits between a step of
 * its `from` anchor and a step of its `to` anchor.
 *
 * @param manifest - the package manifest the route belongs to
 * @param route - the route's steps, e.g. `stitch.route`
 * @returns piece ids, e.g. `["ti.embed", "ti.block.0", "ti-s.0", "s.block.1", …, "s.head"]`
 * @throws PackageError `PACKAGE_ROUTE_INVALID` when a step names an unknown anchor or stitching
 *   layer, a block range is out of range, or the steps do not fit together
 */
export function expandRoute(manifest: Manifest, route: readonly RouteStep[]): string[] {
  return expandRouteAt(manifest, route, 'route').map((p) => p.piece);
}

/** Builds the errors of one route, each naming its field under `at` in `file`. */
class RouteErrors {
  constructor(
    private readonly at: string,
    private readonly file: string,
  ) {}

  /** The field of step `i` (or its `key`), e.g. `stitches[4].route[1].stitchLayer`. */
  field(i?: number, key?: string): string {
    if (i === undefined) return this.at;
    return `${this.at}${fieldPath(key === undefined ? [i] : [i, key])}`;
  }

  invalid(field: string, message: string, validValues?: readonly (string | number)[], hint?: string): PackageError {
    return new PackageError('PACKAGE_ROUTE_INVALID', message, { file: this.file, field, validValues, hint });
  }
}

/**
 * {@link expandRoute} that also reports which field references each piece; errors name fields
 * under `at` (e.g. `stitches[4].route`) in `file`.
 */
export function expandRouteAt(
  manifest: Manifest,
  route: readonly RouteStep[],
  at: string,
  file: string = MANIFEST_FILE,
): RoutePiece[] {
  const errors = new RouteErrors(at, file);
  checkEnds(route, errors);
  // First every reference, in step order, then how the steps fit together.
  const resolved = route.map((step, i) => resolveStep(manifest, step, i, errors));
  return resolved.flatMap((_step, i) => piecesOfStep(resolved, i, errors));
}

/** A route has steps, and its first and last are anchor steps. */
function checkEnds(route: readonly RouteStep[], errors: RouteErrors): void {
  const first = route[0];
  const last = route[route.length - 1];
  if (first === undefined || last === undefined) {
    throw errors.invalid(
      errors.field(),
      'A route needs at least one step',
      undefined,
      'Give at least one {anchor, blocks} step.',
    );
  }
  if (!isAnchorStep(first) || !isAnchorStep(last)) {
    const i = isAnchorStep(first) ? route.length - 1 : 0;
    throw errors.invalid(
      errors.field(i),
      'A route must start and end with an anchor step (its embed runs first and its head last)',
      undefined,
      'Put a stitching layer only between two {anchor, blocks} steps.',
    );
  }
}

/** The anchor (and its blocks in range) or the stitching layer that step `i` names. */
function resolveStep(manifest: Manifest, step: RouteStep, i: number, errors: RouteErrors): Resolved {
  if (!isAnchorStep(step)) {
    const layer = manifest.stitchLayers.find((l) => l.id === step.stitchLayer);
    if (!layer) {
      throw errors.invalid(
        errors.field(i, 'stitchLayer'),
        `Route step ${i} names an unknown stitching layer "${step.stitchLayer}"`,
        manifest.stitchLayers.map((l) => l.id),
        'Name one of the layers listed under "stitchLayers".',
      );
    }
    return { layer };
  }
  const anchor = manifest.anchors.find((a) => a.id === step.anchor);
  if (!anchor) {
    throw errors.invalid(
      errors.field(i, 'anchor'),
      `Route step ${i} names an unknown anchor "${step.anchor}"`,
      manifest.anchors.map((a) => a.id),
      'Name one of the anchors listed under "anchors".',
    );
  }
  const [from, to] = step.blocks;
  const depth = anchor.blocks.length;
  if (from > to || to >= depth) {
    throw errors.invalid(
      errors.field(i, 'blocks'),
      `Route step ${i} runs blocks [${from}, ${to}] of anchor "${anchor.id}", which has blocks 0..${depth - 1}`,
      anchor.blocks.map((_, b) => b),
      'Give an inclusive range [from, to] with from <= to < the anchor depth.',
    );
  }
  return { anchor, blocks: anchor.blocks.slice(from, to + 1) };
}

/** The pieces step `i` runs: an anchor's embed (first step), blocks and head (last step), or a stitching layer between the anchors it connects. */
function piecesOfStep(resolved: readonly Resolved[], i: number, errors: RouteErrors): RoutePiece[] {
  const step = resolved[i] as Resolved;
  if ('anchor' in step) {
    const out: RoutePiece[] = [];
    if (i === 0) out.push({ piece: step.anchor.embed, field: errors.field(i, 'anchor') });
    for (const piece of step.blocks) out.push({ piece, field: errors.field(i, 'blocks') });
    if (i === resolved.length - 1) out.push({ piece: step.anchor.head, field: errors.field(i, 'anchor') });
    return out;
  }
  const { layer } = step;
  const before = resolved[i - 1];
  const after = resolved[i + 1];
  const fits =
    before &&
    'anchor' in before &&
    before.anchor.id === layer.from &&
    after &&
    'anchor' in after &&
    after.anchor.id === layer.to;
  if (!fits) {
    throw errors.invalid(
      errors.field(i, 'stitchLayer'),
      `Stitching layer "${layer.id}" maps anchor "${layer.from}" to "${layer.to}", so it must sit between a step of "${layer.from}" and a step of "${layer.to}"`,
      undefined,
      'Put the stitching layer between the anchor steps it connects, or use the layer that connects those anchors.',
    );
  }
  return [{ piece: layer.piece, field: errors.field(i, 'stitchLayer') }];
}
