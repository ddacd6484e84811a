/**
 * stitchnet — run a stitched (SN-Net) model family and switch between its accuracy/cost
 * trade-offs at runtime. Only the exports of this file are public.
 */
export {
  StitchnetError,
  PackageError,
  OnnxError,
  RuntimeError,
  ProfileError,
  SignalError,
  BuilderError,
  OptionError,
  isStitchnetError,
} from './errors.js';
export type { StitchnetErrorCode, StitchnetErrorOptions } from './errors.js';

export { StitchRuntime } from './runtime/stitch-runtime.js';
export type { StitchRuntimeOptions, RunResult, RunOptions, ProviderState } from './runtime/stitch-runtime.js';
export type { RunInput } from './runtime/input.js';
export type { FastPathOptions, ThreadOptions } from './runtime/options.js';
export type { ProviderName, ProviderAttempt } from './runtime/providers.js';
export type { Manifest, Stitch, RouteStep, Anchor, Piece, StitchLayer, TensorSpec } from './package/schema.js';
