/**
 * The stitch catalog: what the policy needs to know about a package's stitches (cost, accuracy,
 * profiled latency, frontier), built once from the manifest so that decisions never touch files.
 */
import { PackageError } from '../errors.js';
import type { Manifest, Stitch } from '../package/schema.js';

/** Profiled latency of one stitch on one provider and batch size. */
export interface CatalogLatency {
  readonly p50Ms: number;
  readonly p95Ms: number;
}

/**
 * Where a latency figure comes from: `device` — measured on this device (the runtime's
 * calibration); `predicted` — estimated for this device from the stitches measured on it (a fit
 * on MACs); `package` — the build machine's figure in the package (the fallback).
 */
export type LatencySource = 'device' | 'predicted' | 'package';

/** A stitch's median latency and where the figure comes from. */
export interface SourcedLatency {
  readonly ms: number;
  readonly source: LatencySource;
}

/**
 * This device's latencies, as the runtime's calibration measured (or predicted) them. The policy
 * reads it at every decision, so stitches calibrated later (lazily) count from then on.
 */
export interface DeviceLatencyTable {
  /** The execution provider the figures are for. */
  readonly provider: string;
  /** Median latency of `stitch` at `batch` (ms) and its source, or `undefined` when there is none for that batch. */
  latency(stitch: number, batch: number): SourcedLatency | undefined;
}

/** One stitch as the policy sees it. */
export interface CatalogStitch {
  readonly id: number;
  /** Multiply-accumulates per sample. */
  readonly macs: number;
  readonly params: number | undefined;
  /** Accuracy on the package's evaluation set, 0..1, where measured. */
  readonly accuracy: number | undefined;
  /** `macs` ÷ the MACs of the most expensive stitch, in (0, 1]. */
  readonly costFraction: number;
  /** `latency[provider][batch]`, where profiled. */
  readonly latency: Readonly<Record<string, Readonly<Record<string, CatalogLatency>>>>;
}

/** The stitches of a package, indexed for decisions. */
export interface StitchCatalog {
  readonly stitches: ReadonlyMap<number, CatalogStitch>;
  /** The default candidates, cheapest first: the package's Pareto frontier, or every stitch if it has none. */
  readonly frontier: readonly number[];
  /** Every stitch id from cheapest to costliest (ties: less accurate first, then by id). */
  readonly byCost: readonly number[];
  /** Position of each id in {@link byCost}; a switch to a lower rank is a degrade. */
  readonly rank: ReadonlyMap<number, number>;
  /** MACs of the most expensive stitch. */
  readonly maxMacs: number;
  /** Providers for which at least one stitch has a latency profile. */
  readonly providers: readonly string[];
  /** This device's latencies (they take precedence over the package's for their provider), if calibrated. */
  readonly device?: DeviceLatencyTable | undefined;
}

/** Options of {@link catalogFromManifest}. */
export interface CatalogOptions {
  /** This device's latencies (see {@link StitchCatalog.device}). */
  readonly device?: DeviceLatencyTable | undefined;
}

/** The stitch fields the catalog reads; a manifest's stitches have them. */
export type CatalogStitchInput = Pick<Stitch, 'id' | 'macs' | 'params' | 'accuracy' | 'latency'>;

/**
 * Builds the catalog from a manifest (or any object with `stitches` and `frontier`). Throws a
 * {@link PackageError} when a stitch has no MACs (the policy cannot rank it), an id repeats, or
 * the frontier names an unknown stitch.
 */
