/**
 * Device signals: sources (systeminformation, nvidia-smi, traces, manual, inference timings) and
 * their composition into an `Observable<DeviceState>`.
 */
export * from './names.js';
export * from './state.js';
export type { SignalSource } from './source.js';
export * from './options.js';
export { pollProbe, exclusive, markStale, type ProbeOptions } from './sample.js';
export {
  ema,
  emaStep,
  trend,
  slopePerMinute,
  windowTrend,
  deviceState$,
  ReadingsFolder,
  type TimedSample,
  type DeviceStateOptions,
} from './derive.js';
export * from './system.js';
export { osCpuLoad, linuxCpuTemperature, findLinuxCpuSensor } from './cheap-probes.js';
export * from './nvidia-smi.js';
export * from './trace.js';
export { ManualSource, PushSource, patchFromValues, type SignalValues } from './push.js';
export { InferenceMonitor, median, type InferenceMonitorOptions, type RunTiming } from './inference.js';
