import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { CpuInfo } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  findLinuxCpuSensor,
  linuxCpuTemperature,
  linuxGpuInventory,
  osCpuLoad,
} from '../../src/signals/cheap-probes.js';

const cpu = (user: number, idle: number): CpuInfo => ({
  model: 'x',
  speed: 1,
  times: { user, nice: 0, sys: 0, idle, irq: 0 },
});

describe('osCpuLoad', () => {
  it('is the busy share of the CPU time elapsed since the previous call, all cores', async () => {
    const samples = [
      [cpu(0, 0), cpu(0, 0)],
      [cpu(100, 100), cpu(50, 150)],
      [cpu(100, 300), cpu(50, 350)],
      [cpu(100, 300), cpu(50, 350)],
    ];
    let i = 0;
    const load = osCpuLoad({ read: () => samples[i++] ?? [], primeMs: 0 });
    expect((await load()).currentLoad).toBe(37.5); // 150 busy of 400
    expect((await load()).currentLoad).toBe(0);
    expect((await load()).currentLoad).toBeNaN(); // no time elapsed
  });
});

describe('linuxCpuTemperature', () => {
  let root: string | undefined;
  afterEach(() => {
    if (root) rmSync(root, { recursive: true, force: true });
    root = undefined;
  });
  const file = (path: string, text: string) => {
    mkdirSync(join(root as string, path, '..'), { recursive: true });
    writeFileSync(join(root as string, path), text);
  };

  it('prefers a CPU package sensor from hwmon over thermal zones', async () => {
    root = mkdtempSync(join(tmpdir(), 'stitchnet-sysfs-'));
    file('hwmon/hwmon0/name', 'nvme\n');
    file('hwmon/hwmon0/temp1_input', '40000\n');
    file('hwmon/hwmon1/name', 'k10temp\n');
    file('hwmon/hwmon1/temp1_input', '61250\n');
    file('thermal/thermal_zone0/type', 'acpitz\n');
    file('thermal/thermal_zone0/temp', '30000\n');
    expect(await findLinuxCpuSensor(root)).toBe(join(root, 'hwmon/hwmon1/temp1_input'));
    const read = linuxCpuTemperature(root);
    expect(await read()).toEqual({ main: 61.25 });
    file('hwmon/hwmon1/temp1_input', '63000\n');
    expect(await read()).toEqual({ main: 63 });
  });

  it('falls back to a CPU thermal zone, and answers null where there is no sensor', async () => {
    root = mkdtempSync(join(tmpdir(), 'stitchnet-sysfs-'));
    file('thermal/thermal_zone3/type', 'x86_pkg_temp\n');
    file('thermal/thermal_zone3/temp', '55000\n');
    expect(await linuxCpuTemperature(root)()).toEqual({ main: 55 });
    expect(await linuxCpuTemperature(join(root, 'nothing'))()).toEqual({ main: null });
  });
});

describe('linuxGpuInventory', () => {
  it('lists the display controllers from sysfs, naming NVIDIA, AMD and Intel, without spawning anything', async () => {
    const root = mkdtempSync(join(tmpdir(), 'stitchnet-pci-'));
    try {
      const dev = (id: string, cls: string, vendor: string) => {
        mkdirSync(join(root, id));
        writeFileSync(join(root, id, 'class'), `${cls}\n`);
        writeFileSync(join(root, id, 'vendor'), `${vendor}\n`);
        writeFileSync(join(root, id, 'device'), '0x1234\n');
      };
      dev('0000:00:02.0', '0x030000', '0x8086');
      dev('0000:01:00.0', '0x030200', '0x10de');
      dev('0000:00:1f.0', '0x060100', '0x8086'); // an ISA bridge: not a display controller
      const { controllers } = await linuxGpuInventory(root);
      expect(controllers.map((c) => c.vendor).sort()).toEqual(['Intel', 'NVIDIA']);
      expect(await linuxGpuInventory(join(root, 'missing'))).toEqual({ controllers: [] });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
