/**
 * Stitching-layer weights produced elsewhere (a training run), used instead of the least-squares
 * fit. The file is JSON:
 *
 * ```json
 * {
 *   "format": "stitchnet-stitch-weights/1",
 *   "layers": [
 *     { "from": "ti", "to": "s", "index": 0, "dimIn": 192, "dimOut": 384,
 *       "weight": [[…384 numbers…], … 192 rows …],
 *       "bias": [… 384 numbers …] }
 *   ]
 * }
 * ```
 *
 * `weight` is `[dimIn][dimOut]` for `y = x·W + b` (the transpose of a PyTorch `Linear.weight`);
 * `(from, to, index)` names the layer as the builder's enumeration does (`index` is SN-Net's
 * stitching-layer index within that pair and direction). Every layer the routes use must be given.
 * Optional per layer: `id` (the producer's name, kept for the reader) and `positions` (the block
 * positions `[j, k]` the layer was trained for; when given they must be the ones the builder
 * enumerates for that layer, which catches a producer that enumerates differently).
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { fieldPath } from '../base/field-path.js';
import { messageOf } from '../base/message.js';
import { BuilderError } from '../errors.js';
import type { EnumeratedLayer } from './enumerate.js';
import type { LinearMap } from './lstsq.js';

export const STITCH_WEIGHTS_FORMAT = 'stitchnet-stitch-weights/1';

const LayerSchema = z.strictObject({
  /** The producer's own name for the layer; informational. */
  id: z.string().min(1).optional(),
  from: z.string().min(1),
  to: z.string().min(1),
  index: z.number().int().nonnegative(),
  dimIn: z.number().int().positive(),
  dimOut: z.number().int().positive(),
  weight: z.array(z.array(z.number())),
  bias: z.array(z.number()),
  /** Block positions `[j, k]` the producer trained this layer for; checked against the builder's. */
  positions: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()])).optional(),
});

const FileSchema = z.strictObject({
  format: z.literal(STITCH_WEIGHTS_FORMAT),
  layers: z.array(LayerSchema),
});

/** The stitch-weights file as JSON text, from fitted or trained maps keyed by layer. */
export function formatStitchWeights(layers: readonly { layer: EnumeratedLayer; map: LinearMap }[]): string {
  return JSON.stringify({
    format: STITCH_WEIGHTS_FORMAT,
    layers: layers.map(({ layer, map }) => ({
      from: layer.from,
      to: layer.to,
      index: layer.index,
      dimIn: map.dimIn,
      dimOut: map.dimOut,
      weight: Array.from({ length: map.dimIn }, (_, i) =>
        Array.from(map.weight.subarray(i * map.dimOut, (i + 1) * map.dimOut)),
      ),
      bias: Array.from(map.bias),
    })),
  });
}

/**
 * Reads a stitch-weights file and matches it to the enumerated layers.
 *
 * @param dims - the residual width of each anchor id.
 * @throws BuilderError `BUILD_STITCH_WEIGHTS_INVALID` naming the file and field: unreadable or
 *   malformed JSON, an unknown or missing layer, or sizes that don't match the anchors.
 */
export async function readStitchWeights(
  file: string,
  layers: readonly EnumeratedLayer[],
  dims: ReadonlyMap<string, number>,
): Promise<Map<string, LinearMap>> {
  const entries = await parseStitchWeightsFile(file);
  const wanted = new Map(layers.map((l) => [`${l.from}|${l.to}|${l.index}`, l]));
  const out = new Map<string, LinearMap>();
  entries.forEach((entry, n) => {
    const field = `layers[${n}]`;
    const layer = matchLayer(file, entry, field, wanted, layers);
    if (out.has(layer.id)) throw weightsError(file, `Layer ${layer.id} is given twice`, field);
    checkPositions(file, entry, field, layer);
    out.set(layer.id, linearMapOf(file, entry, field, layer, dims));
  });
  checkEveryLayerGiven(file, layers, out);
  return out;
}

type LayerEntry = z.infer<typeof LayerSchema>;

function weightsError(
  file: string,
  message: string,
  field?: string,
  hint = `Write the file in the ${STITCH_WEIGHTS_FORMAT} format`,
): BuilderError {
  return new BuilderError('BUILD_STITCH_WEIGHTS_INVALID', message, { file, field, option: '--stitch-weights', hint });
}