export function catalogFromManifest(
  manifest:
    | { readonly stitches: readonly CatalogStitchInput[]; readonly frontier?: readonly number[] | undefined }
    | Pick<Manifest, 'stitches' | 'frontier'>,
  options: CatalogOptions = {},
): StitchCatalog {
  const inputs = manifest.stitches;
  if (inputs.length === 0) {
    throw new PackageError('PACKAGE_MANIFEST_INVALID', 'The package has no stitches', {
      field: 'stitches',
      hint: 'Rebuild the package',
    });
  }
  let maxMacs = 0;
  inputs.forEach((s, i) => {
    if (s.macs === undefined || !(s.macs > 0)) {
      throw new PackageError('PACKAGE_MANIFEST_INVALID', `Stitch ${s.id} has no cost (macs)`, {
        field: `stitches[${i}].macs`,
        hint: 'The policy ranks stitches by MACs: rebuild the package so that every stitch is measured',
      });
    }
    maxMacs = Math.max(maxMacs, s.macs);
  });
  const stitches = new Map<number, CatalogStitch>();
  const providers = new Set<string>();
  inputs.forEach((s, i) => {
    if (stitches.has(s.id))
      throw new PackageError('PACKAGE_MANIFEST_INVALID', `Stitch id ${s.id} appears twice`, {
        field: `stitches[${i}].id`,
      });
    const latency: Record<string, Record<string, CatalogLatency>> = {};
    for (const [provider, byBatch] of Object.entries(s.latency ?? {})) {
      latency[provider] = Object.fromEntries(
        Object.entries(byBatch).map(([b, l]) => [b, { p50Ms: l.p50Ms, p95Ms: l.p95Ms }]),
      );
      if (Object.keys(byBatch).length > 0) providers.add(provider);
    }
    const macs = s.macs as number;
    stitches.set(s.id, {
      id: s.id,
      macs,
      params: s.params,
      accuracy: s.accuracy,
      costFraction: macs / maxMacs,
      latency,
    });
  });
  const byCost = [...stitches.values()]
    .sort((a, b) => a.macs - b.macs || (a.accuracy ?? -1) - (b.accuracy ?? -1) || a.id - b.id)
    .map((s) => s.id);
  const rank = new Map(byCost.map((id, i) => [id, i]));
  const declared = manifest.frontier ?? [];
  declared.forEach((id, i) => {
    if (!stitches.has(id)) {
      throw new PackageError('PACKAGE_MANIFEST_INVALID', `The frontier names stitch ${id}, which does not exist`, {
        field: `frontier[${i}]`,
        validValues: byCost,
      });
    }
  });
  const frontier = declared.length > 0 ? [...declared].sort((a, b) => (rank.get(a) ?? 0) - (rank.get(b) ?? 0)) : byCost;
  const device = options.device;
  if (device && !providers.has(device.provider)) providers.add(device.provider);
  return { stitches, frontier, byCost, rank, maxMacs, providers: [...providers], device };
}

/**
 * The median latency of a stitch on `provider` at `batch` with its source: this device's figure
 * (measured, else predicted) when the catalog has one for that provider and batch, else the
 * package's ({@link profiledLatencyMs}); `undefined` when there is neither.
 */
export function stitchLatency(
  catalog: StitchCatalog,
  stitch: number,
  provider: string,
  batch = 1,
): SourcedLatency | undefined {
  const device = catalog.device?.provider === provider ? catalog.device.latency(stitch, batch) : undefined;
  if (device) return device;
  const ms = profiledLatencyMs(catalog, stitch, provider, batch);
  return ms === undefined ? undefined : { ms, source: 'package' };
}

/**
 * The profiled median latency of a stitch on `provider` at `batch`, ms: the exact batch size if
 * profiled, else the nearest profiled one; `undefined` if that provider was never profiled.
 */
export function profiledLatencyMs(
  catalog: StitchCatalog,
  stitch: number,
  provider: string,
  batch = 1,
): number | undefined {
  const byBatch = catalog.stitches.get(stitch)?.latency[provider];
  if (!byBatch) return undefined;
  const exact = byBatch[String(batch)];
  if (exact) return exact.p50Ms;
  let best: CatalogLatency | undefined;
  let bestGap = Infinity;
  for (const [b, l] of Object.entries(byBatch)) {
    const gap = Math.abs(Number(b) - batch);
    if (gap < bestGap) [best, bestGap] = [l, gap];
  }
  return best?.p50Ms;
}
