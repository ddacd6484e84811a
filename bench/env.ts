/**
 * What the machine was doing while a benchmark ran: hardware and versions, and per-section CPU
 * use by this process and by everything else (from `/proc/stat` where it exists).
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { loadOrt } from '../src/engine/ort.js';

/** Hardware and software of the run. */
export interface Environment {
  node: string;
  onnxruntime: string;
  platform: string;
  cpu: string;
  cores: number;
  memoryGiB: number;
  loadAverageAtStart: number[];
}

/** Describes the machine and the onnxruntime-node in use. */
export async function environment(): Promise<Environment> {
  const ort = await loadOrt();
  const cpus = os.cpus();
  return {
    node: process.version,
    onnxruntime: ort.env.versions.common ?? 'unknown',
    platform: `${process.platform}-${process.arch}`,
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    loadAverageAtStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** CPU use over one section, in cores (1 = one core fully busy on average). */
export interface CpuWindow {
  seconds: number;
  /** This process (all its threads). */
  ownCores: number;
  /** Every other process, all priorities (null where `/proc/stat` is missing). */
  otherCores: number | null;
  /** The part of all CPU time spent in niced (background) processes (null where unknown). */
  niceCores: number | null;
  /** The 1-minute load average at the end. */
  loadAverage1m: number;
}

const TICKS_PER_SECOND = 100;

interface ProcTicks {
  busy: number;
  nice: number;
}

function procTicks(): ProcTicks | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const [label, ...fields] = line.trim().split(/\s+/);
    if (label !== 'cpu') return null;
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields.map(Number);
    return { busy: user + nice + system + irq + softirq + steal, nice };
  } catch {
    return null;
  }
}

/** Starts measuring CPU use; call the returned function at the end of the section. */
export function cpuMeter(): () => CpuWindow {
  const t0 = performance.now();
  const own0 = process.cpuUsage();
  const proc0 = procTicks();
  return () => {
    const seconds = (performance.now() - t0) / 1000;
    const own = process.cpuUsage(own0);
    const ownSeconds = (own.user + own.system) / 1e6;
    const proc1 = procTicks();
    const ticks = proc0 && proc1 ? { busy: proc1.busy - proc0.busy, nice: proc1.nice - proc0.nice } : null;
    return {
      seconds,
      ownCores: ownSeconds / seconds,
      otherCores: ticks ? Math.max(0, ticks.busy / TICKS_PER_SECOND - ownSeconds) / seconds : null,
      niceCores: ticks ? ticks.nice / TICKS_PER_SECOND / seconds : null,
      loadAverage1m: os.loadavg()[0] ?? 0,
    };
  };
}
