/**
 * Probing execution providers in a short-lived child process.
 *
 * A GPU provider that cannot start does more than throw: its native libraries print to the
 * process's stderr (e.g. Dawn's "Couldn't load Vulkan"), and a broken driver can take the whole
 * process down. So each non-CPU candidate is tried in a child `node` process running the worker
 * entry with {@link PROBE_FLAG}: the app's own output stays clean, a crash costs only the child, and
 * what the libraries printed becomes part of the reported reason. The child tries the candidates
 * one at a time, each alone in a tiny session, and stops at the first that works.
 */
import { execFile } from 'node:child_process';
import { encodeModel, linearModel } from '../onnx/index.js';
import { messageOf } from '../base/message.js';
import { loadOrt, sessionOptions } from './ort.js';
import {
  isProviderName,
  selectProvider,
  type ProbeResult,
  type ProviderName,
  type ProviderSelection,
} from './providers.js';

/** Argument that makes the worker entry run as a provider probe instead of a worker. */
export const PROBE_FLAG = '--stitchnet-probe';

/** Marks where the stderr of one provider's attempt starts. */
const STDERR_MARK = '@@stitchnet-probe ';
/** Prefix of a result line on stdout. */
const RESULT_MARK = '@@stitchnet-result ';
const PROBE_TIMEOUT_MS = 60_000;

/** A 1×4 → 1×4 Linear (MatMul + Add) model: small, but made of the ops every piece uses. */
export function probeModelBytes(): Uint8Array {
  const weight = new Float32Array(16).map((_, i) => (i % 5 === 0 ? 1 : 0));
  const bias = new Float32Array([1, 2, 3, 4]);
  return encodeModel(linearModel({ weight, bias, dimIn: 4, dimOut: 4, inputShape: [1, 4] }));
}

/**
 * Child side: probes the providers named in `names` in order and prints one result line per
 * provider tried, stopping at the first that works.
 */
export async function runProbeCommand(names: readonly string[]): Promise<void> {
  const ort = await loadOrt('error');
  const inBinary = ort.listSupportedBackends().map((b) => b.name);
  process.stdout.write(`${RESULT_MARK}${JSON.stringify({ backends: inBinary })}\n`);
  const bytes = probeModelBytes();
  for (const name of names) {
    if (!isProviderName(name) || !inBinary.includes(name)) continue;
    process.stderr.write(`${STDERR_MARK}${name}\n`);
    let result: ProbeResult;
    try {
      const session = await ort.InferenceSession.create(
        bytes,
        sessionOptions({ provider: name, threads: { intraOp: 1, interOp: 1 } }),
      );
      try {
        const x = new ort.Tensor('float32', new Float32Array([1, 1, 1, 1]), [1, 4]);
        const y = (await session.run({ x })).y;
        const ok = y !== undefined && Array.from(y.data as Float32Array).every((v, i) => v === i + 2);
        result = ok ? { ok: true } : { ok: false, reason: 'the probe model returned a wrong result' };
      } finally {
        await session.release();
      }
    } catch (e) {
      result = { ok: false, reason: messageOf(e) };
    }
    process.stdout.write(`${RESULT_MARK}${JSON.stringify({ provider: name, ...result })}\n`);
    if (result.ok) return;
  }
}

interface ChildReport {
  backends?: string[];
  results: Map<string, ProbeResult>;
  stderrByProvider: Map<string, string>;
  /** The provider being probed when the child died, if it did. */
  crashedOn?: string;
  crash?: string;
}

type ResultLine = { backends?: string[]; provider?: string } & ProbeResult;

function parseResult(line: string): ResultLine | undefined {
  if (!line.startsWith(RESULT_MARK)) return undefined;
  try {
    return JSON.parse(line.slice(RESULT_MARK.length)) as ResultLine;
  } catch {
    return undefined;
  }
}

