/**
 * Execution-provider names, validation of a user's preference list, and the selection loop.
 *
 * onnxruntime fails a whole session when one listed provider cannot load (and the JS layer prints
 * a warning for names the binary lacks), so providers are never passed together: each candidate is
 * checked on its own, in the user's order, and the first that works is used. Every failure is
 * kept with its reason so that `rt.providerAttempts` can say why, e.g., CUDA was not used.
 */
import { OptionError, RuntimeError } from '../errors.js';

/** Every provider name stitchnet knows. onnxruntime-node ships a subset per platform. */
export const PROVIDER_NAMES = Object.freeze(['cuda', 'tensorrt', 'dml', 'webgpu', 'coreml', 'cpu'] as const);

/** An execution provider name. */
export type ProviderName = (typeof PROVIDER_NAMES)[number];

/** The default preference: GPUs first, CPU last (it always works). */
export const DEFAULT_PROVIDERS: readonly ProviderName[] = Object.freeze(['cuda', 'dml', 'webgpu', 'coreml', 'cpu']);

/** What to do when a provider cannot be used. */
const HINTS: Readonly<Record<ProviderName, { missing: string; failed: string }>> = Object.freeze({
  cuda: {
    missing: 'The npm onnxruntime-node binary has CUDA only on linux/x64.',
    failed:
      'The CUDA provider libraries are not installed: reinstall onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 (e.g. `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node`) on a machine with CUDA 12 and cuDNN 9.',
  },
  tensorrt: {
    missing: 'The npm onnxruntime-node binary has TensorRT only on linux/x64.',
    failed:
      'The TensorRT provider needs the CUDA provider libraries (ONNXRUNTIME_NODE_INSTALL=cuda12) and TensorRT on the library path.',
  },
  dml: {
    missing: 'DirectML is in the onnxruntime-node binary for Windows only.',
    failed: 'DirectML needs a DirectX 12 capable GPU and driver.',
  },
  webgpu: {
    missing: 'WebGPU is in the onnxruntime-node binaries for Windows, macOS arm64 and linux/x64.',
    failed: 'WebGPU needs a GPU adapter (Vulkan on Linux, D3D12 on Windows, Metal on macOS).',
  },
  coreml: {
    missing: 'CoreML is in the onnxruntime-node binary for macOS arm64 only.',
    failed: 'CoreML could not compile this model; use another provider.',
  },
  cpu: {
    missing: 'This platform has no onnxruntime-node binary.',
    failed: 'The CPU provider failed; the onnxruntime-node installation may be broken (reinstall it).',
  },
});

/** One provider that was considered, in preference order. */
export interface ProviderAttempt {
  provider: ProviderName;
  ok: boolean;
  /** Why it could not be used (absent when `ok`). */
  reason?: string;
  /** What to do about it (absent when `ok`). */
  hint?: string;
}

/** The provider in use and every attempt that led to it. */
export interface ProviderSelection {
  provider: ProviderName;
  attempts: ProviderAttempt[];
}

/** Result of probing one provider with a tiny session. */
export type ProbeResult = { ok: true } | { ok: false; reason: string };

/**
 * Checks a preference list: every name known, at least one entry. Duplicates are dropped
 * (the first occurrence keeps its place). Throws RuntimeError PROVIDER_UNKNOWN / OptionError OPTION_INVALID.
 */
export function validateProviders(list: readonly unknown[] | undefined): ProviderName[] {
  if (list === undefined) return [...DEFAULT_PROVIDERS];
  if (!Array.isArray(list) || list.length === 0) {
    throw new OptionError('OPTION_INVALID', 'providers must be a non-empty list of provider names', {
      option: 'providers',
      validValues: PROVIDER_NAMES,
      hint: "Leave it out for the default order, or pass e.g. ['cpu'].",
    });
  }
  const out: ProviderName[] = [];
  list.forEach((name, i) => {
    if (!isProviderName(name)) {
      throw new RuntimeError('PROVIDER_UNKNOWN', `unknown execution provider ${JSON.stringify(name)}`, {
        option: `providers[${i}]`,
        validValues: PROVIDER_NAMES,
        hint: 'Use one of the listed names.',
      });
    }
    if (!out.includes(name)) out.push(name);
  });
  return out;
}

/** Whether `name` is a known provider name. */
export function isProviderName(name: unknown): name is ProviderName {
  return typeof name === 'string' && (PROVIDER_NAMES as readonly string[]).includes(name);
}

/** What {@link selectProvider} needs from onnxruntime. */
export interface ProviderProbes {
  /** Provider names this platform's binary registers. */
  backends(): Promise<readonly string[]>;
  /** Tries a tiny session on exactly this provider. */
  probe(name: ProviderName): Promise<ProbeResult>;
}

/**
 * Walks the preference list in order and returns the first provider that works, with the reason
 * for every one that did not. Throws RuntimeError PROVIDER_UNAVAILABLE when none works.
 */
export async function selectProvider(preference: readonly ProviderName[], probes: ProviderProbes): Promise<ProviderSelection> {
  const inBinary = new Set(await probes.backends());
  const attempts: ProviderAttempt[] = [];
  for (const provider of preference) {
    if (!inBinary.has(provider)) {
      attempts.push({
        provider,
        ok: false,
        reason: `not in this platform's onnxruntime-node binary (${process.platform}/${process.arch})`,
        hint: HINTS[provider].missing,
      });
      continue;
    }
    const result = await probes.probe(provider);
    if (result.ok) {
      attempts.push({ provider, ok: true });
      return { provider, attempts };
    }
    attempts.push({ provider, ok: false, reason: result.reason, hint: HINTS[provider].failed });
  }
  throw new RuntimeError(
    'PROVIDER_UNAVAILABLE',
    `none of the requested execution providers can be used: ${attempts.map((a) => `${a.provider}: ${a.reason ?? 'failed'}`).join('; ')}`,
    {
      option: 'providers',
      validValues: [...inBinary].filter(isProviderName),
      hint: preference.includes('cpu') ? HINTS.cpu.failed : "Add 'cpu' to the list as a fallback.",
    },
  );
}
