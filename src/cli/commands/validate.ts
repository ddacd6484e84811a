/**
 * `stitchnet validate <profile...> [--model dir]`: every problem of a profile, located by file,
 * line and column, with what would have been accepted; with `--model`, also the problems of the
 * profile with that package (unknown stitch ids, limits the package has no figures for) and
 * warnings for limits no stitch can meet.
 *
 * Exit status: 0 when every profile is valid (warnings allowed), 1 when one is not, 2 for bad
 * options.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { isStitchnetError } from '../../errors.js';
import {
  catalogFromManifest,
  checkProfileForCatalog,
  combinedLimits,
  latencyProvider,
  unmetLimits,
  type EffectiveLimits,
  type StitchCatalog,
} from '../../policy/index.js';
import { readPackage } from '../../package/index.js';
import {
  resolveProfileFile,
  validateProfileText,
  type Profile,
  type ProfileCheckIssue,
  type ProfileIssue,
} from '../../profiles/index.js';

interface ValidateCliOptions {
  model?: string;
  json?: boolean;
}

/** The package a profile is checked against. */
export interface ModelCheck {
  dir: string;
  name: string;
  catalog: StitchCatalog;
}

/** One finding, located where the profile text allows. */
export interface Finding {
  severity: 'error' | 'warning';
  line: number | null;
  column: number | null;
  field: string;
  message: string;
  hint: string | null;
  validValues: (string | number)[] | null;
}

/** The verdict on one profile file. */
export interface ProfileReport {
  file: string;
  valid: boolean;
  /** The profile's `name`, when it parsed. */
  name: string | null;
  findings: Finding[];
}

const finding = (severity: Finding['severity'], i: ProfileIssue): Finding => ({
  severity,
  line: i.line ?? null,
  column: i.column ?? null,
  field: i.field,
  message: i.message,
  hint: i.hint ?? null,
  validValues: i.validValues ? [...i.validValues] : null,
});

/**
 * Limits that no stitch of the package can meet (at the profiled latency, no slowdown): the
 * profile's own limits, and each rule's limits together with them. Valid, but the policy will
 * then run the cheapest stitch flagged "over budget", which is worth knowing before shipping.
 */
export function unmeetableLimits(profile: Profile, model: ModelCheck): ProfileCheckIssue[] {
  const { catalog } = model;
  const feasible = (limits: EffectiveLimits) => {
    const allowed = limits.stitches ? catalog.byCost.filter((id) => limits.stitches?.includes(id)) : [];
    const pool = allowed.length > 0 ? allowed : catalog.frontier;
    const provider = latencyProvider(catalog, limits, undefined);
    return pool.some((id) => {
      const s = catalog.stitches.get(id);
      return s !== undefined && unmetLimits(s, { catalog, limits, provider, batch: 1, slowdown: 1 }).length === 0;
    });
  };
  const issues: ProfileCheckIssue[] = [];
  const hint =
    'The policy then runs the cheapest stitch, flagged "over budget"; loosen the limit if that is not intended';
  if (!feasible(combinedLimits(profile.limits))) {
    // Every rule inherits the problem; one warning says it.
    issues.push({
      path: ['limits'],
      message: `No stitch of ${model.name} meets these limits, so every decision is over budget`,
      hint,
    });
    return issues;
  }
  profile.rules.forEach((rule, i) => {
    if (!feasible(combinedLimits(profile.limits, rule.limit))) {
      issues.push({
        path: ['rules', i, 'limit'],
        message: `No stitch of ${model.name} meets the limits of rule "${rule.name}" (with the profile's limits)`,
        hint,
      });
    }
  });
  return issues;
}

/** The report of a profile file that could not be read: one error on the file itself. */
function unreadable(
  file: string,
  message: string,
  hint: string,
  validValues: (string | number)[] | null,
): ProfileReport {
  const finding = { severity: 'error' as const, line: null, column: null, field: '(file)', message, hint, validValues };
  return { file, valid: false, name: null, findings: [finding] };
}

