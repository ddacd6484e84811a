import { describe, expect, it } from 'vitest';
import { PackageError } from '../../src/errors.js';
import {
  catalogFromManifest,
  profiledLatencyMs,
  stitchLatency,
  type DeviceLatencyTable,
  type SourcedLatency,
} from '../../src/policy/catalog.js';
import { decide } from '../../src/policy/decide.js';
import { profileFromObject } from '../../src/profiles/parse.js';
import type { ProfileInput } from '../../src/profiles/schema.js';
import { catalogOf, deviceState } from '../../src/testing/index.js';

const catalog = catalogOf([
  { id: 0, macs: 1e6, accuracy: 0.7, latencyMs: 2 },
  { id: 1, macs: 2e6, accuracy: 0.78, latencyMs: 4 },
  { id: 2, macs: 4e6, accuracy: 0.84, latencyMs: 8 },
  { id: 3, macs: 6e6, accuracy: 0.88, latencyMs: 12 },
  { id: 4, macs: 10e6, accuracy: 0.9, latencyMs: 20 },
]);
const profile = (p: ProfileInput) => profileFromObject(p);

const lowBattery: ProfileInput = {
  rules: [
    {
      name: 'low-battery',
      when: { 'battery.percent': { below: 30 }, 'battery.charging': false },
      limit: { maxCostFraction: 0.6 },
    },
    { name: 'critical', when: { 'battery.percent': { below: 15 } }, limit: { maxCostFraction: 0.3 } },
    {
      name: 'hot',
      when: { any: [{ 'thermal.cpuC': { above: 85 } }, { 'thermal.gpuC': { above: 80 } }] },
      limit: { maxCostFraction: 0.5 },
    },
  ],
  switching: { hysteresis: { 'battery.percent': 3 } },
};

describe("decide on this device's latencies", () => {
  // This device is 2× slower than the build machine on stitches 0–2 (measured), stitch 3 is
  // predicted, stitch 4 has no figure of this device (the package's applies).
  const figures = new Map<number, SourcedLatency>([
    [0, { ms: 4, source: 'device' }],
    [1, { ms: 8, source: 'device' }],
    [2, { ms: 16, source: 'device' }],
    [3, { ms: 11, source: 'predicted' }],
  ]);
  const device: DeviceLatencyTable = {
    provider: 'cpu',
    latency: (id, batch) => (batch === 1 ? figures.get(id) : undefined),
  };
  const onDevice = catalogFromManifest(
    {
      stitches: [...catalog.stitches.values()].map((s) => ({
        ...s,
        latency: { cpu: { '1': { ...s.latency.cpu?.['1'], device: 'build', at: '' } as never } },
      })),
    },
    { device },
  );

  it("takes each stitch's latency from the device, else the prediction, else the package, and names the source", () => {
    expect(stitchLatency(onDevice, 1, 'cpu')).toEqual({ ms: 8, source: 'device' });
    expect(stitchLatency(onDevice, 3, 'cpu')).toEqual({ ms: 11, source: 'predicted' });
    expect(stitchLatency(onDevice, 4, 'cpu')).toEqual({ ms: 20, source: 'package' });
    expect(stitchLatency(onDevice, 1, 'cpu', 8)).toEqual({ ms: 4, source: 'package' });
    // The device's figures are for the provider they were measured on.
    expect(stitchLatency({ ...onDevice, device: { ...device, provider: 'cuda' } }, 1, 'cpu')).toEqual({
      ms: 4,
      source: 'package',
    });
  });

  it("applies maxLatencyMs to this device's figures and says which source the choice used", () => {
    const p = profile({ limits: { maxLatencyMs: 9 } });
    const d = decide(deviceState({}), p, onDevice, { provider: 'cpu' });
    // On the package's figures stitch 2 (8 ms) would pass; here it takes 16 ms.
    expect(decide(deviceState({}), p, catalog, { provider: 'cpu' }).stitch).toBe(2);
    expect(d.stitch).toBe(1);
    expect(d.reason.latencySource).toBe('device');
    expect(d.reason.summary).toContain('latency ≤ 9 ms at slowdown 1× on device latencies (limits)');
    const predicted = decide(deviceState({}), profile({ limits: { maxLatencyMs: 13 } }), onDevice, { provider: 'cpu' });
    expect(predicted).toMatchObject({ stitch: 3, reason: { latencySource: 'predicted' } });
    expect(predicted.reason.summary).toContain('on predicted latencies');
    const fallback = decide(deviceState({}), profile({ limits: { maxLatencyMs: 100 } }), onDevice, { provider: 'cpu' });
    expect(fallback).toMatchObject({ stitch: 4, reason: { latencySource: 'package' } });
  });
});

