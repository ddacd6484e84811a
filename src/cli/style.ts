/**
 * Colour for the command's text output, through `util.styleText` (Node ≥ 20.12; plain text on
 * older versions). Colour is on when the stream is a terminal that has colours, unless `NO_COLOR`
 * is set (to anything but the empty string); `FORCE_COLOR` turns it on for any stream
 * (`FORCE_COLOR=0` or `false` turns it off), and wins over the terminal check but not `NO_COLOR`.
 */
import * as util from 'node:util';

/** The text styles the command uses. */
export type Style = 'bold' | 'dim' | 'red' | 'yellow' | 'green' | 'cyan';

/** What colour support depends on: a stream's terminal state and the environment. */
export interface ColorContext {
  isTTY?: boolean | undefined;
  hasColors?: (() => boolean) | undefined;
  env?: NodeJS.ProcessEnv;
}

type StyleText = (format: Style | Style[], text: string, options?: { validateStream?: boolean }) => string;

/** `util.styleText` where this Node has it. */
const styleText: StyleText | undefined = (util as unknown as { styleText?: StyleText }).styleText;

/** Whether text written to `stream` should be coloured. */
export function colorEnabled(stream: ColorContext, env: NodeJS.ProcessEnv = stream.env ?? process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !['0', 'false'].includes(force.toLowerCase());
  return stream.isTTY === true && (stream.hasColors?.() ?? true);
}

/**
 * Styles `text` for `stream` (default stdout) when colour is on there, else returns it as is.
 * The decision is made here (not by `styleText`'s own stream check, which Node 20 lacks).
 */
export function paint(format: Style | Style[], text: string, stream: ColorContext = process.stdout): string {
  if (styleText === undefined || !colorEnabled(stream)) return text;
  return styleText(format, text, { validateStream: false });
}

/** A styler bound to one stream: `const c = styler(process.stderr); c('red', 'error')`. */
export function styler(stream: ColorContext): (format: Style | Style[], text: string) => string {
  const on = styleText !== undefined && colorEnabled(stream);
  return (format, text) => (on ? (styleText as StyleText)(format, text, { validateStream: false }) : text);
}

/** Writes a note (`note: …`, dimmed) to stderr. */
export function note(text: string): void {
  process.stderr.write(`${paint('dim', 'note:', process.stderr)} ${text}\n`);
}

/** Writes a warning (`warning: …`, in yellow) to stderr. */
export function warn(text: string): void {
  process.stderr.write(`${paint('yellow', 'warning:', process.stderr)} ${text}\n`);
}
