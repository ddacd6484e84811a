/**
 * Execution-provider names, validation of a user's preference list, and the selection loop.
 *
 * onnxruntime fails a whole session when one listed provider cannot load (and the JS layer prints
 * a warning for names the binary lacks), so providers are never passed together: each candidate is
 * checked on its own, in the user's order, and the first that works is used. Every failure is
 * kept with its reason so that `rt.providerAttempts` can say why, e.g., CUDA was not used.
 */
import { describeValue } from '../base/describe.js';
import { OptionError, RuntimeError } from '../errors.js';

import { DEFAULT_PROVIDERS, isProviderName, PROVIDER_NAMES, type ProviderName } from '../base/providers.js';

export { DEFAULT_PROVIDERS, isProviderName, PROVIDER_NAMES, type ProviderName };

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
  // Indexed, not list.forEach: the list may come from anywhere (an array without a prototype).
  for (let i = 0; i < list.length; i++) {
    const name: unknown = list[i];
    if (!isProviderName(name)) {
      throw new RuntimeError('PROVIDER_UNKNOWN', `unknown execution provider ${describeValue(name)}`, {
        option: `providers[${i}]`,
        validValues: PROVIDER_NAMES,
        hint: 'Use one of the listed names.',
      });
    }
    if (!out.includes(name)) out.push(name);
  }
  return out;
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
export async function selectProvider(
  preference: readonly ProviderName[],
  probes: ProviderProbes,
): Promise<ProviderSelection> {
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
  throw new ProviderUnavailableError(attempts, [...inBinary].filter(isProviderName), preference.includes('cpu'));
}

/** RuntimeError PROVIDER_UNAVAILABLE: no provider of the preference list can be used; `attempts` says why. */
export class ProviderUnavailableError extends RuntimeError {
  constructor(
    readonly attempts: readonly ProviderAttempt[],
    validValues: readonly ProviderName[],
    cpuListed: boolean,
  ) {
    super(
      'PROVIDER_UNAVAILABLE',
      `none of the requested execution providers can be used: ${attempts.map((a) => `${a.provider}: ${a.reason ?? 'failed'}`).join('; ')}`,
      { option: 'providers', validValues, hint: cpuListed ? HINTS.cpu.failed : "Add 'cpu' to the list as a fallback." },
    );
  }
}

/** Error codes of a package that failed on a provider after its probe passed. */
const LOAD_FAILURES: ReadonlySet<string> = new Set(['SESSION_CREATE_FAILED', 'INFERENCE_FAILED', 'WORKER_FAILED']);

/**
 * Selects a provider with `select` and opens the package on it with `open`. The probe model is
 * tiny, so a provider can pass it and still fail on the real pieces (an operator it lacks, GPU
 * memory, a driver that crashes the worker): then the rest of the preference list is tried, and
 * the failure is kept in the attempts like a failed probe. A failure on the CPU provider, or one
 * that is not a session/inference/worker failure (e.g. a package file that cannot be read), is
 * thrown as it is.
 */
export async function openWithFallback<T>(
  preference: readonly ProviderName[],
  select: (preference: readonly ProviderName[]) => Promise<ProviderSelection>,
  open: (provider: ProviderName) => Promise<T>,
): Promise<{ selection: ProviderSelection; value: T }> {
  const earlier: ProviderAttempt[] = [];
  let rest = [...preference];
  for (;;) {
    let selection: ProviderSelection;
    try {
      selection = await select(rest);
    } catch (e) {
      if (earlier.length === 0 || !(e instanceof ProviderUnavailableError)) throw e;
      throw new ProviderUnavailableError(
        [...earlier, ...e.attempts],
        (e.validValues ?? []).filter(isProviderName),
        preference.includes('cpu'),
      );
    }
    const { provider } = selection;
    try {
      const value = await open(provider);
      return { selection: { provider, attempts: [...earlier, ...selection.attempts] }, value };
    } catch (e) {
      const after = rest.slice(rest.indexOf(provider) + 1);
      if (provider === 'cpu' || !(e instanceof RuntimeError) || !LOAD_FAILURES.has(e.code) || after.length === 0)
        throw e;
      earlier.push(...selection.attempts.filter((a) => !a.ok), {
        provider,
        ok: false,
        reason: `its probe passed, but the package failed on it: ${e.message}`,
        // Not HINTS[provider].failed: that one is about a provider that cannot start, and this one did.
        hint: `The ${provider} provider works, but not on this package: fix what the reason names (e.g. free GPU memory), or leave '${provider}' out of providers for this package.`,
      });
      rest = after;
    }
  }
}
