/**
 * The policy: a pure decision engine over a stitch catalog, and the switching discipline as RxJS
 * operators.
 */
export { catalogFromManifest, profiledLatencyMs, type CatalogLatency, type CatalogStitch, type CatalogStitchInput, type StitchCatalog } from './catalog.js';
export { readReading, type MatchedReading } from './conditions.js';
export {
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
export { switchingDiscipline, type StitchSwitch, type SwitchingOptions } from './switching.js';
export { decide$, policyLoop, type DecideStreamOptions, type PolicyLoop, type PolicyLoopInputs } from './pipeline.js';
export { checkProfileForCatalog, type CatalogCheckOptions } from './check.js';
export { replayPolicy, type PolicyReplay, type PolicyReplayInputs } from './replay.js';