function runChild(file: string, names: readonly string[]): Promise<ChildReport> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [file, PROBE_FLAG, ...names],
      { timeout: PROBE_TIMEOUT_MS, windowsHide: true, maxBuffer: 4 * 1024 * 1024, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const report: ChildReport = { results: new Map(), stderrByProvider: new Map() };
        for (const line of stdout.split('\n')) {
          const parsed = parseResult(line);
          if (parsed?.backends) report.backends = parsed.backends;
          else if (parsed?.provider)
            report.results.set(parsed.provider, parsed.ok ? { ok: true } : { ok: false, reason: parsed.reason });
        }
        let current: string | undefined;
        for (const line of stderr.split('\n')) {
          if (line.startsWith(STDERR_MARK)) {
            current = line.slice(STDERR_MARK.length).trim();
            continue;
          }
          if (current === undefined) continue;
          report.stderrByProvider.set(current, `${report.stderrByProvider.get(current) ?? ''}${line}\n`);
        }
        if (error) {
          report.crash = error.killed
            ? `the probe process was killed after ${PROBE_TIMEOUT_MS / 1000} s`
            : `the probe process failed: ${error.message.split('\n')[0] ?? ''}`;
          if (current !== undefined && !report.results.has(current)) report.crashedOn = current;
        }
        resolve(report);
      },
    );
  });
}

/** Makes a native error message readable: no colour codes, log prefixes or source locations. */
export function cleanNativeText(text: string): string {
  const lines = text
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips the ANSI colour codes of native log lines
    .replace(/\u001b\[[0-9;]*m/g, '')
    .split('\n')
    .map((l) =>
      l
        .replace(/^\d{4}-\d\d-\d\d [\d:.]+ \[[A-Z]:[^\]]*\]\s*/, '')
        .replace(/^.*\[ONNXRuntimeError\] : \d+ : \w+ : /, '')
        .replace(/^\/\S+\.(cc|cpp|h):\d+ .*? was false\.\s*/, '')
        .replace(/^\s+at operator\(\).*$/, '')
        .trim(),
    )
    .filter((l) => l.length > 0);
  const unique = [...new Set(lines)].join(' | ');
  return unique.length > 500 ? `${unique.slice(0, 497)}...` : unique;
}

const selections = new Map<string, Promise<ProviderSelection>>();

/**
 * Selects a provider for `preference` by probing in child processes started from `probeFile`
 * (the worker entry). A preference that starts with `cpu` needs no probe. The answer for a given
 * preference is kept for the life of the process (a provider's libraries don't appear or vanish
 * while it runs), so creating more runtimes costs no more probes.
 */
export function probeProviders(
  preference: readonly ProviderName[],
  probeFile: () => Promise<string>,
): Promise<ProviderSelection> {
  if (preference[0] === 'cpu') return Promise.resolve({ provider: 'cpu', attempts: [{ provider: 'cpu', ok: true }] });
  const key = preference.join(',');
  let selection = selections.get(key);
  if (!selection) {
    selection = probeInChildren(preference, probeFile);
    selections.set(key, selection);
    // A failed selection (no provider, or the probe file missing) is not kept: the next create retries.
    selection.catch(() => selections.delete(key));
  }
  return selection;
}

async function probeInChildren(
  preference: readonly ProviderName[],
  probeFile: () => Promise<string>,
): Promise<ProviderSelection> {
  const file = await probeFile();
  const known = new Map<string, ProbeResult>();
  let backends: readonly string[] | undefined;
  let remaining = [...preference];
  // One child normally answers everything; a crash ends it, and the rest go to a new one.
  while (remaining.length > 0) {
    const report = await runChild(file, remaining);
    backends ??= report.backends;
    if (backends === undefined) {
      // The child could not even load onnxruntime: every candidate fails for that reason.
      const reason = cleanNativeText(report.crash ?? 'the probe process did not report');
      for (const name of remaining) known.set(name, { ok: false, reason });
      backends = remaining;
      break;
    }
    for (const [name, result] of report.results) {
      const detail = cleanNativeText(report.stderrByProvider.get(name) ?? '');
      known.set(
        name,
        result.ok ? result : { ok: false, reason: cleanNativeText(result.reason) + (detail ? ` (${detail})` : '') },
      );
    }
    if (report.crashedOn !== undefined) {
      const detail = cleanNativeText(report.stderrByProvider.get(report.crashedOn) ?? '');
      known.set(report.crashedOn, {
        ok: false,
        reason: `${report.crash ?? 'the probe process crashed'}${detail ? ` (${detail})` : ''}`,
      });
    }
    const answered = new Set(known.keys());
    if ([...known.values()].some((r) => r.ok) || report.crashedOn === undefined) break;
    remaining = remaining.filter((n) => !answered.has(n) && (backends ?? []).includes(n));
  }
  const inBinary = backends ?? [];
  return selectProvider(preference, {
    backends: async () => inBinary,
    probe: async (name) => known.get(name) ?? { ok: false, reason: 'not probed' },
  });
}
