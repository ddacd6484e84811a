/**
 * The fuzz suite: malformed manifests (JSON text and objects), profiles (YAML and JSON text,
 * objects), traces (CSV and JSON text) and API arguments (create, run, setStitch, setProfile).
 * Whatever comes in, only StitchnetErrors with a code and a hint come out, each case within a time
 * bound, and no promise rejection goes unhandled.
 *
 * Seeded. `npm test` runs a few hundred cases per target; `npm run fuzz` runs FUZZ_RUNS (default
 * 5,000) per target, with a random seed unless FUZZ_SEED is set.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isStitchnetError } from '../../src/errors.js';
import { manifestFromText } from '../../src/package/read.js';
import { parseManifest } from '../../src/package/validate.js';
import { parseProfile, profileFromObject, validateProfileText } from '../../src/profiles/parse.js';
import { parseCreateOptions, parseRunOptions } from '../../src/runtime/options-schema.js';
import { StitchRuntime } from '../../src/runtime/stitch-runtime.js';
import { parseTrace } from '../../src/signals/trace.js';
import { sample, useTinyPackage } from '../adaptive/helpers.js';
import { anyValue, mutatedText, mutatedValue } from './arbitraries.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
const SEED =
  process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : process.env.FUZZ_RUNS ? Date.now() : 20261201;
vi.setConfig({ testTimeout: Math.max(60_000, RUNS * 300), hookTimeout: 120_000 });
/** Longest a single case may take, ms (generous: the machine may be busy). */
const CASE_MS = 5000;

const read = (p: string) => readFileSync(path.join(root, p), 'utf8');
const MANIFEST = read('models/fmnist-vit/stitchnet.json');
const PROFILES = ['balanced', 'battery-saver', 'performance', 'thermal-guard'].map((n) => read(`profiles/${n}.yaml`));
const TRACES = ['laptop-unplugged', 'gpu-contention', 'noisy-sensor'].map((n) => read(`examples/traces/${n}.csv`));
const JSON_TRACE = JSON.stringify([
  { t_ms: 0, 'battery.percent': 80, 'battery.charging': false },
  { t_ms: 1000, 'cpu.load': 50, 'app.fps': 30 },
]);

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
process.on('unhandledRejection', onUnhandled);
afterAll(() => {
  process.off('unhandledRejection', onUnhandled);
  expect(unhandled).toEqual([]);
});

/** What a case produced that breaks the rule, or undefined. */
function badOutcome(e: unknown): string | undefined {
  if (!isStitchnetError(e))
    return `not a StitchnetError: ${e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e)}`;
  if (typeof e.code !== 'string' || e.code.length === 0) return `no code: ${e.message}`;
  if (!e.hint) return `no hint: [${e.code}] ${e.message}`;
  return undefined;
}

/** Runs one case: only StitchnetErrors with code and hint may come out, within the time bound. */
function only(run: () => unknown): void {
  const started = performance.now();
  try {
    run();
  } catch (e) {
    const bad = badOutcome(e);
    if (bad) throw new Error(bad);
  }
  const ms = performance.now() - started;
  if (ms > CASE_MS) throw new Error(`took ${ms.toFixed(0)} ms`);
}

async function onlyAsync(run: () => Promise<unknown>): Promise<void> {
  const started = performance.now();
  try {
    await run();
  } catch (e) {
    const bad = badOutcome(e);
    if (bad) throw new Error(bad);
  }
  const ms = performance.now() - started;
  if (ms > CASE_MS) throw new Error(`took ${ms.toFixed(0)} ms`);
}

const params = { seed: SEED, numRuns: RUNS };
/** JSON text of a generated value (BigInts written as numbers; a value JSON cannot write is null). */
function jsonText(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x)) ?? 'null';
  } catch {
    return 'null';
  }
}
const textOf = (seeds: readonly string[]) =>
  fc.oneof(
    { weight: 4, arbitrary: mutatedText(seeds) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 300 }) },
  );

