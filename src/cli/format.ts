/** Number formats shared by the commands' text output. */

/** A time offset as `m:ss` (`h:mm:ss` from an hour), with tenths when not whole seconds: `18:30`, `0:04.5`. */
export function formatClock(ms: number): string {
  const tenths = Math.round(ms / 100);
  const seconds = Math.floor(tenths / 10);
  const frac = tenths % 10 === 0 ? '' : `.${tenths % 10}`;
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = String(seconds % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${s}${frac}` : `${m}:${s}${frac}`;
}

/** A unit of multiply-accumulates, and a number in it. */
export interface MacsUnit {
  name: 'GMACs' | 'MMACs' | 'kMACs';
  scale: number;
  /** The number in this unit, three significant digits at least (`1.26`, `12.3`, `0.850`). */
  format(macs: number): string;
}

/**
 * The one unit a table (or a whole report) shows its MACs in: the unit of its largest value —
 * GMACs from 10⁹ (DeiT-scale models), MMACs from 10⁶ (the shipped Fashion-MNIST family, as the
 * docs show it), else kMACs.
 */
export function macsUnit(values: Iterable<number>): MacsUnit {
  let max = 0;
  for (const v of values) max = Math.max(max, v);
  const [scale, name] =
    max >= 1e9 ? ([1e9, 'GMACs'] as const) : max >= 1e6 ? ([1e6, 'MMACs'] as const) : ([1e3, 'kMACs'] as const);
  return {
    name,
    scale,
    format: (macs) => {
      const v = macs / scale;
      return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3);
    },
  };
}

/** Multiply-accumulates with a unit: `1.26 GMACs`, `12.3 MMACs`; in `unit` when given (one unit per table), else its own. */
export function formatMacs(macs: number, unit: MacsUnit = macsUnit([macs])): string {
  return `${unit.format(macs)} ${unit.name}`;
}

/** A share as a percentage with one decimal: `46.3 %`. */
export function formatShare(part: number, whole: number): string {
  return `${whole > 0 ? ((100 * part) / whole).toFixed(1) : '0.0'} %`;
}
