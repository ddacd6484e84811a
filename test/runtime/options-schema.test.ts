/**
 * The option schemas of create() and run(): wrong types and unknown keys are refused with the
 * option's name and a did-you-mean; the non-finite input check.
 */
import { asyncScheduler, NEVER } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { checkInput, firstNonFinite } from '../../src/engine/input.js';
import { OptionError } from '../../src/errors.js';
import { parseCreateOptions, parseRunOptions } from '../../src/runtime/options-schema.js';
import { ManualSource } from '../../src/signals/push.js';

function refused(run: () => unknown): OptionError {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(OptionError);
    const err = e as OptionError;
    expect(err.code).toBe('OPTION_INVALID');
    expect(err.hint).toBeTruthy();
    return err;
  }
  throw new Error('expected an OptionError');
}

describe('create() options', () => {
  it('accepts every documented option', () => {
    const opts = {
      model: 'models/fmnist-vit',
      providers: ['cpu'] as const,
      threads: { intraOp: 2, interOp: 1, spinning: false },
      cpuMemArena: false,
      worker: false,
      fastPath: { afterRuns: 5, afterMs: 0, cacheSize: 1, maxRunMs: 10, memoryBudgetMB: 256 },
      stitch: 3,
      now: () => 0,
      calibrate: { batches: [1, 8], rounds: 3, warmup: 1, budgetMs: 1500 },
      cacheDir: '/tmp/x',
      signal: new AbortController().signal,
      profile: { objective: 'min-cost' as const },
      watchProfile: { debounceMs: 10, changes: NEVER, read: () => '' },
      signals: [new ManualSource()],
      systemSource: false as const,
      scheduler: asyncScheduler,
    };
    expect(parseCreateOptions(opts)).toEqual(opts);
    expect(parseCreateOptions({ model: 'm', calibrate: 'auto', fastPath: false })).toMatchObject({
      calibrate: 'auto',
      fastPath: false,
    });
    expect(parseCreateOptions({ model: 'm', calibrate: false }).calibrate).toBe(false);
  });

  it("refuses worker: 'false' (a string) naming the option", () => {
    const e = refused(() => parseCreateOptions({ model: 'm', worker: 'false' }));
    expect(e.option).toBe('worker');
    expect(e.message).toMatch(/worker must be a boolean, got "false"/);
  });

  it('refuses an unknown key with a did-you-mean and the valid keys', () => {
    const e = refused(() => parseCreateOptions({ model: 'm', provder: ['cpu'] }));
    expect(e.option).toBe('provder');
    expect(e.message).toMatch(/Unknown option "provder"; did you mean "providers"\?/);
    expect(e.validValues).toContain('providers');
    const nested = refused(() => parseCreateOptions({ model: 'm', fastPath: { afterRun: 3 } }));
    expect(nested.option).toBe('fastPath.afterRun');
    expect(nested.message).toMatch(/did you mean "afterRuns"/);
    expect(nested.validValues).toContain('memoryBudgetMB');
    const run = refused(() => parseRunOptions({ stich: 1 }));
    expect(run.message).toMatch(/Unknown option "options.stich"; did you mean "stitch"/);
  });

  it('names nested options and says what they take', () => {
    expect(refused(() => parseCreateOptions({ model: 'm', threads: { intraOp: 0 } })).message).toMatch(
      /threads.intraOp must be > 0, got 0/,
    );
    expect(refused(() => parseCreateOptions({ model: 'm', threads: { interOp: 1.5 } })).option).toBe('threads.interOp');
    expect(refused(() => parseCreateOptions({ model: 'm', fastPath: 'yes' })).message).toMatch(
      /fastPath must be false or an object, got "yes"/,
    );
    expect(refused(() => parseCreateOptions({ model: 'm', fastPath: { memoryBudgetMB: -1 } })).option).toBe(
      'fastPath.memoryBudgetMB',
    );
    const cal = refused(() => parseCreateOptions({ model: 'm', calibrate: 'always' }));
    expect(cal.message).toMatch(/calibrate must be "auto" or false or an object/);
    expect(refused(() => parseCreateOptions({ model: 'm', calibrate: { batches: [0] } })).option).toBe(
      'calibrate.batches[0]',
    );
    expect(refused(() => parseCreateOptions({ model: 'm', cacheDir: 3 })).option).toBe('cacheDir');
    expect(refused(() => parseCreateOptions({ model: 'm', signal: 'stop' })).message).toMatch(
      /signal must be an AbortSignal/,
    );
    expect(refused(() => parseCreateOptions({ model: 'm', stitch: Number.NaN })).option).toBe('stitch');
  });

  it('refuses a model that is neither a path nor a package', () => {
    for (const model of [{}, 3, '', null, { manifest: {} }]) {
      const e = refused(() => parseCreateOptions({ model }));
      expect(e.option).toBe('model');
    }
    expect(refused(() => parseCreateOptions({})).message).toMatch(/model/);
    expect(refused(() => parseCreateOptions(undefined)).option).toBe('options');
    expect(refused(() => parseCreateOptions('models/fmnist-vit')).option).toBe('options');
  });

  it('refuses options that cannot be read (a getter that throws, an exotic prototype)', () => {
    const hostile = Object.defineProperty({ model: 'm' }, 'worker', {
      enumerable: true,
      get: () => {
        throw new Error('no');
      },
    });
    expect(refused(() => parseCreateOptions(hostile)).option).toBe('options');
    expect(refused(() => parseCreateOptions({ model: Object.create(new Float32Array(2)) as unknown })).option).toMatch(
      /^(options|model)$/,
    );
  });

  it('refuses what is not a SignalSource, naming the entry', () => {
    const e = refused(() => parseCreateOptions({ model: 'm', signals: [new ManualSource(), { name: 'x' }] }));
    expect(e.option).toBe('signals[1]');
    expect(e.message).toMatch(/must be a SignalSource/);
    expect(refused(() => parseCreateOptions({ model: 'm', systemSource: true })).option).toBe('systemSource');
    expect(refused(() => parseCreateOptions({ model: 'm', signals: new ManualSource() })).option).toBe('signals');
  });
});

describe('run() options and the finite check', () => {
  const spec = { name: 'input', shape: ['batch', 2, 2], dtype: 'float32' as const };

  it('accepts checkFinite, stitch and signal', () => {
    expect(parseRunOptions(undefined)).toEqual({});
    expect(parseRunOptions({ checkFinite: false, stitch: 2 })).toEqual({ checkFinite: false, stitch: 2 });
    expect(refused(() => parseRunOptions({ checkFinite: 'no' })).option).toBe('options.checkFinite');
    expect(refused(() => parseRunOptions(5)).option).toBe('options');
  });

  it('refuses a NaN or an infinity naming the first bad index, unless told not to check', () => {
    const data = Float32Array.from([0, 1, 2, 3, 4, Number.NaN, 6, Number.POSITIVE_INFINITY]);
    expect(firstNonFinite(data)).toBe(5);
    expect(firstNonFinite(new Float32Array(8))).toBe(-1);
    expect(firstNonFinite(Float32Array.from([Number.NEGATIVE_INFINITY]))).toBe(0);
    expect(() => checkInput(data, spec)).toThrow(
      expect.objectContaining({
        code: 'INPUT_INVALID',
        option: 'input[5]',
        message: expect.stringMatching(/input value \[5\] is NaN/),
      }),
    );
    expect(checkInput(data, spec, { checkFinite: false }).dims).toEqual([2, 2, 2]);
  });
});
