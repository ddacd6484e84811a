/**
 * The main thread's handle on an {@link Engine}: either in the inference worker (the default,
 * which keeps ORT's blocking `create` and `run` off the main event loop) or in this thread (for
 * tiny models, tools and comparisons). Both have the same interface.
 */
import { Worker } from 'node:worker_threads';
import { reviveError, RuntimeError, type StitchnetError } from '../errors.js';
import { closedError, Engine, type EngineOptions, type PieceBytes, type RunOutput, type RunRequest } from './engine.js';
import { messageOf } from '../base/message.js';
import type { WorkerInit, WorkerReply, WorkerRequest, WorkerResults } from './protocol.js';

/** An engine, wherever it runs. */
export interface EngineClient {
  readonly mode: 'worker' | 'in-process';
  /** Creates one piece's session. Takes ownership of `piece.bytes`: the worker client moves them. */
  loadPiece(piece: PieceBytes): Promise<void>;
  /** Runs a route (fused when that route has a fused session). */
  run(request: RunRequest): Promise<RunOutput>;
  /**
   * Creates the fused session of a route; returns the fused routes evicted from the LRU. Takes
   * ownership of the pieces' bytes, as `loadPiece` does.
   */
  fuse(pieces: PieceBytes[]): Promise<{ evicted: string[] }>;
  /** Releases every session (and the worker); settles runs in flight first. */
  close(): Promise<void>;
}

/** Young-generation size of the inference worker's JS heap (MB). */
const WORKER_YOUNG_GENERATION_MB = 4;

/** An engine in this thread. */
export function inProcessClient(options: EngineOptions): EngineClient {
  const engine = new Engine(options);
  return {
    mode: 'in-process',
    loadPiece: (piece) => engine.loadPiece(piece),
    run: (request) => engine.run(request),
    fuse: (pieces) => engine.fuse(pieces),
    close: () => engine.close(),
  };
}

type Pending = { resolve(value: unknown): void; reject(error: unknown): void };
type RequestBody = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/**
 * An engine in a new worker thread started from `file` (see `workerFile()`).
 *
 * The worker holds the process open only while requests are pending, so a runtime that is never
 * closed does not keep the process alive. If the worker dies, every pending and later request
 * rejects with RuntimeError WORKER_FAILED.
 */
export function workerClient(options: EngineOptions, file: string): EngineClient {
  const init: WorkerInit = { engine: options };
  // The worker must not inherit flags meant for the main entry (e.g. `--input-type`, `--eval`).
  // An explicit execArgv is only passed when one was dropped: Node rejects V8 and per-process
  // flags in it (e.g. `--expose-gc`), which it accepts when the worker simply inherits them.
  const execArgv = process.execArgv.filter((a) => !/^--(input-type|eval|print|test)\b/.test(a));
  const worker = new Worker(file, {
    workerData: init,
    // The worker allocates little per run (a message and a few small objects; tensors live outside
    // the JS heap), so a small young generation costs it nothing, while V8's default lets that
    // heap grow by tens of MB over the first thousands of runs.
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    ...(execArgv.length < process.execArgv.length ? { execArgv } : {}),
  });
  worker.unref();
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let failure: StitchnetError | undefined;
  let closing: Promise<void> | undefined;

  const fail = (error: StitchnetError) => {
    failure ??= error;
    for (const p of pending.values()) p.reject(failure);
    pending.clear();
    worker.unref();
  };
  worker.on('message', (reply: WorkerReply) => {
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    if (pending.size === 0) worker.unref();
    if (reply.ok) p.resolve(reply.value);
    else p.reject(reviveError(reply.error));
  });
  worker.on('error', (e) =>
    fail(
      new RuntimeError('WORKER_FAILED', `the inference worker failed: ${messageOf(e)}`, {
        hint: 'Create a new StitchRuntime; pass worker: false to run in-process and see the error where it happens.',
        cause: e,
      }),
    ),
  );
  worker.on('messageerror', (e) => fail(new RuntimeError('WORKER_FAILED', `a message from the inference worker could not be read: ${messageOf(e)}`, { cause: e })));
  worker.on('exit', (code) => {
    if (closing) return fail(closedError());
    fail(
      new RuntimeError('WORKER_FAILED', `the inference worker exited unexpectedly (code ${code})`, {
        hint: 'Create a new StitchRuntime; pass worker: false to run in-process and see the error where it happens.',
      }),
    );
  });

  function request<Op extends WorkerRequest['op']>(body: Extract<RequestBody, { op: Op }>, transfer: ArrayBuffer[] = []): Promise<WorkerResults[Op]> {
    if (failure) return Promise.reject(failure);
    const id = nextId++;
    return new Promise<WorkerResults[Op]>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      if (pending.size === 1) worker.ref();
      try {
        worker.postMessage({ ...body, id }, transfer);
      } catch (e) {
        pending.delete(id);
        reject(new RuntimeError('WORKER_FAILED', `could not send a request to the inference worker: ${messageOf(e)}`, { cause: e }));
      }
    });
  }

  return {
    mode: 'worker',
    loadPiece(piece) {
      const bytes = movable(piece.bytes);
      return request<'load'>({ op: 'load', piece: { id: piece.id, bytes } }, [bytes.buffer as ArrayBuffer]);
    },
    run({ pieces, data, dims }) {
      // A copy of the caller's view only: the caller's array stays usable, the copy is moved.
      const copy = data.slice();
      return request<'run'>({ op: 'run', request: { pieces: [...pieces], data: copy, dims: [...dims] } }, [copy.buffer as ArrayBuffer]);
    },
    fuse(pieces) {
      const moved = pieces.map((p) => ({ id: p.id, bytes: movable(p.bytes) }));
      return request<'fuse'>({ op: 'fuse', pieces: moved }, moved.map((p) => p.bytes.buffer as ArrayBuffer));
    },
    close() {
      closing ??= (async () => {
        if (!failure) {
          try {
            await request<'close'>({ op: 'close' });
          } catch {
            // The worker is going away either way.
          }
        }
        await worker.terminate();
      })();
      return closing;
    },
  };
}

/**
 * Piece bytes ready to be transferred to the worker. They are the caller's to give away (read for
 * this call, see {@link EngineClient.loadPiece}), so a view that spans its whole buffer moves
 * without a copy — at DeiT scale that is hundreds of MB not duplicated on the main thread. A view
 * into a larger buffer (e.g. Node's pooled small-file buffers) is copied.
 */
function movable(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer ? bytes : bytes.slice();
}
