/**
 * Type tests of the public surface (`src/index.ts`, what `dist/index.d.ts` is built from): run by
 * vitest's typecheck mode, so a type that drifts fails `npm test`.
 */
import { describe, expectTypeOf, it } from 'vitest';
import {
  isStitchnetError,
  ManualSource,
  type PushSource,
  type StitchRuntime,
  type StitchnetError,
  type ClassifyOptions,
  type ClassifyResult,
  type ImageInput,
  type Limits,
  type Manifest,
  type Profile,
  type ProfileInput,
  type ProviderName,
  type RunInput,
  type RunOptions,
  type RunResult,
  type ScoredLabel,
  type SignalName,
  type SignalValues,
  type StitchRuntimeOptions,
  type StitchnetErrorCode,
  type TensorInput,
  type When,
} from '../../src/index.js';

describe('run, classify and their inputs', () => {
  it('run() takes tensors and raw images, one or a batch', () => {
    expectTypeOf<Float32Array>().toMatchTypeOf<RunInput>();
    expectTypeOf<{ data: Float32Array; dims: number[] }>().toMatchTypeOf<RunInput>();
    expectTypeOf<{ pixels: Uint8Array; width: number; height: number; channels: number }>().toMatchTypeOf<RunInput>();
    expectTypeOf<{
      pixels: Uint8ClampedArray;
      width: number;
      height: number;
      channels: number;
      layout: 'chw';
    }>().toMatchTypeOf<ImageInput>();
    expectTypeOf<ImageInput[]>().toMatchTypeOf<RunInput>();
    expectTypeOf<TensorInput>().toMatchTypeOf<RunInput>();
    expectTypeOf<{
      pixels: Float32Array;
      width: number;
      height: number;
      channels: number;
    }>().not.toMatchTypeOf<ImageInput>();
    expectTypeOf<Uint8Array>().not.toMatchTypeOf<RunInput>();
    expectTypeOf<StitchRuntime['run']>().parameter(0).toEqualTypeOf<RunInput>();
    expectTypeOf<StitchRuntime['run']>().returns.resolves.toEqualTypeOf<RunResult>();
  });

  it('RunResult.provider is a ProviderName, as rt.provider', () => {
    expectTypeOf<RunResult['provider']>().toEqualTypeOf<ProviderName>();
    expectTypeOf<StitchRuntime['provider']>().toEqualTypeOf<ProviderName>();
    expectTypeOf<ProviderName>().toEqualTypeOf<'cuda' | 'tensorrt' | 'dml' | 'webgpu' | 'coreml' | 'cpu'>();
  });

  it('classify() gives labels for the first sample and one list per sample', () => {
    expectTypeOf<StitchRuntime['classify']>().parameter(1).toEqualTypeOf<ClassifyOptions | undefined>();
    expectTypeOf<StitchRuntime['classify']>().returns.resolves.toEqualTypeOf<ClassifyResult>();
    expectTypeOf<ClassifyResult['labels']>().toEqualTypeOf<ScoredLabel[]>();
    expectTypeOf<ClassifyResult['images']>().toEqualTypeOf<ScoredLabel[][]>();
    expectTypeOf<ScoredLabel>().toEqualTypeOf<{ label: string; index: number; score: number }>();
    expectTypeOf<ClassifyOptions['topK']>().toEqualTypeOf<number | undefined>();
  });

  it('create() and run() take an AbortSignal', () => {
    expectTypeOf<StitchRuntimeOptions['signal']>().toEqualTypeOf<AbortSignal | undefined>();
    expectTypeOf<RunOptions['signal']>().toEqualTypeOf<AbortSignal | undefined>();
    expectTypeOf<ClassifyOptions>().toMatchTypeOf<RunOptions>();
  });
});

describe('typed signal names', () => {
  it('SignalName is the built-in names plus app.<name>', () => {
    expectTypeOf<'battery.percent'>().toMatchTypeOf<SignalName>();
    expectTypeOf<'inference.slowdown'>().toMatchTypeOf<SignalName>();
    expectTypeOf<'app.frameDeadlineMs'>().toMatchTypeOf<SignalName>();
    expectTypeOf<'battery.pct'>().not.toMatchTypeOf<SignalName>();
    expectTypeOf<'frameDeadlineMs'>().not.toMatchTypeOf<SignalName>();
  });

  it('rules take conditions of each signal kind', () => {
    expectTypeOf<{ 'battery.percent': { below: 20 }; 'battery.charging': false }>().toMatchTypeOf<When>();
    expectTypeOf<{ any: [{ 'thermal.cpuC': { above: 80 } }, { 'app.hot': true }] }>().toMatchTypeOf<When>();
    expectTypeOf<{ 'battery.charging': { below: 1 } }>().not.toMatchTypeOf<When>();
    expectTypeOf<{ 'cpu.load': true }>().not.toMatchTypeOf<When>();
    const when: When = { 'battery.percent': { below: 20 } };
    // @ts-expect-error an unknown signal
    const bad: When = { 'battery.pct': { below: 20 } };
    expectTypeOf(when).toEqualTypeOf(bad);
  });

  it('ManualSource takes typed readings', () => {
    const m = new ManualSource('app');
    expectTypeOf(m.set).parameter(0).toEqualTypeOf<SignalValues>();
    expectTypeOf<{ 'battery.percent': 50; 'battery.charging': null; 'app.queue': 3 }>().toMatchTypeOf<SignalValues>();
    expectTypeOf<{ 'battery.percent': true }>().not.toMatchTypeOf<SignalValues>();
    // @ts-expect-error not a signal name
    m.set({ battery: 50 });
    // @ts-expect-error a boolean signal
    m.set({ 'battery.charging': 1 });
    expectTypeOf(m.mark).parameter(0).toEqualTypeOf<readonly SignalName[]>();
    expectTypeOf(m).toMatchTypeOf<PushSource>();
  });
});

describe('errors and plain types', () => {
  it('isStitchnetError narrows to StitchnetError with its code', () => {
    const e: unknown = new Error('x');
    if (isStitchnetError(e)) expectTypeOf(e.code).toEqualTypeOf<StitchnetErrorCode>();
    expectTypeOf<'ABORTED'>().toMatchTypeOf<StitchnetErrorCode>();
    expectTypeOf<StitchnetError['hint']>().toEqualTypeOf<string | undefined>();
  });

  it('profile and manifest types are plain objects', () => {
    expectTypeOf<Profile['limits']>().toEqualTypeOf<Limits>();
    expectTypeOf<Profile['objective']>().toEqualTypeOf<'max-accuracy' | 'min-cost'>();
    expectTypeOf<{
      name: 'p';
      rules: [{ name: 'low'; when: { 'battery.percent': { below: 20 } }; limit: { maxCostFraction: 0.5 } }];
    }>().toMatchTypeOf<ProfileInput>();
    expectTypeOf<Manifest['output']['labels']>().toEqualTypeOf<string[] | undefined>();
    expectTypeOf<NonNullable<Manifest['preprocess']>['layout']>().toEqualTypeOf<'NCHW' | 'NHWC'>();
  });
});