/** The file's layer entries, once it is read, parsed as JSON and matches the schema. */
async function parseStitchWeightsFile(file: string): Promise<LayerEntry[]> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (cause) {
    throw weightsError(file, `Cannot read stitch weights: ${messageOf(cause)}`);
  }
  const parsed = FileSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw weightsError(
      file,
      `Stitch weights are malformed: ${issue?.message ?? 'invalid'}`,
      issue ? fieldPath(issue.path) : undefined,
    );
  }
  return parsed.data.layers;
}

/** The enumerated layer an entry is for (by anchors and index). */
function matchLayer(
  file: string,
  entry: LayerEntry,
  field: string,
  wanted: ReadonlyMap<string, EnumeratedLayer>,
  layers: readonly EnumeratedLayer[],
): EnumeratedLayer {
  const layer = wanted.get(`${entry.from}|${entry.to}|${entry.index}`);
  if (layer) return layer;
  throw new BuilderError(
    'BUILD_STITCH_WEIGHTS_INVALID',
    `Layer ${entry.from}→${entry.to} #${entry.index} is not a stitching layer of these anchors and routes`,
    {
      file,
      field,
      option: '--stitch-weights',
      validValues: layers.map((l) => `${l.from}→${l.to} #${l.index}`),
      hint: 'Use the anchor ids (the model file names) and layer indices the builder enumerates',
    },
  );
}

/** An entry that names its positions was trained for those the builder uses it at. */
function checkPositions(file: string, entry: LayerEntry, field: string, layer: EnumeratedLayer): void {
  if (entry.positions === undefined) return;
  const key = (ps: readonly (readonly [number, number])[]) =>
    ps
      .map(([j, k]) => `${j},${k}`)
      .sort()
      .join(' ');
  if (key(entry.positions) === key(layer.positions)) return;
  throw new BuilderError(
    'BUILD_STITCH_WEIGHTS_INVALID',
    `Layer ${layer.id} was trained for positions ${key(entry.positions)}, but the builder uses it at ${key(layer.positions)}`,
    {
      file,
      field: `${field}.positions`,
      option: '--stitch-weights',
      validValues: layer.positions.map(([j, k]) => `[${j}, ${k}]`),
      hint: 'Enumerate the stitches as SN-Net v1 does (paired windows of kernel 2, stride 1), or pass the matching --routes mode',
    },
  );
}

/** The entry's weights as a linear map, once its sizes match the anchors' widths and every value is a finite float32. */
function linearMapOf(
  file: string,
  entry: LayerEntry,
  field: string,
  layer: EnumeratedLayer,
  dims: ReadonlyMap<string, number>,
): LinearMap {
  const dimIn = dims.get(entry.from) as number;
  const dimOut = dims.get(entry.to) as number;
  if (entry.dimIn !== dimIn || entry.dimOut !== dimOut) {
    throw weightsError(
      file,
      `Layer ${layer.id} is ${entry.dimIn}→${entry.dimOut}, but the anchors are ${dimIn}→${dimOut} wide`,
      field,
    );
  }
  if (entry.weight.length !== dimIn || entry.weight.some((row) => row.length !== dimOut)) {
    throw weightsError(file, `Layer ${layer.id}: weight must be ${dimIn} rows of ${dimOut} numbers`, `${field}.weight`);
  }
  if (entry.bias.length !== dimOut) {
    throw weightsError(
      file,
      `Layer ${layer.id}: bias must have ${dimOut} numbers, it has ${entry.bias.length}`,
      `${field}.bias`,
    );
  }
  const weight = Float32Array.from(entry.weight.flat());
  const bias = Float32Array.from(entry.bias);
  if (!weight.every(Number.isFinite) || !bias.every(Number.isFinite))
    throw weightsError(file, `Layer ${layer.id} holds a value that is not a finite float32`, field);
  return { dimIn, dimOut, weight, bias };
}

/** Every layer the routes use has an entry. */
function checkEveryLayerGiven(
  file: string,
  layers: readonly EnumeratedLayer[],
  given: ReadonlyMap<string, LinearMap>,
): void {
  const missing = layers.filter((l) => !given.has(l.id));
  if (missing.length === 0) return;
  throw new BuilderError(
    'BUILD_STITCH_WEIGHTS_INVALID',
    `Stitch weights lack ${missing.length} layer(s) the routes use`,
    {
      file,
      option: '--stitch-weights',
      validValues: missing.map((l) => `${l.from}→${l.to} #${l.index}`),
      hint: 'Give every listed layer, or leave out --stitch-weights to fit them by least squares',
    },
  );
}
