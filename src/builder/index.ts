/**
 * The offline builder: from a family of ONNX anchors to a measured stitch package, and the
 * tools around it (enumeration, cost model, least squares, data readers, frontier, plots).
 */
export { buildPackage, PARITY_TOLERANCE } from './build.js';
export type { AnchorInput, BuildOptions, BuildProgress, BuildResult, BuildStep, ProfileRequest } from './build.js';
export { enumerateStitches } from './enumerate.js';
export type {
  AnchorShape,
  EnumeratedLayer,
  EnumeratedStitch,
  Enumeration,
  Position,
  RoutesMode,
  StitchKind,
} from './enumerate.js';
export { splitAnchor, detectBoundaries } from './split.js';
export type { AnchorSplit, Boundaries, SplitOptions } from './split.js';
export { fitLinearMap, averageLinearMaps } from './lstsq.js';
export type { LinearMap } from './lstsq.js';
export { readStitchWeights, formatStitchWeights, STITCH_WEIGHTS_FORMAT } from './stitch-weights.js';
export { paretoFrontier, frontierByMacs, frontierByLatency } from './frontier.js';
export type { FrontierPoint } from './frontier.js';
