/**
 * A reader that goes away (`stitchnet demo | head -1`) closes the pipe. Its output is then no
 * longer wanted: later writes go nowhere, and {@link outputClosed} fires, so that a long command
 * (the demo) stops as it would on Ctrl-C: its runtime closed, its recording finished. The process
 * then ends with the command's status, rather than dying on an unhandled EPIPE, or being cut short
 * by `process.exit` while the inference worker is still inside onnxruntime.
 */
import type { Writable } from 'node:stream';

const controller = new AbortController();

/** Fires once stdout or stderr has lost its reader. */
export const outputClosed: AbortSignal = controller.signal;

/** Watches stdout and stderr for a reader that went away (call once, at start). */
export function watchOutput(): void {
  for (const stream of [process.stdout, process.stderr]) stream.on('error', (err) => onWriteError(stream, err));
}

function onWriteError(stream: Writable, err: NodeJS.ErrnoException): void {
  if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
  stream.write = (() => true) as Writable['write'];
  controller.abort();
}
