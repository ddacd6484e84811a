import { describe, expect, it } from 'vitest';
import { PackageError, RuntimeError, OptionError } from '../../src/errors.js';
import { backendNames } from '../../src/engine/ort.js';
import { cleanNativeText, probeProviders } from '../../src/engine/probe.js';
import {
  DEFAULT_PROVIDERS,
  PROVIDER_NAMES,
  openWithFallback,
  selectProvider,
  type ProviderUnavailableError,
  validateProviders,
  type ProviderName,
} from '../../src/engine/providers.js';
import { workerFile } from '../../src/engine/worker-file.js';

describe('validateProviders', () => {
  it('defaults to the documented order', () => {
    expect(validateProviders(undefined)).toEqual(['cuda', 'dml', 'webgpu', 'coreml', 'cpu']);
    expect(DEFAULT_PROVIDERS).toEqual(['cuda', 'dml', 'webgpu', 'coreml', 'cpu']);
  });

  it('rejects an unknown name with the valid names and the option index', () => {
    const err = (() => {
      try {
        validateProviders(['cpu', 'nope']);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(RuntimeError);
    expect(err).toMatchObject({ code: 'PROVIDER_UNKNOWN', option: 'providers[1]', validValues: [...PROVIDER_NAMES] });
    expect((err as Error).message).toContain('"nope"');
  });

  it('rejects an empty list and drops duplicates', () => {
    expect(() => validateProviders([])).toThrow(OptionError);
    expect(validateProviders(['cpu', 'cuda', 'cpu'])).toEqual(['cpu', 'cuda']);
  });
});

describe('selectProvider', () => {
  const fake = (inBinary: string[], working: ProviderName[]) => {
    const probed: string[] = [];
    return {
      probed,
      probes: {
        backends: async () => inBinary,
        probe: async (name: ProviderName) => {
          probed.push(name);
          return working.includes(name) ? ({ ok: true } as const) : ({ ok: false, reason: `${name} broke` } as const);
        },
      },
    };
  };

  it('skips names the binary lacks without probing them, and stops at the first that works', async () => {
    const f = fake(['cpu', 'cuda', 'webgpu'], ['webgpu', 'cpu']);
    const sel = await selectProvider(['dml', 'cuda', 'webgpu', 'cpu'], f.probes);
    expect(sel.provider).toBe('webgpu');
    expect(f.probed).toEqual(['cuda', 'webgpu']);
    expect(sel.attempts.map((a) => [a.provider, a.ok])).toEqual([
      ['dml', false],
      ['cuda', false],
      ['webgpu', true],
    ]);
    expect(sel.attempts[0]?.reason).toMatch(/not in this platform's onnxruntime-node binary/);
    expect(sel.attempts[1]?.reason).toBe('cuda broke');
    expect(sel.attempts[1]?.hint).toMatch(/ONNXRUNTIME_NODE_INSTALL=cuda12/);
  });

  it('throws PROVIDER_UNAVAILABLE naming every attempt when none works', async () => {
    const f = fake(['cpu', 'cuda'], []);
    await expect(selectProvider(['coreml', 'cuda'], f.probes)).rejects.toMatchObject({
      code: 'PROVIDER_UNAVAILABLE',
      message: expect.stringMatching(/coreml: not in this platform.*cuda: cuda broke/),
    });
  });
});

describe('openWithFallback', () => {
  // The probes: every provider in `working` passes, the rest fail. `open` fails on `broken`.
  const setup = (working: ProviderName[], broken: Partial<Record<ProviderName, Error>>) => {
    const opened: ProviderName[] = [];
    const select = (pref: readonly ProviderName[]) =>
      selectProvider(pref, {
        backends: async () => [...PROVIDER_NAMES],
        probe: async (name) => (working.includes(name) ? { ok: true } : { ok: false, reason: `${name} probe broke` }),
      });
    const open = async (provider: ProviderName) => {
      opened.push(provider);
      const e = broken[provider];
      if (e) throw e;
      return `client on ${provider}`;
    };
    return { opened, select, open };
  };
  const sessionFailed = (provider: string) =>
    new RuntimeError(
      'SESSION_CREATE_FAILED',
      `onnxruntime could not create a session for piece "p0" on provider "${provider}": out of memory`,
      {},
    );

  it('uses the first provider whose probe passes when the package opens on it', async () => {
    const s = setup(['dml', 'cpu'], {});
    const { selection, value } = await openWithFallback(['cuda', 'dml', 'cpu'], s.select, s.open);
    expect(value).toBe('client on dml');
    expect(s.opened).toEqual(['dml']);
    expect(selection.attempts.map((a) => [a.provider, a.ok])).toEqual([
      ['cuda', false],
      ['dml', true],
    ]);
  });

  it('falls back past a provider that passed its probe but failed on the package, and says why', async () => {
    const s = setup(['cuda', 'dml', 'cpu'], {
      cuda: sessionFailed('cuda'),
      dml: new RuntimeError('WORKER_FAILED', 'the inference worker exited with code 3', {}),
    });
    const { selection, value } = await openWithFallback(['cuda', 'dml', 'cpu'], s.select, s.open);
    expect(value).toBe('client on cpu');
    expect(s.opened).toEqual(['cuda', 'dml', 'cpu']);
    expect(selection.provider).toBe('cpu');
    expect(selection.attempts.map((a) => [a.provider, a.ok])).toEqual([
      ['cuda', false],
      ['dml', false],
      ['cpu', true],
    ]);
    expect(selection.attempts[0]?.reason).toBe(
      `its probe passed, but the package failed on it: ${sessionFailed('cuda').message}`,
    );
    expect(selection.attempts[0]?.hint).toMatch(/leave 'cuda' out of providers/);
    expect(selection.attempts[1]?.reason).toMatch(/worker exited with code 3/);
  });

  it('keeps the probe failures met before the provider that failed on the package', async () => {
    const s = setup(['dml', 'cpu'], { dml: sessionFailed('dml') });
    const { selection } = await openWithFallback(['cuda', 'dml', 'cpu'], s.select, s.open);
    expect(selection.attempts.map((a) => [a.provider, a.ok, a.reason?.slice(0, 20)])).toEqual([
      ['cuda', false, 'cuda probe broke'],
      ['dml', false, 'its probe passed, bu'],
      ['cpu', true, undefined],
    ]);
  });

  it('throws the package failure itself when nothing is left to try, on the CPU, or when it is not a provider failure', async () => {
    const last = setup(['cuda'], { cuda: sessionFailed('cuda') });
    await expect(openWithFallback(['cuda'], last.select, last.open)).rejects.toMatchObject({
      code: 'SESSION_CREATE_FAILED',
    });
    const cpu = setup(['cpu'], { cpu: sessionFailed('cpu') });
    await expect(openWithFallback(['cpu', 'cuda'], cpu.select, cpu.open)).rejects.toMatchObject({
      code: 'SESSION_CREATE_FAILED',
    });
    expect(cpu.opened).toEqual(['cpu']);
    const unreadable = new PackageError('PACKAGE_FILE_MISSING', 'pieces/p0.onnx is missing', {});
    const pkg = setup(['cuda', 'cpu'], { cuda: unreadable });
    await expect(openWithFallback(['cuda', 'cpu'], pkg.select, pkg.open)).rejects.toBe(unreadable);
    expect(pkg.opened).toEqual(['cuda']);
  });

  it('names every failure when no provider after the failed one works', async () => {
    const s = setup(['cuda'], { cuda: sessionFailed('cuda') });
    const err = await openWithFallback(['cuda', 'dml'], s.select, s.open).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeError);
    expect(err).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', option: 'providers' });
    expect((err as ProviderUnavailableError).attempts.map((a) => [a.provider, a.ok])).toEqual([
      ['cuda', false],
      ['dml', false],
    ]);
    expect((err as Error).message).toMatch(
      /^none of the requested execution providers can be used: cuda: its probe passed, but the package failed on it: .*out of memory; dml: dml probe broke \(option providers\)/,
    );
  });
});

describe('probing real providers', () => {
  it("falls back from 'cuda' to 'cpu' where the CUDA libraries are missing, saying why", async () => {
    const sel = await probeProviders(['cuda', 'cpu'], workerFile);
    if (sel.provider === 'cuda') return; // a machine with CUDA installed: nothing to fall back from
    expect(sel.provider).toBe('cpu');
    expect(sel.attempts).toHaveLength(2);
    expect(sel.attempts[0]).toMatchObject({ provider: 'cuda', ok: false });
    expect(sel.attempts[0]?.reason).toMatch(/cuda/i);
    expect(sel.attempts[1]).toEqual({ provider: 'cpu', ok: true });
  });

  it('throws PROVIDER_UNAVAILABLE when only providers missing from this binary are asked for', async () => {
    const inBinary = await backendNames();
    const missing = PROVIDER_NAMES.filter((n) => !inBinary.includes(n));
    expect(missing.length).toBeGreaterThan(0);
    await expect(probeProviders(missing, workerFile)).rejects.toMatchObject({
      code: 'PROVIDER_UNAVAILABLE',
      message: expect.stringContaining(`${missing[0]}: not in this platform's onnxruntime-node binary`),
    });
  });

  it('needs no probe when cpu comes first', async () => {
    const sel = await probeProviders(['cpu', 'cuda'], () => Promise.reject(new Error('must not be called')));
    expect(sel).toEqual({ provider: 'cpu', attempts: [{ provider: 'cpu', ok: true }] });
  });
});

describe('cleanNativeText', () => {
  it('strips colour codes, log prefixes and source locations', () => {
    const raw =
      '\u001b[1;31m2026-01-01 10:00:00.1 [E:onnxruntime:onnxruntime-node, provider_bridge_ort.cc:2146 Create] /src/x.cc:1988 Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library libx.so\u001b[m\n' +
      "Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file\n    at operator() (/build/BackendVk.cpp:368)\n";
    expect(cleanNativeText(raw)).toBe(
      "Failed to load library libx.so | Warning: Couldn't load Vulkan: libvulkan.so.1: cannot open shared object file",
    );
  });
});
