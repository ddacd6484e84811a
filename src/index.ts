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
export type { StitchnetErrorCode, StitchnetErrorOptions, SerializedStitchnetError } from './errors.js';

export { StitchRuntime } from './runtime/stitch-runtime.js';
export { ERRORS_REPLAYED } from './runtime/stitch-runtime.js';
export type {
  StitchRuntimeOptions,
  RunInput,
  RunResult,
  RunOptions,
  ClassifyOptions,
  ClassifyResult,
  ProviderState,
  RuntimeMode,
} from './runtime/stitch-runtime.js';
export type { CalibrateOption, CalibrateOptions, CalibrationEntry } from './runtime/calibration.js';
export type { CalibrationReport } from './runtime/calibrator.js';
export type { RunInput as TensorInput } from './engine/input.js';
export type { ImageInput, PixelLayout } from './runtime/images.js';
export type { ScoredLabel } from './runtime/classify.js';
export type { FastPathOptions, ThreadOptions } from './engine/options.js';
export { ProviderUnavailableError } from './engine/providers.js';
export { PROVIDER_NAMES } from './engine/providers.js';
export type { ProviderName, ProviderAttempt, ProviderSelection } from './engine/providers.js';
export type {
  Manifest,
  Stitch,
  RouteStep,
  Anchor,
  Piece,
  PieceKind,
  PieceData,
  StitchLayer,
  TensorSpec,
  OutputSpec,
  Dim,
  Latency,
  Preprocess,
} from './package/types.js';
export { readPackage } from './package/index.js';
export type { StitchPackage, ReadPackageOptions } from './package/index.js';
export { fetchPackage } from './package/fetch.js';
export type { FetchPackageOptions, FetchProgress } from './package/fetch.js';

// The adaptive loop: what `create({ profile, signals })` takes and what its observables emit.
export type {
  AdaptiveOptions,
  ProfileSource,
  ProfileWatchOptions,
  StitchChange,
  StitchChangeReason,
} from './runtime/adaptive.js';
export type { DeviceState, Quality, Reading, SignalPatch, SignalValue } from './signals/state.js';
export type { SignalSource } from './signals/source.js';
export { SIGNALS } from './signals/names.js';
export type { SignalName, BuiltinSignalName, AppSignalName, SignalInfo, SignalKind } from './signals/names.js';
export { ManualSource, PushSource } from './signals/push.js';
export type { SignalValues, SignalValueOf } from './signals/push.js';
export type { SamplingOptions } from './signals/options.js';
export { systemSource } from './signals/system.js';
export type {
  SystemSourceOptions,
  SystemInformation,
  BatteryInfo,
  TemperatureInfo,
  GraphicsInfo,
} from './signals/system.js';
export type { LineSpawner } from './signals/nvidia-smi.js';
export { loadTrace, traceSource } from './signals/trace.js';
export type { Trace, TraceRow, TraceSourceOptions } from './signals/trace.js';
export type { RecordOptions } from './signals/record.js';
export type { Decision, DecisionReason, EffectiveLimits, MatchedRule } from './policy/decide.js';
export type { LatencySource } from './policy/catalog.js';
export type { MatchedReading } from './policy/conditions.js';
export type { LoopDecision } from './policy/loop.js';
export type { SwitchHold } from './policy/switching.js';
export { loadProfile, parseProfile } from './profiles/index.js';
export type { ParseProfileOptions, ProfileCheckIssue, WatchProfileOptions } from './profiles/index.js';
export type {
  Profile,
  ProfileInput,
  Rule,
  RuleInput,
  When,
  Condition,
  ConditionOf,
  NumberCondition,
  Limits,
  LimitName,
  Provider,
  Switching,
  Sampling,
  OrtSettings,
} from './profiles/types.js';