describe('decide', () => {
  it('takes the most accurate frontier stitch when no rule matches', () => {
    const d = decide(
      deviceState({ 'battery.percent': 80, 'battery.charging': false }, 1000),
      profile(lowBattery),
      catalog,
    );
    expect(d).toMatchObject({ at: 1000, stitch: 4, objective: 'max-accuracy', limits: {} });
    expect(d.reason).toMatchObject({ rules: [], overBudget: false, unmet: [], feasible: [0, 1, 2, 3, 4], slowdown: 1 });
    expect(d.reason.summary).toContain('no rule matched');
  });

  it('applies every matching rule, the strictest limit winning, and names the readings', () => {
    const d = decide(
      deviceState({ 'battery.percent': 12, 'battery.charging': false, 'thermal.cpuC': 90 }),
      profile(lowBattery),
      catalog,
    );
    expect(d.stitch).toBe(1);
    expect(d.limits).toEqual({ maxCostFraction: 0.3 });
    expect(d.reason.limitSources).toEqual({ maxCostFraction: 'critical' });
    expect(d.reason.rules.map((r) => r.name)).toEqual(['low-battery', 'critical', 'hot']);
    expect(d.reason.rules[0]?.readings).toEqual([
      { signal: 'battery.percent', value: 12, quality: 'ok', test: 'below 30', relaxed: false },
      { signal: 'battery.charging', value: false, quality: 'ok', test: 'equals false', relaxed: false },
    ]);
    // Only the branch of "any" that held is cited.
    expect(d.reason.rules[2]?.readings.map((r) => r.signal)).toEqual(['thermal.cpuC']);
    expect(d.reason.summary).toContain('battery.percent=12 below 30');
  });

  it('does not match a condition on an unavailable signal, unless the rule says so', () => {
    const state = deviceState({ 'battery.percent': undefined });
    const skip = decide(state, profile(lowBattery), catalog);
    expect(skip.reason.rules).toEqual([]);
    expect(skip.reason.unavailable).toEqual(
      expect.arrayContaining(['battery.percent', 'battery.charging', 'thermal.cpuC', 'thermal.gpuC']),
    );
    const cautious = decide(
      state,
      profile({
        rules: [
          { name: 'blind', unavailable: 'match', when: { 'thermal.cpuC': { below: 80 } }, limit: { maxMacs: 2e6 } },
        ],
      }),
      catalog,
    );
    expect(cautious.stitch).toBe(1);
    expect(cautious.reason.rules[0]?.readings[0]).toMatchObject({
      signal: 'thermal.cpuC',
      value: undefined,
      quality: 'unavailable',
    });
  });

  it('keeps a matched rule matching until the reading is past the threshold by the margin', () => {
    const p = profile(lowBattery);
    const at = (pct: number, held: string[]) =>
      decide(deviceState({ 'battery.percent': pct, 'battery.charging': false }), p, catalog, { held }).reason.rules.map(
        (r) => [r.name, r.held],
      );
    expect(at(31, [])).toEqual([]);
    expect(at(31, ['low-battery'])).toEqual([['low-battery', true]]);
    expect(at(32.9, ['low-battery'])).toEqual([['low-battery', true]]);
    expect(at(33, ['low-battery'])).toEqual([]);
    expect(at(29, ['low-battery'])).toEqual([['low-battery', false]]);
  });

  it('uses a per-condition margin over the profile table', () => {
    const p = profile({
      rules: [{ name: 'hot', when: { 'thermal.cpuC': { above: 85, margin: 10 } }, limit: { maxMacs: 1e6 } }],
      switching: { hysteresis: { 'thermal.cpuC': 1 } },
    });
    expect(decide(deviceState({ 'thermal.cpuC': 76 }), p, catalog, { held: ['hot'] }).stitch).toBe(0);
    expect(decide(deviceState({ 'thermal.cpuC': 75 }), p, catalog, { held: ['hot'] }).stitch).toBe(4);
  });

  it('min-cost picks the cheapest stitch above the accuracy floor', () => {
    const d = decide(deviceState({}), profile({ objective: 'min-cost', limits: { minAccuracy: 0.8 } }), catalog);
    expect(d.stitch).toBe(2);
    expect(d.reason.feasible).toEqual([2, 3, 4]);
    expect(d.reason.limitSources).toEqual({ minAccuracy: 'limits' });
  });

  it('takes the cheapest stitch, flagged over budget, when no stitch meets every limit', () => {
    const d = decide(deviceState({}), profile({ limits: { minAccuracy: 0.85, maxMacs: 3e6 } }), catalog);
    expect(d.stitch).toBe(0);
    expect(d.reason.overBudget).toBe(true);
    expect(d.reason.unmet).toEqual(['minAccuracy']);
    expect(d.reason.summary).toContain('over budget');
  });

  it('compares latency limits with profiled latency × observed slowdown', () => {
    const p = profile({ limits: { maxLatencyMs: 13 } });
    expect(decide(deviceState({}), p, catalog).stitch).toBe(3);
    const slowed = decide(deviceState({ 'inference.slowdown': 2 }), p, catalog);
    expect(slowed.stitch).toBe(1);
    expect(slowed.reason.slowdown).toBe(2);
    expect(decide(deviceState({ 'inference.slowdown': 10 }), p, catalog).reason).toMatchObject({
      overBudget: true,
      unmet: ['maxLatencyMs'],
    });
  });

  it('treats a stitch without a latency profile for the provider as not meeting a latency limit', () => {
    const p = profile({ limits: { maxLatencyMs: 100, provider: 'cuda' } });
    const d = decide(deviceState({}), p, catalog, { provider: 'cpu' });
    expect(d.limits.provider).toEqual(['cuda']);
    expect(d.reason.latencyProvider).toBe('cuda');
    expect(d.reason).toMatchObject({ overBudget: true, unmet: ['maxLatencyMs'] });
  });

  it('carries the provider limit, intersecting those of several rules', () => {
    const p = profile({
      limits: { provider: ['cuda', 'webgpu', 'cpu'] },
      rules: [
        { name: 'battery', when: { 'battery.charging': false }, limit: { provider: ['webgpu', 'cpu'] } },
        { name: 'conflict', when: { 'battery.charging': false }, limit: { provider: 'coreml' } },
      ],
    });
    const d = decide(deviceState({ 'battery.charging': false }), p, catalog, { provider: 'cpu' });
    expect(d.limits.provider).toEqual(['webgpu', 'cpu']);
    expect(d.reason.limitSources.provider).toBe('limits+battery');
    expect(d.reason.latencyProvider).toBe('cpu');
  });

  it('restricts the candidates to the allowed stitches', () => {
    const d = decide(deviceState({}), profile({ limits: { stitches: [1, 2, 99] } }), catalog);
    expect(d.stitch).toBe(2);
    expect(d.reason.feasible).toEqual([1, 2]);
  });

  it('prefers the current stitch among equally good ones, then the lowest id', () => {
    const twins = catalogOf([
      { id: 0, macs: 1, accuracy: 0.5 },
      { id: 1, macs: 2, accuracy: 0.9 },
      { id: 2, macs: 2, accuracy: 0.9 },
    ]);
    expect(decide(deviceState({}), profile({}), twins).stitch).toBe(1);
    expect(decide(deviceState({}), profile({}), twins, { current: 2 }).stitch).toBe(2);
  });

  it('ranks by cost where the package has no accuracy figures', () => {
    const unmeasured = catalogOf([
      { id: 0, macs: 1 },
      { id: 1, macs: 3 },
      { id: 2, macs: 2 },
    ]);
    expect(decide(deviceState({}), profile({}), unmeasured).stitch).toBe(1);
    expect(decide(deviceState({}), profile({ limits: { maxCostFraction: 0.7 } }), unmeasured).stitch).toBe(2);
  });

  it('matches application signals and nested groups', () => {
    const p = profile({
      rules: [
        {
          name: 'deadline',
          when: {
            all: [{ 'app.frameDeadlineMs': { below: 20 } }],
            any: [{ 'cpu.load': { between: [50, 100] } }, { 'app.pinned': true }],
          },
          limit: { maxLatencyMs: 5 },
        },
      ],
    });
    expect(decide(deviceState({ 'app.frameDeadlineMs': 16, 'cpu.load': 10 }), p, catalog).stitch).toBe(4);
    expect(decide(deviceState({ 'app.frameDeadlineMs': 16, 'app.pinned': true }), p, catalog).stitch).toBe(1);
    expect(
      decide(deviceState({ 'app.frameDeadlineMs': 16, 'cpu.load': 75 }), p, catalog).reason.rules[0]?.readings.map(
        (r) => r.signal,
      ),
    ).toEqual(['app.frameDeadlineMs', 'cpu.load']);
  });
});

