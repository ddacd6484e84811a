/**
 * The main thread's handle on an {@link Engine}: either in the inference worker (the default,
 * which keeps ORT's blocking `create` and `run` off the main event loop) or in this thread (for
 * tiny models, tools and comparisons). Both have the same interface.
 */
import { Worker } from 'node:worker_threads';
import { isStitchnetError, reviveError, RuntimeError, type StitchnetError } from '../errors.js';
import {
  closedError,
  Engine,
  fusedKey,
  type EngineHost,
  type EngineOptions,
  type PieceSource,
  type RunOutput,
  type RunRequest,
} from './engine.js';
import { messageOf } from '../base/message.js';
import type { FromWorker, RunReply, ToWorker, WorkerInit, WorkerRequest, WorkerResults } from './protocol.js';

/** An engine, wherever it runs. */
export interface EngineClient {
  readonly mode: 'worker' | 'in-process';
  /** Creates one piece's session. Takes ownership of `piece.bytes` (if any): the worker client moves them. */
  loadPiece(piece: PieceSource): Promise<void>;
  /** Runs a route (fused when that route has a fused session); the engine counts it for the fast path. */
  run(request: RunRequest): Promise<RunOutput>;
  /** Creates the fused session of a route now (its bytes are asked of the host). */
  fuse(pieces: readonly string[]): Promise<void>;
  /** Releases every session (and the worker); settles runs in flight first. */
  close(): Promise<void>;
}

/** Young-generation size of the inference worker's JS heap (MB). */
const WORKER_YOUNG_GENERATION_MB = 4;

/** An engine in this thread. */
export function inProcessClient(options: EngineOptions, host: EngineHost): EngineClient {
  const engine = new Engine(options, host);
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

const WORKER_HINT =
  'Create a new StitchRuntime; pass worker: false to run in-process and see the error where it happens.';

/**
 * An engine in a new worker thread started from `file` (see `workerFile()`).
 *
 * The worker holds the process open only while requests are pending, so a runtime that is never
 * closed does not keep the process alive. If the worker dies, every pending and later request
 * rejects with RuntimeError WORKER_FAILED.
 */
export function workerClient(options: EngineOptions, file: string, host: EngineHost): EngineClient {
  const worker = startWorker(options, file);
  const requests = new Requests(worker);
  const slots = new SharedSlots();
  const routes = new RouteNumbers();
  let closing: Promise<void> | undefined;
  worker.on('message', (m: FromWorker) => {
    if (!('kind' in m)) return requests.settle(m);
    if (m.kind === 'report') return host.report(reviveError(m.error));
    void answerNeed(worker, host, m.need, m.pieces);
  });
  worker.on('error', (e) =>
    requests.fail(
      new RuntimeError('WORKER_FAILED', `the inference worker failed: ${messageOf(e)}`, {
        hint: WORKER_HINT,
        cause: e,
      }),
    ),
  );
  worker.on('messageerror', (e) =>
    requests.fail(
      new RuntimeError('WORKER_FAILED', `a message from the inference worker could not be read: ${messageOf(e)}`, {
        cause: e,
      }),
    ),
  );
  worker.on('exit', (code) =>
    requests.fail(
      closing
        ? closedError()
        : new RuntimeError('WORKER_FAILED', `the inference worker exited unexpectedly (code ${code})`, {
            hint: WORKER_HINT,
          }),
    ),
  );

  return {
    mode: 'worker',
    loadPiece(piece) {
      if (!('bytes' in piece)) return requests.send<'load'>({ op: 'load', piece });
      const bytes = movable(piece.bytes);
      return requests.send<'load'>({ op: 'load', piece: { id: piece.id, bytes } }, [bytes.buffer as ArrayBuffer]);
    },
    async run({ pieces, data, dims, at, count, forceRoute }) {
      const slot = slots.take(data.length);
      new Float32Array(slot, 0, data.length).set(data);
      const { route, first } = routes.number(pieces);
      try {
        const body = {
          op: 'run' as const,
          route,
          buffer: slot,
          size: data.length,
          dims: [...dims],
          at,
          ...(count === false ? { count } : {}),
          ...(forceRoute === true ? { forceRoute } : {}),
          ...(first ? { pieces: [...pieces] } : {}),
        };
        return readOutput(await requests.send<'run'>(body), slot, slots);
      } finally {
        slots.give(slot);
      }
    },
    fuse: (pieces) => requests.send<'fuse'>({ op: 'fuse', pieces: [...pieces] }),
    close() {
      closing ??= (async () => {
        if (!requests.failure) await requests.send<'close'>({ op: 'close' }).catch(() => undefined);
        await worker.terminate();
      })();
      return closing;
    },
  };
}

/** Starts the worker thread, unreferenced until a request is pending. */
function startWorker(options: EngineOptions, file: string): Worker {
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
  return worker;
}

/** Requests in flight to the worker, each answered once; all rejected when the worker fails. */
class Requests {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  failure: StitchnetError | undefined;

  constructor(private readonly worker: Worker) {}

  send<Op extends WorkerRequest['op']>(
    body: Extract<RequestBody, { op: Op }>,
    transfer: ArrayBuffer[] = [],
  ): Promise<WorkerResults[Op]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<WorkerResults[Op]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      if (this.pending.size === 1) this.worker.ref();
      try {
        this.worker.postMessage({ ...body, id } as ToWorker, transfer);
      } catch (e) {
        this.forget(id);
        reject(
          new RuntimeError('WORKER_FAILED', `could not send a request to the inference worker: ${messageOf(e)}`, {
            cause: e,
          }),
        );
      }
    });
  }

  settle(reply: Extract<FromWorker, { id: number }>): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.forget(reply.id);
    if (reply.ok) p.resolve(reply.value);
    else p.reject(reviveError(reply.error));
  }

  fail(error: StitchnetError): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
    this.worker.unref();
  }

  private forget(id: number): void {
    this.pending.delete(id);
    if (this.pending.size === 0) this.worker.unref();
  }
}

