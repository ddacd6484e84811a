/**
 * Messages between the main thread and the inference worker. Each request carries an id; the
 * worker answers every request exactly once with the same id.
 *
 * A run's input and output travel through shared memory, not inside the message: the main thread
 * writes the input into a `SharedArrayBuffer` it keeps in a small pool, the worker reads it from
 * there and writes the output back into the same buffer (input first, so the two may overlap).
 * The message itself is a few numbers; a route's piece list is sent once and named by a number
 * afterwards.
 *
 * The worker asks the main thread for piece bytes when it fuses a route (`need` → `bytes`), and
 * reports background failures (`report`).
 */
import type { SerializedStitchnetError } from '../errors.js';
import type { EngineOptions, PieceBytes, PieceSource, RunOutput } from './engine.js';

/** A run request: input in `buffer` (`size` floats from offset 0). */
export interface RunMessage {
  id: number;
  op: 'run';
  /** The route's number; `pieces` comes with its first use. */
  route: number;
  pieces?: string[];
  buffer: SharedArrayBuffer;
  size: number;
  dims: number[];
  at?: number | undefined;
  /** As in the engine's `RunRequest.count`: `false` keeps a calibration run out of the fast path's count. */
  count?: boolean | undefined;
  /** As in the engine's `RunRequest.forceRoute`. */
  forceRoute?: boolean | undefined;
}

/** What the main thread asks of the worker. */
export type WorkerRequest =
  | { id: number; op: 'load'; piece: PieceSource }
  | RunMessage
  | { id: number; op: 'fuse'; pieces: string[] }
  | { id: number; op: 'close' };

/** The main thread's answer to a `need`. */
export type BytesMessage =
  | { op: 'bytes'; need: number; ok: true; pieces: PieceBytes[] }
  | { op: 'bytes'; need: number; ok: false; error: SerializedStitchnetError };

/** Anything the main thread posts to the worker. */
export type ToWorker = WorkerRequest | BytesMessage;

/** A run's result: in the request's buffer when it fits there, else moved in `data`. */
export interface RunReply {
  dims: number[];
  path: RunOutput['path'];
  size: number;
  data?: Float32Array;
}

/** The value each request resolves to. */
export interface WorkerResults {
  load: undefined;
  run: RunReply;
  fuse: undefined;
  close: undefined;
}

/** The worker's answer to one request. */
export type WorkerReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: SerializedStitchnetError };

/** Anything the worker posts to the main thread. */
export type FromWorker =
  | WorkerReply
  | { kind: 'need'; need: number; pieces: string[] }
  | { kind: 'report'; error: SerializedStitchnetError };

/** `workerData` of the inference worker. */
export interface WorkerInit {
  engine: EngineOptions;
}
