/**
 * Probes that replace systeminformation calls that are costly to poll:
 *
 * - `currentLoad()` on Linux runs `cat /proc/stat` through `execSync` on every call (~35 ms of CPU
 *   and a blocked event loop); the same figure comes from `os.cpus()` counters for ~50 µs.
 * - `cpuTemperature()` on Linux runs `cat` over every thermal zone and then `sensors` (~75 ms of
 *   CPU per call); reading the kernel's hwmon / thermal-zone files directly costs a file read.
 */
import { cpus, type CpuInfo } from 'node:os';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface Totals {
  idle: number;
  total: number;
}

function totals(list: readonly CpuInfo[]): Totals {
  let idle = 0;
  let total = 0;
  for (const c of list) {
    const t = c.times;
    idle += t.idle;
    total += t.user + t.nice + t.sys + t.idle + t.irq;
  }
  return { idle, total };
}

/**
 * CPU load in percent of all cores since the previous call, from `os.cpus()` counters. The first
 * call primes the counters and waits `primeMs` for a first interval.
 */
export function osCpuLoad(
  options: { read?: () => readonly CpuInfo[]; primeMs?: number } = {},
): () => Promise<{ currentLoad: number }> {
  const read = options.read ?? cpus;
  let previous: Totals | undefined;
  return async () => {
    if (!previous) {
      previous = totals(read());
      await new Promise((resolve) => setTimeout(resolve, options.primeMs ?? 250));
    }
    const now = totals(read());
    const dTotal = now.total - previous.total;
    const dIdle = now.idle - previous.idle;
    previous = now;
    // No tick elapsed (calls too close together): NaN, which the mapper reports as an error.
    return { currentLoad: dTotal > 0 ? (100 * (dTotal - dIdle)) / dTotal : Number.NaN };
  };
}

/** hwmon drivers of CPU package sensors, best first, and the thermal-zone types that stand for the CPU. */
const HWMON_CPU = ['k10temp', 'coretemp', 'zenpower', 'cpu_thermal', 'soc_thermal'];
const ZONE_CPU = ['x86_pkg_temp', 'cpu-thermal', 'cpu_thermal', 'soc-thermal', 'soc_thermal', 'acpitz'];

async function readText(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

/** Finds the file holding the CPU temperature (millidegrees), or `undefined` where there is none. */
export async function findLinuxCpuSensor(sysClass = '/sys/class'): Promise<string | undefined> {
  const hwmon = join(sysClass, 'hwmon');
  const found: { rank: number; file: string }[] = [];
  for (const dev of await list(hwmon)) {
    const name = await readText(join(hwmon, dev, 'name'));
    const rank = name === undefined ? -1 : HWMON_CPU.indexOf(name);
    if (rank >= 0 && (await readText(join(hwmon, dev, 'temp1_input'))) !== undefined)
      found.push({ rank, file: join(hwmon, dev, 'temp1_input') });
  }
  const thermal = join(sysClass, 'thermal');
  for (const zone of (await list(thermal)).filter((z) => z.startsWith('thermal_zone'))) {
    const type = await readText(join(thermal, zone, 'type'));
    const rank = type === undefined ? -1 : ZONE_CPU.indexOf(type);
    if (rank >= 0) found.push({ rank: HWMON_CPU.length + rank, file: join(thermal, zone, 'temp') });
  }
  return found.sort((a, b) => a.rank - b.rank)[0]?.file;
}

/**
 * CPU temperature on Linux from sysfs. The sensor is looked up once; a machine without one (most
 * VMs) answers `main: null` at the cost of nothing.
 */
export function linuxCpuTemperature(sysClass = '/sys/class'): () => Promise<{ main: number | null }> {
  let sensor: Promise<string | undefined> | undefined;
  return async () => {
    sensor ??= findLinuxCpuSensor(sysClass);
    const file = await sensor;
    const text = file === undefined ? undefined : await readText(file);
    const milli = text === undefined ? Number.NaN : Number(text);
    return { main: Number.isFinite(milli) ? milli / 1000 : null };
  };
}

/** PCI vendor ids of the display controllers worth naming. */
const PCI_VENDORS: Readonly<Record<string, string>> = { '0x10de': 'NVIDIA', '0x1002': 'AMD', '0x8086': 'Intel' };

/**
 * The display controllers on Linux from sysfs (`/sys/bus/pci/devices/<id>/{class,vendor,device}`):
 * a few file reads, where systeminformation's `graphics()` spawns `lspci -vvv`, `clinfo`,
 * `xrandr` and `xdpyinfo` — a burst of CPU that reads as a slowdown of the first runs.
 */
export async function linuxGpuInventory(
  pciDevices = '/sys/bus/pci/devices',
): Promise<{ controllers: { vendor: string; model: string }[] }> {
  const controllers: { vendor: string; model: string }[] = [];
  for (const dev of await list(pciDevices)) {
    const cls = await readText(join(pciDevices, dev, 'class'));
    // PCI class 0x03xxxx: display controller (VGA, 3D, other).
    if (cls === undefined || !cls.startsWith('0x03')) continue;
    const vendorId = (await readText(join(pciDevices, dev, 'vendor'))) ?? '';
    const device = (await readText(join(pciDevices, dev, 'device'))) ?? '';
    controllers.push({ vendor: PCI_VENDORS[vendorId] ?? vendorId, model: `${vendorId}:${device} at ${dev}` });
  }
  return { controllers };
}
