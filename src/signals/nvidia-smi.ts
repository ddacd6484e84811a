/**
 * NVIDIA GPU readings from one long-lived `nvidia-smi --query-gpu … -lms <period>` child process,
 * streamed line by line (systeminformation would instead run `nvidia-smi` synchronously on every
 * poll, blocking the event loop).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { catchError, concat, filter, map, Observable, of, type SchedulerLike } from 'rxjs';
import { SignalError } from '../errors.js';
import { markStale } from './sample.js';
import type { SignalSource } from './source.js';
import { missingPatch, missingReading, okReading, type Reading, type SignalPatch } from './state.js';

/** The signals the stream produces. */
export const NVIDIA_SMI_SIGNALS = ['gpu.utilization', 'thermal.gpuC', 'gpu.powerW', 'gpu.memoryUsedMB'] as const;

/** Queried columns, in order (`index` selects the GPU). */
export const NVIDIA_SMI_QUERY = ['index', 'utilization.gpu', 'temperature.gpu', 'power.draw', 'memory.used'] as const;

/** The command-line arguments of the stream for a period in ms. */
export function nvidiaSmiArgs(periodMs: number): string[] {
  return [
    `--query-gpu=${NVIDIA_SMI_QUERY.join(',')}`,
    '--format=csv,noheader,nounits',
    '-lms',
    String(Math.max(1, Math.round(periodMs))),
  ];
}

function cell(text: string | undefined): Reading {
  const t = text?.trim() ?? '';
  // nvidia-smi prints "[N/A]", "[Not Supported]" or "N/A" for fields a board does not report.
  if (t === '' || t.startsWith('[') || /^n\/?a$/i.test(t)) return missingReading('unavailable');
  const v = Number(t);
  return Number.isFinite(v) ? okReading(v) : missingReading('error');
}

/**
 * Parses one output line (`0, 37, 52, 71.23, 1024`) into readings, or returns `undefined` for a
 * line about another GPU or a line that is not a data row.
 */
export function parseNvidiaSmiLine(line: string, gpuIndex = 0): SignalPatch | undefined {
  const cells = line.split(',');
  if (cells.length !== NVIDIA_SMI_QUERY.length) return undefined;
  if (Number(cells[0]?.trim()) !== gpuIndex) return undefined;
  return {
    'gpu.utilization': cell(cells[1]),
    'thermal.gpuC': cell(cells[2]),
    'gpu.powerW': cell(cells[3]),
    'gpu.memoryUsedMB': cell(cells[4]),
  };
}

/**
 * Starts a command and emits its stdout lines. Errors when the command cannot start (the error's
 * `code` is `ENOENT` when it does not exist) or exits with a non-zero status; unsubscribing kills it.
 */
export type LineSpawner = (command: string, args: readonly string[]) => Observable<string>;

/** The real {@link LineSpawner}, on `child_process.spawn`. */
export const spawnLines: LineSpawner = (command, args) =>
  new Observable<string>((subscriber) => {
    const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'ignore'], windowsHide: true });
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => subscriber.next(line));
    child.on('error', (err) => subscriber.error(err));
    child.on('close', (code, signal) => {
      if (code === 0) subscriber.complete();
      else
        subscriber.error(
          new SignalError('SIGNAL_SOURCE_FAILED', `${command} exited with ${signal ?? `status ${String(code)}`}`, {
            hint: `Run "${command} ${args.join(' ')}" in a terminal to see why`,
          }),
        );
    });
    return () => {
      lines.close();
      if (child.exitCode === null && child.signalCode === null) child.kill();
    };
  });

/** Options of {@link nvidiaSmiSource}. */
export interface NvidiaSmiOptions {
  /** Sampling period of the stream, ms. Default 1000. */
  periodMs?: number;
  /** Which GPU (`nvidia-smi` index). Default 0. */
  gpuIndex?: number;
  /** Marks the GPU readings `stale` when no line came for this long. Default 3 × `periodMs`. */
  staleAfterMs?: number;
  /** Starts the process; tests pass a fake that emits canned lines. Default {@link spawnLines}. */
  spawn?: LineSpawner;
  /** The executable. Default `nvidia-smi`. */
  command?: string;
}

/**
 * GPU utilization, temperature, power and memory from a streaming `nvidia-smi`. Where the tool does
 * not exist the GPU signals are reported `unavailable` once; if it dies they become `error`.
 */
export function nvidiaSmiSource(options: NvidiaSmiOptions = {}): SignalSource {
  const periodMs = options.periodMs ?? 1000;
  const gpuIndex = options.gpuIndex ?? 0;
  const spawnFn = options.spawn ?? spawnLines;
  const command = options.command ?? 'nvidia-smi';
  return {
    name: 'nvidia-smi',
    readings(scheduler: SchedulerLike): Observable<SignalPatch> {
      const lines$ = spawnFn(command, nvidiaSmiArgs(periodMs)).pipe(
        map((line) => parseNvidiaSmiLine(line, gpuIndex)),
        filter((p): p is SignalPatch => p !== undefined),
        markStale(NVIDIA_SMI_SIGNALS, options.staleAfterMs ?? 3 * periodMs, scheduler),
      );
      // The stream is meant to run until unsubscribed: an exit is an error of the GPU readings.
      return concat(lines$, of(missingPatch(NVIDIA_SMI_SIGNALS, 'error'))).pipe(
        catchError((e: unknown) =>
          of(
            missingPatch(
              NVIDIA_SMI_SIGNALS,
              (e as { code?: unknown } | null)?.code === 'ENOENT' ? 'unavailable' : 'error',
            ),
          ),
        ),
      );
    },
  };
}
