/**
 * Messages between the main thread and the inference worker. Each request carries an id; the
 * worker answers every request exactly once with the same id.
 */
import type { SerializedStitchnetError } from '../errors.js';
import type { EngineOptions, PieceBytes, RunOutput, RunRequest } from './engine.js';

/** What the main thread asks of the worker. */
export type WorkerRequest =
  | { id: number; op: 'load'; piece: PieceBytes }
  | { id: number; op: 'run'; request: RunRequest }
  | { id: number; op: 'fuse'; pieces: PieceBytes[] }
  | { id: number; op: 'close' };

/** The value each request resolves to. */
export interface WorkerResults {
  load: void;
  run: RunOutput;
  fuse: { evicted: string[] };
  close: void;
}

/** The worker's answer to one request. */
export type WorkerReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: SerializedStitchnetError };

/** `workerData` of the inference worker. */
export interface WorkerInit {
  engine: EngineOptions;
}
