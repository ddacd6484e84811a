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
export type { RunInput } from './engine/input.js';
export type { FastPathOptions, ThreadOptions } from './engine/options.js';
export { ProviderUnavailableError } from './engine/providers.js';
export type { ProviderName, ProviderAttempt } from './engine/providers.js';
export type { Manifest, Stitch, RouteStep, Anchor, Piece, StitchLayer, TensorSpec } from './package/schema.js';
export { readPackage } from './package/index.js';
export type { StitchPackage, ReadPackageOptions } from './package/index.js';
export { fetchPackage } from './package/fetch.js';
export type { FetchPackageOptions, FetchProgress } from './package/fetch.js';

// The adaptive loop: what `create({ profile, signals })` takes and what its observables emit.
export type { AdaptiveOptions, ProfileSource, ProfileWatchOptions, StitchChange, StitchChangeReason } from './runtime/adaptive.js';
export type { DeviceState, Quality, Reading, SignalPatch, SignalValue } from './signals/state.js';
export type { SignalSource } from './signals/source.js';
export { ManualSource } from './signals/push.js';
export type { SignalValues } from './signals/push.js';
export { systemSource } from './signals/system.js';
export type { SystemSourceOptions } from './signals/system.js';
export { loadTrace, traceSource } from './signals/trace.js';
export type { Trace, TraceSourceOptions } from './signals/trace.js';
export type { Decision, DecisionReason, EffectiveLimits, MatchedRule } from './policy/decide.js';
export type { MatchedReading } from './policy/conditions.js';
export { loadProfile, parseProfile } from './profiles/index.js';
export type { Profile, ProfileInput } from './profiles/index.js';
