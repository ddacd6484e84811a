/**
 * The one output convention for plots, shared by `inspect --plot` and `simulate --plot`: a file
 * path whose extension picks the format (`.svg` or `.png`); repeat the option for both. The folder
 * is created. A value without either extension (the old `inspect --plot <prefix>` form) is
 * rejected with the files to ask for instead.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OptionError } from '../errors.js';

/** One plot file to write. */
export interface PlotTarget {
  file: string;
  format: 'svg' | 'png';
}

/** What commander collects for a repeatable `--plot [file]`: `true` for a bare `--plot`. */
export type PlotOption = true | (string | true)[];

/** Commander's collector for a repeatable `--plot [file]` (a bare flag is kept as `true`). */
export function collectPlot(value: string, previous: PlotOption | undefined): (string | true)[] {
  const before = previous === undefined ? [] : previous === true ? [true as const] : previous;
  return [...before, value];
}

/** The values of `--plot` as a list (`true` for a bare flag). */
export function plotValues(option: PlotOption | undefined): (string | true)[] {
  return option === undefined ? [] : option === true ? [true] : option;
}

/**
 * The plot files asked for by `option` (e.g. `--plot`); a bare flag (`true`) becomes
 * `defaultFile` where the command has one.
 *
 * @throws OptionError OPTION_INVALID for a file that does not end in .svg or .png, or a bare flag without default
 */
export function plotTargets(option: string, values: readonly (string | true)[], defaultFile?: string): PlotTarget[] {
  const targets = values.map((v): PlotTarget => {
    if (v === true) {
      if (defaultFile === undefined)
        throw new OptionError('OPTION_INVALID', `${option} needs a file`, {
          option,
          hint: `For example: ${option} timeline.svg`,
        });
      return { file: defaultFile, format: 'svg' };
    }
    const ext = path.extname(v).toLowerCase();
    if (ext === '.svg' || ext === '.png') return { file: v, format: ext === '.svg' ? 'svg' : 'png' };
    const stem = ext === '' ? v : v.slice(0, -ext.length);
    throw new OptionError('OPTION_INVALID', `${option} takes a file ending in .svg or .png, got ${JSON.stringify(v)}`, {
      option,
      hint: `The extension picks the format: ${option} ${stem}.svg, and repeat for a PNG too: ${option} ${stem}.svg ${option} ${stem}.png`,
    });
  });
  return targets.filter((t, i) => targets.findIndex((u) => path.resolve(u.file) === path.resolve(t.file)) === i);
}

/** Writes a rendered SVG to every target, converting to PNG (by `toPng`) only when one is asked for; returns the files. */
export async function writePlot(
  targets: readonly PlotTarget[],
  svg: string,
  toPng: (svg: string) => Promise<Uint8Array>,
): Promise<string[]> {
  const png = targets.some((t) => t.format === 'png') ? await toPng(svg) : undefined;
  for (const t of targets) {
    await mkdir(path.dirname(path.resolve(t.file)), { recursive: true });
    await writeFile(t.file, t.format === 'svg' ? svg : (png as Uint8Array));
  }
  return targets.map((t) => t.file);
}

/** The error for an option a command no longer takes, naming its replacement. */
export function replacedOption(option: string, hint: string): OptionError {
  return new OptionError('OPTION_INVALID', `${option} is no longer an option`, { option, hint });
}