/** Validates one profile file; never throws. */
export async function validateProfileFile(file: string, model?: ModelCheck): Promise<ProfileReport> {
  let text: string;
  try {
    text = await readFile(resolveProfileFile(file), 'utf8');
  } catch (e) {
    if (isStitchnetError(e))
      return unreadable(file, e.message, e.hint ?? 'Check the path', e.validValues ? [...e.validValues] : null);
    const code = (e as { code?: string }).code;
    return unreadable(file, `Cannot read the profile${code ? ` (${code})` : ''}`, 'Check the path', null);
  }
  const check = model ? (p: Profile) => checkProfileForCatalog(p, model.catalog) : undefined;
  const v = validateProfileText(text, { file, check });
  if (!v.ok) return { file, valid: false, name: null, findings: v.issues.map((i) => finding('error', i)) };
  const warnings = model ? unmeetableLimits(v.profile, model) : [];
  // Located like errors: through the validator's check hook, on the same text.
  const located = warnings.length > 0 ? validateProfileText(text, { file, check: () => warnings }) : undefined;
  const findings = located && !located.ok ? located.issues.map((i) => finding('warning', i)) : [];
  return { file, valid: true, name: v.profile.name ?? null, findings };
}

/** The text report: `file:line:column: severity: field: message`, a hint and valid values under each. */
export function formatReport(r: ProfileReport, model?: ModelCheck): string {
  const lines: string[] = [];
  for (const f of r.findings) {
    const at = f.line === null ? r.file : `${r.file}:${f.line}:${f.column ?? 1}`;
    lines.push(`${at}: ${f.severity}: ${f.field}: ${f.message}`);
    if (f.hint) lines.push(`    hint: ${f.hint}`);
    const values = f.validValues?.map(String);
    // Signal hints already list the names; don't repeat them.
    if (values && values.length > 0 && !(f.hint ?? '').includes(values[0] as string))
      lines.push(`    valid values: ${values.join(', ')}`);
  }
  const errors = r.findings.filter((f) => f.severity === 'error').length;
  const warnings = r.findings.length - errors;
  const against = model ? ` for ${model.name} (${model.catalog.stitches.size} stitches)` : '';
  const also = warnings > 0 ? ` with ${warnings} warning${warnings > 1 ? 's' : ''}` : '';
  lines.push(
    r.valid
      ? `${r.file}: valid${against}${also}`
      : `${r.file}: invalid, ${errors} problem${errors > 1 ? 's' : ''}${also}`,
  );
  return `${lines.join('\n')}\n`;
}

/** Reads the package manifest for the checks (no piece hashes, no ONNX decoding). */
export async function modelCheck(dir: string): Promise<ModelCheck> {
  const pkg = await readPackage(dir, { verifyHashes: false, loadModels: false });
  return { dir: pkg.dir, name: pkg.manifest.name, catalog: catalogFromManifest(pkg.manifest) };
}

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description(
      'Check profiles: every problem with file:line:column and a hint; with --model, also against a stitch package. Exit 0 valid, 1 invalid, 2 bad options.',
    )
    .argument(
      '<profiles...>',
      'profile files (YAML or JSON), or shipped profiles by name (balanced, battery-saver, performance, thermal-guard)',
    )
    .option(
      '--model <dir>',
      'also check the profile against this stitch package (stitch ids, figures the limits need, limits no stitch meets)',
    )
    .option('--json', 'print the result as JSON on stdout')
    .action(async (files: string[], o: ValidateCliOptions) => {
      const model = o.model === undefined ? undefined : await modelCheck(o.model);
      const reports: ProfileReport[] = [];
      for (const file of files) reports.push(await validateProfileFile(file, model));
      const valid = reports.every((r) => r.valid);
      if (o.json) {
        const report = {
          valid,
          model: model
            ? { dir: path.resolve(model.dir), name: model.name, stitches: model.catalog.stitches.size }
            : null,
          profiles: reports,
        };
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        process.stdout.write(reports.map((r) => formatReport(r, model)).join(''));
      }
      if (!valid) process.exitCode = 1;
    });
}