/**
 * Shared buffers for runs' inputs and outputs. A run takes one at least as large as its input and
 * the largest output seen so far, and gives it back when its result is read; a few free ones are
 * kept, so steady runs allocate nothing, and a burst of concurrent runs leaves nothing behind.
 */
class SharedSlots {
  private readonly free: SharedArrayBuffer[] = [];
  /** Bytes of the largest output so far (outputs that did not fit came back moved, and raise this). */
  private outputBytes = 4096;
  private static readonly KEEP = 4;

  take(inputFloats: number): SharedArrayBuffer {
    const bytes = Math.max(inputFloats * 4, this.outputBytes);
    const i = this.free.findIndex((b) => b.byteLength >= bytes);
    if (i >= 0) return this.free.splice(i, 1)[0] as SharedArrayBuffer;
    return new SharedArrayBuffer(Math.ceil(bytes / 4096) * 4096);
  }

  give(slot: SharedArrayBuffer): void {
    if (this.free.length < SharedSlots.KEEP && slot.byteLength >= this.outputBytes) this.free.push(slot);
  }

  noteOutput(bytes: number): void {
    if (bytes <= this.outputBytes) return;
    this.outputBytes = bytes;
    this.free.length = 0;
  }
}

/** Numbers for routes, so that a route's piece list crosses to the worker once. */
class RouteNumbers {
  private readonly numbers = new Map<string, number>();

  number(pieces: readonly string[]): { route: number; first: boolean } {
    const key = fusedKey(pieces);
    const known = this.numbers.get(key);
    if (known !== undefined) return { route: known, first: false };
    const route = this.numbers.size + 1;
    this.numbers.set(key, route);
    return { route, first: true };
  }
}

/** The run's output as an array the caller owns: copied out of the shared buffer, or the moved one. */
function readOutput(reply: RunReply, slot: SharedArrayBuffer, slots: SharedSlots): RunOutput {
  slots.noteOutput(reply.size * 4);
  const data = reply.data ?? new Float32Array(slot, 0, reply.size).slice();
  return { data, dims: reply.dims, path: reply.path };
}

/** Answers the worker's request for piece bytes (to fuse a route), moving them. */
async function answerNeed(worker: Worker, host: EngineHost, need: number, pieces: string[]): Promise<void> {
  try {
    const moved = (await host.pieceBytes(pieces)).map((p) => ({ id: p.id, bytes: movable(p.bytes) }));
    worker.postMessage(
      { op: 'bytes', need, ok: true, pieces: moved } satisfies ToWorker,
      moved.map((p) => p.bytes.buffer as ArrayBuffer),
    );
  } catch (e) {
    const error = isStitchnetError(e)
      ? e
      : new RuntimeError('WORKER_FAILED', `could not read the pieces to fuse: ${messageOf(e)}`, { cause: e });
    worker.postMessage({ op: 'bytes', need, ok: false, error: error.toJSON() } satisfies ToWorker);
  }
}

/**
 * Piece bytes ready to be transferred to the worker. They are the caller's to give away (read for
 * this call, see {@link EngineClient.loadPiece}), so a view that spans its whole buffer moves
 * without a copy — at DeiT scale that is hundreds of MB not duplicated on the main thread. A view
 * into a larger buffer (e.g. Node's pooled small-file buffers) is copied.
 */
function movable(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer
    ? bytes
    : bytes.slice();
}
