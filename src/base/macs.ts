/** Multiply-accumulates in one unit per table, plot or report. */

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
