/**
 * Pure checks of a manifest: the schema, then everything that needs more than one field at a
 * time (references between anchors, pieces, stitching layers and stitches; dimensions chaining
 * along every route). No file system access here.
 */
import path from 'node:path';
import { z } from 'zod';
import { PackageError } from '../errors.js';
import { fieldPath, pieceField } from '../base/field-path.js';
import { expandRouteAt } from './route.js';
import {
  MANIFEST_FILE,
  ManifestSchema,
  PACKAGE_FORMAT,
  type Dim,
  type Manifest,
  type Piece,
  type PieceKind,
  type TensorSpec,
} from './schema.js';

/**
 * Validates a parsed `stitchnet.json` against the format and the schema.
 *
 * @param value - the parsed JSON
 * @param file - the manifest's path, for error messages
 * @throws PackageError `PACKAGE_FORMAT_UNKNOWN` or `PACKAGE_MANIFEST_INVALID`
 */
export function parseManifest(value: unknown, file: string = MANIFEST_FILE): Manifest {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PackageError('PACKAGE_MANIFEST_INVALID', 'The manifest must be a JSON object', {
      file,
      hint: `Write a ${PACKAGE_FORMAT} manifest object, e.g. with writePackage().`,
    });
  }
  const format = (value as { format?: unknown }).format;
  if (typeof format === 'string' && format !== PACKAGE_FORMAT) {
    throw new PackageError('PACKAGE_FORMAT_UNKNOWN', `Unknown package format "${format}"`, {
      file,
      field: 'format',
      validValues: [PACKAGE_FORMAT],
      hint: 'Upgrade stitchnet to a version that reads this format, or rebuild the package with this version.',
    });
  }
  try {
    return checkSchema(value, file);
  } catch (e) {
    if (e instanceof PackageError) throw e;
    // Only a value that JSON cannot produce (a typed array, a Date, a getter that throws) gets here.
    throw new PackageError(
      'PACKAGE_MANIFEST_INVALID',
      `The manifest cannot be checked: ${e instanceof Error ? e.message : String(e)}`,
      {
        file,
        cause: e,
        hint: 'A manifest is plain JSON data: objects, arrays, strings, numbers, booleans and null',
      },
    );
  }
}

function checkSchema(value: unknown, file: string): Manifest {
  const parsed = ManifestSchema.safeParse(value);
  if (!parsed.success) {
    const issue = mostSpecificIssue(parsed.error.issues);
    throw new PackageError(
      'PACKAGE_MANIFEST_INVALID',
      `The manifest does not match the ${PACKAGE_FORMAT} schema:\n${z.prettifyError(parsed.error)}\n`,
      {
        file,
        field: issue ? fieldPath(issue.path) : undefined,
        cause: parsed.error,
        hint: 'Fix the field named above, or rebuild the package with `stitchnet build`.',
      },
    );
  }
  return parsed.data;
}

/**
 * The issue to name as "the" field: the first one, looking inside a failed union at the branch
 * that came closest to matching (fewest issues), so that a bad route step reports
 * `stitches[4].route[1].blocks` rather than just `stitches[4].route[1]`.
 */
function mostSpecificIssue(issues: readonly z.core.$ZodIssue[]): { path: PropertyKey[] } | undefined {
  const issue = issues[0];
  if (!issue) return undefined;
  if (issue.code === 'invalid_union' && issue.errors.length > 0) {
    const closest = issue.errors.reduce((best, branch) => (branch.length < best.length ? branch : best));
    const inner = mostSpecificIssue(closest);
    if (inner) return { path: [...issue.path, ...inner.path] };
  }
  return { path: issue.path };
}

/**
 * Checks that a piece path stays inside the package folder: relative, no `..` that climbs out,
 * on any platform's separators.
 *
 * @throws PackageError `PACKAGE_PATH_OUTSIDE`
 */
export function checkPiecePath(pieceId: string, file: string, field: string = pieceField(pieceId, 'file')): void {
  const unified = file.replaceAll('\\', '/');
  const outside =
    path.posix.isAbsolute(unified) ||
    path.win32.isAbsolute(file) ||
    /^[A-Za-z]:/.test(file) ||
    path.posix.normalize(unified).split('/')[0] === '..';
  if (outside) {
    throw new PackageError(
      'PACKAGE_PATH_OUTSIDE',
      `Piece "${pieceId}" has a path that leaves the package folder: ${JSON.stringify(file)}`,
      {
        file,
        field,
        hint: 'Piece paths are relative to the package folder and stay inside it, e.g. "pieces/ti.block.0.onnx".',
      },
    );
  }
}

/**
 * Checks the pieces' external-data paths: inside the folder, and not the ONNX file of any piece
 * (several pieces may share one data file).
 *
 * @throws PackageError `PACKAGE_PATH_OUTSIDE` or `PACKAGE_MANIFEST_INVALID`
 */
