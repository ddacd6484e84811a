/**
 * Checks of a profile against the package it will drive: the stitches and providers it names
 * exist, and its limits can be evaluated with the figures the package has.
 */
import type { ProfileCheckIssue } from '../profiles/parse.js';
import type { Limits, Profile } from '../profiles/schema.js';
import type { StitchCatalog } from './catalog.js';

/** Options of {@link checkProfileForCatalog}. */
export interface CatalogCheckOptions {
  /** Providers the runtime can use here; when given, a limit naming another one is reported. */
  providers?: readonly string[] | undefined;
}

/**
 * Problems of `profile` with this package, located by path. Pass it as the `check` option of
 * `parseProfile` / `loadProfile` / `watchProfile` to get them with file and line:
 *
 * ```ts
 * loadProfile(file, { check: (p) => checkProfileForCatalog(p, catalog) })
 * ```
 */
export function checkProfileForCatalog(
  profile: Profile,
  catalog: StitchCatalog,
  options: CatalogCheckOptions = {},
): ProfileCheckIssue[] {
  const issues: ProfileCheckIssue[] = [];
  const ids = catalog.byCost;
  const hasAccuracy = [...catalog.stitches.values()].some((s) => s.accuracy !== undefined);
  const check = (limits: Limits, at: (string | number)[]) => {
    limits.stitches?.forEach((id, i) => {
      if (!catalog.stitches.has(id)) {
        issues.push({
          path: [...at, 'stitches', i],
          message: `Stitch ${id} does not exist in this package`,
          validValues: ids,
          hint: 'Use the stitch ids listed by "stitchnet inspect"',
        });
      }
    });
    const providers =
      limits.provider === undefined ? [] : typeof limits.provider === 'string' ? [limits.provider] : limits.provider;
    providers.forEach((p, i) => {
      if (options.providers && !options.providers.includes(p)) {
        const path = typeof limits.provider === 'string' ? [...at, 'provider'] : [...at, 'provider', i];
        issues.push({
          path,
          message: `Provider "${p}" is not available here`,
          validValues: options.providers,
          hint: 'Name a provider this machine can load, or list several in order of preference',
        });
      }
    });
    if (limits.minAccuracy !== undefined && !hasAccuracy) {
      issues.push({
        path: [...at, 'minAccuracy'],
        message: 'The package has no accuracy figures, so minAccuracy can never be met',
        hint: 'Rebuild the package with an evaluation set, or drop the limit',
      });
    }
    if (limits.maxLatencyMs !== undefined && catalog.providers.length === 0) {
      issues.push({
        path: [...at, 'maxLatencyMs'],
        message: 'The package has no latency profile, so maxLatencyMs can never be met',
        hint: 'Profile the package on this device (stitchnet bench), or drop the limit',
      });
    }
  };
  check(profile.limits, ['limits']);
  profile.rules.forEach((rule, i) => check(rule.limit, ['rules', i, 'limit']));
  return issues;
}
