/**
 * The stitch-package manifest (`stitchnet.json`), format `stitchnet/1`.
 *
 * The zod schema is what `readPackage` validates with; the public types are the plain interfaces
 * of `types.ts`, checked here at compile time to be the schema's inferred types. Structural checks that need more than one field at a time
 * (routes reference real pieces, dimensions chain, hashes match) live in `read.ts`.
 */
import { z } from 'zod';
import type { SameType } from '../base/types.js';
import type {
  Anchor,
  Dim,
  Latency,
  Manifest,
  Piece,
  PieceData,
  Preprocess,
  RouteStep,
  Stitch,
  StitchLayer,
  TensorSpec,
} from './types.js';

export const PACKAGE_FORMAT = 'stitchnet/1';
export const MANIFEST_FILE = 'stitchnet.json';

/** A tensor dimension: a fixed size, or a symbolic name (`"batch"`) that is free at run time. */
export const DimSchema = z.union([z.number().int().nonnegative(), z.string().min(1)]);

export const TensorSpecSchema = z.strictObject({
  name: z.string().min(1),
  /** Shape with symbolic dims, e.g. `["batch", 17, 48]`. */
  shape: z.array(DimSchema).min(1),
  dtype: z.literal('float32').default('float32'),
});

export const PieceKindSchema = z.enum(['embed', 'block', 'head', 'stitch']);

/** A piece's external-data file: the weights its ONNX file references (`data_location: EXTERNAL`). */
export const PieceDataSchema = z.strictObject({
  /** Path of the data file, relative to the package folder, forward slashes. */
  file: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256'),
  bytes: z.number().int().nonnegative(),
});

export const PieceSchema = z.strictObject({
  kind: PieceKindSchema,
  /** Path of the ONNX file, relative to the package folder, forward slashes. */
  file: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256'),
  bytes: z.number().int().nonnegative(),
  input: TensorSpecSchema,
  output: TensorSpecSchema,
  /** Multiply-accumulates for one sample (fvcore convention). */
  macs: z.number().nonnegative().optional(),
  params: z.number().int().nonnegative().optional(),
  /** The piece's weights as ONNX external data, in a file of their own (absent: all inside `file`). */
  data: PieceDataSchema.optional(),
});

export const AnchorSchema = z.strictObject({
  id: z.string().min(1),
  /** Width of the residual stream between blocks. */
  dim: z.number().int().positive(),
  depth: z.number().int().positive(),
  embed: z.string().min(1),
  blocks: z.array(z.string().min(1)).min(1),
  head: z.string().min(1),
});

export const StitchLayerSchema = z.strictObject({
  id: z.string().min(1),
  piece: z.string().min(1),
  from: z.string().min(1),
  to: z.string().min(1),
  /** How the layer was obtained. */
  origin: z.enum(['least-squares', 'trained', 'random']).optional(),
});

export const RouteStepSchema = z.union([
  z.strictObject({
    anchor: z.string().min(1),
    /** Inclusive block range `[from, to]` of that anchor. */
    blocks: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
  }),
  z.strictObject({ stitchLayer: z.string().min(1) }),
]);

export const LatencySchema = z.strictObject({
  p50Ms: z.number().nonnegative(),
  p95Ms: z.number().nonnegative(),
  device: z.string(),
  at: z.string(),
});

export const StitchSchema = z.strictObject({
  id: z.number().int().nonnegative(),
  route: z.array(RouteStepSchema).min(1),
  /** SN-Net stitch position(s) `[j, k]`, for display and for matching the paper's tables. */
  positions: z.array(z.tuple([z.number().int(), z.number().int()])).optional(),
  macs: z.number().nonnegative().optional(),
  params: z.number().int().nonnegative().optional(),
  accuracy: z.number().min(0).max(1).optional(),
  /** `latency[provider][batch]`, e.g. `latency.cpu["1"]`. */
  latency: z.record(z.string(), z.record(z.string(), LatencySchema)).optional(),
});

export const PreprocessSchema = z.strictObject({
  /** Layout of the model input. */
  layout: z.enum(['NCHW', 'NHWC']).default('NCHW'),
  /** Raw values are multiplied by `scale` (e.g. 1/255) before `(x - mean) / std`. */
  scale: z.number().positive().default(1),
  mean: z.array(z.number()).min(1),
  std: z.array(z.number().positive()).min(1),
});

export const ManifestSchema = z.strictObject({
  /** Readers check this before anything else and refuse a format they do not know. */
  format: z.literal(PACKAGE_FORMAT),
  name: z.string().min(1),
  description: z.string().optional(),
  createdAt: z.string().optional(),
  input: TensorSpecSchema,
  output: TensorSpecSchema.extend({ labels: z.array(z.string()).optional() }),
  preprocess: PreprocessSchema.optional(),
  anchors: z.array(AnchorSchema).min(1),
  pieces: z.record(z.string(), PieceSchema),
  stitchLayers: z.array(StitchLayerSchema).default([]),
  stitches: z.array(StitchSchema).min(1),
  /** Stitch ids on the cost/accuracy Pareto frontier, cheapest first. */
  frontier: z.array(z.number().int().nonnegative()).default([]),
  /** Which evaluation set `accuracy` refers to. */
  evaluation: z.strictObject({ dataset: z.string(), samples: z.number().int().positive() }).optional(),
  /** Free-form provenance from the builder (tool version, routes mode, calibration size, …). */
  build: z.record(z.string(), z.unknown()).optional(),
});

export type {
  Dim,
  TensorSpec,
  PieceKind,
  Piece,
  PieceData,
  Anchor,
  StitchLayer,
  RouteStep,
  Latency,
  Stitch,
  Preprocess,
  OutputSpec,
  Manifest,
} from './types.js';

// The public types are plain interfaces (types.ts); these fail to compile when the schema drifts from them.
true satisfies SameType<Dim, z.infer<typeof DimSchema>>;
true satisfies SameType<TensorSpec, z.infer<typeof TensorSpecSchema>>;
true satisfies SameType<PieceData, z.infer<typeof PieceDataSchema>>;
true satisfies SameType<Piece, z.infer<typeof PieceSchema>>;
true satisfies SameType<Anchor, z.infer<typeof AnchorSchema>>;
true satisfies SameType<StitchLayer, z.infer<typeof StitchLayerSchema>>;
true satisfies SameType<RouteStep, z.infer<typeof RouteStepSchema>>;
true satisfies SameType<Latency, z.infer<typeof LatencySchema>>;
true satisfies SameType<Stitch, z.infer<typeof StitchSchema>>;
true satisfies SameType<Preprocess, z.infer<typeof PreprocessSchema>>;
true satisfies SameType<Manifest, z.infer<typeof ManifestSchema>>;
/** What a writer passes in: defaults may be left out. */
export type ManifestInput = z.input<typeof ManifestSchema>;