function checkDataPaths(manifest: Manifest, file: string): void {
  const onnxFiles = new Set(
    Object.values(manifest.pieces).map((p) => path.posix.normalize(p.file.replaceAll('\\', '/'))),
  );
  for (const [id, piece] of Object.entries(manifest.pieces)) {
    if (!piece.data) continue;
    const field = pieceField(id, 'data', 'file');
    checkPiecePath(id, piece.data.file, field);
    if (onnxFiles.has(path.posix.normalize(piece.data.file.replaceAll('\\', '/')))) {
      throw new PackageError(
        'PACKAGE_MANIFEST_INVALID',
        `Piece "${id}" names the ONNX file ${JSON.stringify(piece.data.file)} as its external-data file`,
        {
          file,
          field,
          hint: 'A data file holds only weights; name it after its piece, e.g. "pieces/ti.block.0.onnx.data".',
        },
      );
    }
  }
}

/** Whether two shapes are equal: same rank, numbers equal by value, symbolic dims equal by name. */
export function shapesEqual(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Formats a shape for messages: `[batch, 17, 48]`. */
export function formatShape(shape: readonly Dim[]): string {
  return `[${shape.join(', ')}]`;
}

/**
 * The axis that carries an anchor's width in a piece interface: the last axis of a token tensor
 * (`[batch, tokens, dim]`) or of a vector (`[batch, dim]`), the channel axis of an image-like
 * tensor (`[batch, C, H, W]`).
 */
export function widthAxis(rank: number): number {
  return rank >= 4 ? 1 : rank - 1;
}

/**
 * The cross-field checks of a schema-valid manifest.
 *
 * @returns the expanded piece ids of every stitch, keyed by stitch id
 * @throws PackageError `PACKAGE_PATH_OUTSIDE`, `PACKAGE_ROUTE_INVALID`,
 *   `PACKAGE_DIMENSION_MISMATCH` or `PACKAGE_MANIFEST_INVALID`, naming the field
 */
export function checkManifest(manifest: Manifest, file: string = MANIFEST_FILE): Map<number, string[]> {
  for (const [id, piece] of Object.entries(manifest.pieces)) checkPiecePath(id, piece.file);
  checkDataPaths(manifest, file);
  const anchorIds = checkUniqueIds(
    manifest.anchors.map((a) => a.id),
    'anchors',
    file,
  );
  checkUniqueIds(
    manifest.stitchLayers.map((l) => l.id),
    'stitchLayers',
    file,
  );
  const stitchIds = checkUniqueIds(
    manifest.stitches.map((s) => s.id),
    'stitches',
    file,
  );
  const refs = pieceRefs(manifest, file);
  checkAnchors(manifest, refs, file);
  checkStitchLayers(manifest, refs, anchorIds, file);
  const routes = new Map<number, string[]>();
  manifest.stitches.forEach((stitch, s) => {
    const at = fieldPath(['stitches', s, 'route']);
    const pieces = expandRouteAt(manifest, stitch.route, at, file);
    checkChain(manifest, stitch.id, pieces, at, file);
    routes.set(
      stitch.id,
      pieces.map((p) => p.piece),
    );
  });
  checkFrontier(manifest, routes, stitchIds, file);
  return routes;
}

/** Checks of a reference to a piece: it exists and has the kind expected, its interface the width expected. */
interface PieceRefs {
  refPiece(id: string, kind: PieceKind, field: string, what: string): Piece;
  checkWidth(spec: TensorSpec, want: number, pieceId: string, side: 'input' | 'output', owner: string): void;
}

function pieceRefs(manifest: Manifest, file: string): PieceRefs {
  const refPiece = (id: string, kind: PieceKind, field: string, what: string) => {
    const piece = manifest.pieces[id];
    if (!piece || piece.kind !== kind) {
      throw new PackageError(
        'PACKAGE_ROUTE_INVALID',
        piece
          ? `${what} names piece "${id}", which is a ${piece.kind} piece, not a ${kind} piece`
          : `${what} names an unknown piece "${id}"`,
        {
          file,
          field,
          validValues: Object.entries(manifest.pieces)
            .filter(([, p]) => p.kind === kind)
            .map(([pid]) => pid),
          hint: `Reference a piece of kind "${kind}" listed under "pieces".`,
        },
      );
    }
    return piece;
  };
  const checkWidth = (spec: TensorSpec, want: number, pieceId: string, side: 'input' | 'output', owner: string) => {
    const axis = widthAxis(spec.shape.length);
    if (spec.shape[axis] !== want) {
      throw new PackageError(
        'PACKAGE_DIMENSION_MISMATCH',
        `Piece "${pieceId}" has ${side} ${formatShape(spec.shape)}, but ${owner} has width ${want} (axis ${axis})`,
        {
          file,
          field: pieceField(pieceId, side, 'shape', axis),
          hint: 'Make the piece interface width equal the anchor "dim".',
        },
      );
    }
  };
  return { refPiece, checkWidth };
}

/** Every anchor lists `depth` blocks, and its embed, blocks and head exist with the anchor's width. */
function checkAnchors(manifest: Manifest, { refPiece, checkWidth }: PieceRefs, file: string): void {
  manifest.anchors.forEach((anchor, a) => {
    const at = (...rest: PropertyKey[]) => fieldPath(['anchors', a, ...rest]);
    if (anchor.depth !== anchor.blocks.length) {
      throw new PackageError(
        'PACKAGE_MANIFEST_INVALID',
        `Anchor "${anchor.id}" has depth ${anchor.depth} but lists ${anchor.blocks.length} blocks`,
        {
          file,
          field: at('depth'),
          hint: 'Set "depth" to the number of block pieces.',
        },
      );
    }
    const owner = `anchor "${anchor.id}"`;
    const embed = refPiece(anchor.embed, 'embed', at('embed'), `Anchor "${anchor.id}"`);
    checkWidth(embed.output, anchor.dim, anchor.embed, 'output', owner);
    anchor.blocks.forEach((id, b) => {
      const block = refPiece(id, 'block', at('blocks', b), `Anchor "${anchor.id}" block ${b}`);
      checkWidth(block.input, anchor.dim, id, 'input', owner);
      checkWidth(block.output, anchor.dim, id, 'output', owner);
    });
    const head = refPiece(anchor.head, 'head', at('head'), `Anchor "${anchor.id}"`);
    checkWidth(head.input, anchor.dim, anchor.head, 'input', owner);
  });
}

/** Every stitching layer's piece exists, joins two known anchors, and has their widths. */
function checkStitchLayers(
  manifest: Manifest,
  { refPiece, checkWidth }: PieceRefs,
  anchorIds: readonly string[],
  file: string,
): void {
  manifest.stitchLayers.forEach((layer, l) => {
    const at = (...rest: PropertyKey[]) => fieldPath(['stitchLayers', l, ...rest]);
    const piece = refPiece(layer.piece, 'stitch', at('piece'), `Stitching layer "${layer.id}"`);
    for (const side of ['from', 'to'] as const) {
      const anchor = manifest.anchors.find((x) => x.id === layer[side]);
      if (!anchor) {
        throw new PackageError(
          'PACKAGE_ROUTE_INVALID',
          `Stitching layer "${layer.id}" names an unknown anchor "${layer[side]}"`,
          {
            file,
            field: at(side),
            validValues: anchorIds,
            hint: 'Name one of the anchors listed under "anchors".',
          },
        );
      }
      const spec = side === 'from' ? piece.input : piece.output;
      checkWidth(
        spec,
        anchor.dim,
        layer.piece,
        side === 'from' ? 'input' : 'output',
        `its ${side} anchor "${anchor.id}"`,
      );
    }
  });
}

/** The frontier lists known stitches, each once. */
function checkFrontier(
  manifest: Manifest,
  routes: ReadonlyMap<number, string[]>,
  stitchIds: readonly number[],
  file: string,
): void {
  manifest.frontier.forEach((id, i) => {
    if (!routes.has(id)) {
      throw new PackageError(
        'PACKAGE_MANIFEST_INVALID',
        `The frontier lists stitch ${id}, which is not among the stitches`,
        {
          file,
          field: fieldPath(['frontier', i]),
          validValues: stitchIds,
          hint: 'List only ids of stitches under "stitches".',
        },
      );
    }
  });
  checkUniqueIds(manifest.frontier, 'frontier', file);
}

function checkUniqueIds<T extends string | number>(ids: readonly T[], list: string, file: string): T[] {
  const seen = new Set<T>();
  ids.forEach((id, i) => {
    if (seen.has(id)) {
      throw new PackageError('PACKAGE_MANIFEST_INVALID', `${JSON.stringify(id)} appears twice in "${list}"`, {
        file,
        field: fieldPath(list === 'frontier' ? [list, i] : [list, i, 'id']),
        hint: 'Give every entry a distinct id.',
      });
    }
    seen.add(id);
  });
  return [...seen];
}

function checkChain(
  manifest: Manifest,
  stitchId: number,
  pieces: readonly { piece: string; field: string }[],
  at: string,
  file: string,
): void {
  let shape: readonly Dim[] = manifest.input.shape;
  let source = `the package input "${manifest.input.name}"`;
  for (const { piece: id, field } of pieces) {
    const piece = manifest.pieces[id];
    if (!piece) {
      throw new PackageError('PACKAGE_ROUTE_INVALID', `Stitch ${stitchId} runs an unknown piece "${id}"`, {
        file,
        field,
        validValues: Object.keys(manifest.pieces),
      });
    }
    if (!shapesEqual(shape, piece.input.shape)) {
      throw new PackageError(
        'PACKAGE_DIMENSION_MISMATCH',
        `Stitch ${stitchId}: ${source} gives ${formatShape(shape)} but piece "${id}" takes ${formatShape(piece.input.shape)}`,
        {
          file,
          field,
          hint: "Each piece must take exactly the shape the piece before it gives; check the route and the pieces' input/output shapes.",
        },
      );
    }
    shape = piece.output.shape;
    source = `piece "${id}"`;
  }
  if (!shapesEqual(shape, manifest.output.shape)) {
    throw new PackageError(
      'PACKAGE_DIMENSION_MISMATCH',
      `Stitch ${stitchId}: ${source} gives ${formatShape(shape)} but the package output "${manifest.output.name}" is ${formatShape(manifest.output.shape)}`,
      { file, field: at, hint: 'The last piece of every route must give the package output shape.' },
    );
  }
}
