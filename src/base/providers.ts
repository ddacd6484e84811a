/**
 * The onnxruntime execution providers stitchnet knows: one list for the engine (probing and
 * fallback), the profile schema (`provider` limits) and the CLI.
 */

/** Every provider name, in no particular order of preference. */
export const PROVIDER_NAMES = Object.freeze(['cuda', 'tensorrt', 'dml', 'webgpu', 'coreml', 'cpu'] as const);

/** An onnxruntime execution provider. */
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** The default preference: the fastest provider this machine may have first, CPU last. */
export const DEFAULT_PROVIDERS: readonly ProviderName[] = Object.freeze(['cuda', 'dml', 'webgpu', 'coreml', 'cpu']);

/** Whether `name` is one of {@link PROVIDER_NAMES}. */
export function isProviderName(name: unknown): name is ProviderName {
  return typeof name === 'string' && (PROVIDER_NAMES as readonly string[]).includes(name);
}
