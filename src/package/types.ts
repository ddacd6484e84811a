/**
 * The manifest's types as plain interfaces: what the public API shows. `schema.ts` validates with
 * its schema and checks at compile time that the inferred types are these, so the two cannot drift.
 */

/** A tensor dimension: a fixed size, or a symbolic name (`"batch"`) that is free at run time. */
export type Dim = number | string;

/** A named tensor with its shape (symbolic dims allowed) and element type. */
export interface TensorSpec {
  name: string;
  /** Shape with symbolic dims, e.g. `["batch", 17, 48]`. */
  shape: Dim[];
  dtype: 'float32';
}

/** What a piece does in a route. */
export type PieceKind = 'embed' | 'block' | 'head' | 'stitch';

/** One ONNX file of the package. */
export interface Piece {
  kind: PieceKind;
  /** Path of the ONNX file, relative to the package folder, forward slashes. */
  file: string;
  /** Lowercase hex sha256 of the file. */
  sha256: string;
  bytes: number;
  input: TensorSpec;
  output: TensorSpec;
  /** Multiply-accumulates for one sample (fvcore convention). */
  macs?: number | undefined;
  params?: number | undefined;
  /** The piece's weights as ONNX external data, in a file of their own (absent: all inside `file`). */
  data?: PieceData | undefined;
}

/**
 * A piece's external-data file: the weights its ONNX file references (`data_location: EXTERNAL`,
 * `location` the path of this file relative to the ONNX file's folder), which onnxruntime maps
 * from disk rather than copying.
 */
export interface PieceData {
  /** Path of the data file, relative to the package folder, forward slashes. */
  file: string;
  /** Lowercase hex sha256 of the file. */
  sha256: string;
  bytes: number;
}

/** One pretrained model of the family, cut into pieces. */
export interface Anchor {
  id: string;
  /** Width of the residual stream between blocks. */
  dim: number;
  depth: number;
  embed: string;
  blocks: string[];
  head: string;
}

/** A stitching layer between two anchors. */
export interface StitchLayer {
  id: string;
  piece: string;
  from: string;
  to: string;
  /** How the layer was obtained. */
  origin?: 'least-squares' | 'trained' | 'random' | undefined;
}

/** One step of a route: a block range of an anchor, or a stitching layer. */
export type RouteStep =
  | {
      anchor: string;
      /** Inclusive block range `[from, to]` of that anchor. */
      blocks: [number, number];
    }
  | { stitchLayer: string };

/** A measured latency. */
export interface Latency {
  p50Ms: number;
  p95Ms: number;
  device: string;
  at: string;
}

/** One stitch: its route and its measured figures. */
export interface Stitch {
  id: number;
  route: RouteStep[];
  /** SN-Net stitch position(s) `[j, k]`, for display and for matching the paper's tables. */
  positions?: [number, number][] | undefined;
  /** Multiply-accumulates for one sample. */
  macs?: number | undefined;
  params?: number | undefined;
  /** Accuracy on the package's evaluation set, 0..1. */
  accuracy?: number | undefined;
  /** `latency[provider][batch]`, e.g. `latency.cpu["1"]`. */
  latency?: Record<string, Record<string, Latency>> | undefined;
}

/** How raw pixels become the model input: `(pixel × scale − mean[c]) / std[c]`, in `layout`. */
export interface Preprocess {
  /** Layout of the model input. */
  layout: 'NCHW' | 'NHWC';
  /** Raw values are multiplied by `scale` (e.g. 1/255) before `(x - mean) / std`. */
  scale: number;
  /** Per channel (or one value for all channels). */
  mean: number[];
  /** Per channel (or one value for all channels). */
  std: number[];
}

/** The model output tensor, with class labels when it is a classifier. */
export interface OutputSpec extends TensorSpec {
  labels?: string[] | undefined;
}

/** The package manifest (`stitchnet.json`), defaults filled in. */
export interface Manifest {
  format: 'stitchnet/1';
  name: string;
  description?: string | undefined;
  createdAt?: string | undefined;
  input: TensorSpec;
  output: OutputSpec;
  preprocess?: Preprocess | undefined;
  anchors: Anchor[];
  pieces: Record<string, Piece>;
  stitchLayers: StitchLayer[];
  stitches: Stitch[];
  /** Stitch ids on the cost/accuracy Pareto frontier, cheapest first. */
  frontier: number[];
  /** Which evaluation set `accuracy` refers to. */
  evaluation?: { dataset: string; samples: number } | undefined;
  /** Free-form provenance from the builder (tool version, routes mode, calibration size, …). */
  build?: Record<string, unknown> | undefined;
}