describe('catalogFromManifest', () => {
  it('orders the frontier cheapest first and computes cost fractions', () => {
    const c = catalogFromManifest({
      stitches: [
        {
          id: 0,
          macs: 10,
          accuracy: 0.9,
          params: 1,
          latency: {
            cpu: {
              '1': { p50Ms: 5, p95Ms: 6, device: 'x', at: '' },
              '8': { p50Ms: 20, p95Ms: 25, device: 'x', at: '' },
            },
          },
        },
        { id: 1, macs: 2, accuracy: 0.7, params: 1, latency: undefined },
        { id: 2, macs: 5, accuracy: 0.6, params: 1, latency: undefined },
      ],
      frontier: [0, 1],
    });
    expect(c.frontier).toEqual([1, 0]);
    expect(c.byCost).toEqual([1, 2, 0]);
    expect(c.stitches.get(1)?.costFraction).toBe(0.2);
    expect(c.providers).toEqual(['cpu']);
    expect(profiledLatencyMs(c, 0, 'cpu', 1)).toBe(5);
    expect(profiledLatencyMs(c, 0, 'cpu', 6)).toBe(20);
    expect(profiledLatencyMs(c, 0, 'cuda', 1)).toBeUndefined();
  });

  it('rejects stitches without cost, repeated ids and unknown frontier ids', () => {
    expect(() =>
      catalogFromManifest({ stitches: [{ id: 0, macs: undefined, params: 1, accuracy: 1, latency: undefined }] }),
    ).toThrow(PackageError);
    expect(() =>
      catalogFromManifest({
        stitches: [
          { id: 0, macs: 1, params: 1, accuracy: 1, latency: undefined },
          { id: 0, macs: 2, params: 1, accuracy: 1, latency: undefined },
        ],
      }),
    ).toThrow(/twice/);
    expect(() =>
      catalogFromManifest({
        stitches: [{ id: 0, macs: 1, params: 1, accuracy: 1, latency: undefined }],
        frontier: [3],
      }),
    ).toThrow(/frontier/);
  });
});