describe(`fuzz (seed ${SEED}, ${RUNS} runs per target)`, () => {
  it('manifest JSON text', () => {
    fc.assert(
      fc.property(textOf([MANIFEST]), (text) => only(() => manifestFromText(text))),
      params,
    );
  });

  it('manifest objects', () => {
    const manifest = JSON.parse(MANIFEST) as unknown;
    fc.assert(
      fc.property(fc.oneof(mutatedValue(manifest), anyValue()), (value) =>
        only(() => manifestFromText(jsonText(value))),
      ),
      params,
    );
    fc.assert(
      fc.property(fc.oneof(mutatedValue(manifest), anyValue()), (value) => only(() => parseManifest(value))),
      params,
    );
  });

  it('profile YAML and JSON text', () => {
    const seeds = [...PROFILES, ...PROFILES.map((p) => JSON.stringify(profileFromObject(parseProfile(p))))];
    fc.assert(
      fc.property(textOf(seeds), (text) => {
        only(() => {
          const v = validateProfileText(text);
          if (!v.ok && v.issues.some((i) => !i.message)) throw new Error('an issue without a message');
        });
        only(() => parseProfile(text, { file: 'fuzz.yaml' }));
      }),
      params,
    );
  });

  it('profile objects', () => {
    const profile = JSON.parse(JSON.stringify(parseProfile(PROFILES[0] as string))) as unknown;
    fc.assert(
      fc.property(fc.oneof(mutatedValue(profile), anyValue()), (value) => only(() => profileFromObject(value))),
      params,
    );
  });

  it('trace CSV and JSON text', () => {
    fc.assert(
      fc.property(textOf([...TRACES, JSON_TRACE]), fc.constantFrom('t.csv', 't.json', undefined), (text, file) =>
        only(() => parseTrace(text, file === undefined ? {} : { file })),
      ),
      params,
    );
  });

  it('create() and run() options', () => {
    const valid = {
      model: 'models/fmnist-vit',
      providers: ['cpu'],
      worker: false,
      fastPath: { afterRuns: 3 },
      threads: { intraOp: 1 },
      calibrate: 'auto',
      signals: [],
    };
    fc.assert(
      fc.property(fc.oneof(mutatedValue(valid), anyValue()), (value) => only(() => parseCreateOptions(value))),
      params,
    );
    fc.assert(
      fc.property(fc.oneof(mutatedValue({ stitch: 1, checkFinite: false }), anyValue()), (value) =>
        only(() => parseRunOptions(value)),
      ),
      params,
    );
  });

  describe('a runtime', () => {
    const tiny = useTinyPackage();
    let rt: StitchRuntime;
    beforeAll(async () => {
      rt = await StitchRuntime.create({
        model: tiny.pkg,
        providers: ['cpu'],
        worker: false,
        fastPath: false,
        systemSource: false,
        watchProfile: false,
      });
    });
    afterAll(async () => {
      await rt.close();
    });

    it('setStitch, pin and setProfile', () => {
      const profile = JSON.parse(JSON.stringify(parseProfile(PROFILES[1] as string))) as unknown;
      fc.assert(
        fc.property(anyValue(), fc.oneof(mutatedValue(profile), anyValue(), mutatedText(PROFILES)), (id, p) => {
          only(() => rt.setStitch(id as number));
          only(() => rt.pin(id as number));
          only(() => rt.unpin());
          only(() => rt.setProfile(p as never));
        }),
        params,
      );
    });

    it('run() inputs and options', async () => {
      const good = sample(tiny.pkg);
      const input = fc.oneof(
        anyValue(),
        fc.float32Array({ maxLength: good.length * 2 }),
        fc.tuple(fc.nat(good.length - 1), fc.constantFrom(Number.NaN, Infinity, -Infinity)).map(([i, v]) => {
          const x = good.slice();
          x[i] = v;
          return x;
        }),
        fc.record({
          data: fc.float32Array({ maxLength: 64 }),
          dims: fc.array(fc.integer({ min: -2, max: 20 }), { maxLength: 5 }),
        }),
      );
      await fc.assert(
        fc.asyncProperty(
          input,
          fc.oneof(fc.constant(undefined), mutatedValue({ stitch: 0, checkFinite: true }), anyValue()),
          (x, opts) => onlyAsync(() => rt.run(x as Float32Array, opts as never)),
        ),
        { ...params, numRuns: Math.max(20, Math.round(RUNS / 3)) },
      );
    });

    it('create() with arbitrary options', async () => {
      const opts = fc.oneof(
        anyValue(),
        mutatedValue({ model: 'no/such/package', worker: false, providers: ['cpu'] }),
        fc.record({ model: anyValue() }),
      );
      await fc.assert(
        fc.asyncProperty(opts, (o) =>
          onlyAsync(async () => {
            const made = await StitchRuntime.create(o as never);
            await made.close();
          }),
        ),
        { ...params, numRuns: Math.max(20, Math.round(RUNS / 3)) },
      );
    });
  });
});
