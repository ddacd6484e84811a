/**
 * The policy: a pure decision engine over a stitch catalog, the switching discipline, and THE
 * policy loop that the runtime, `simulate` and the testing replay all run.
 */
export {
  catalogFromManifest,
  profiledLatencyMs,
  type CatalogLatency,
  type CatalogStitch,
  type CatalogStitchInput,
  type StitchCatalog,
} from './catalog.js';
export { readReading, type MatchedReading } from './conditions.js';
export {
  combinedLimits,
  decide,
  unmetLimits,
  latencyProvider,
  type Decision,
  type DecisionReason,
  type EffectiveLimits,
  type LimitCheck,
  type MatchedRule,
  type PolicyContext,
} from './decide.js';
export {
  latencyDriven,
  Switcher,
  switchingDiscipline,
  type StitchSwitch,
  type SwitchHold,
  type SwitchingOptions,
  type SwitchStep,
  type SwitcherStart,
} from './switching.js';
export {
  emptyState,
  policyLoop,
  type ControlChange,
  type ControlInput,
  type LoopDecision,
  type LoopEvent,
  type PolicyLoopInputs,
} from './loop.js';
export { checkProfileForCatalog, type CatalogCheckOptions } from './check.js';
export { replayPolicy, type PolicyReplay, type PolicyReplayInputs, type ReplayEvent } from './replay.js';
