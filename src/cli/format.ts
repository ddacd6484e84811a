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

/** A share as a percentage with one decimal: `46.3 %`. */
export function formatShare(part: number, whole: number): string {
  return `${whole > 0 ? ((100 * part) / whole).toFixed(1) : '0.0'} %`;
}
