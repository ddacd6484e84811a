/**
 * The inference engine: one ORT session per piece, routes run as chains of those sessions, and the
 * fast path: a route that keeps running is composed into one fused session, kept in a small LRU
 * within a memory budget.
 *
 * The engine knows nothing about stitch ids or manifests: a request names the pieces to run, in
 * order, and the caller resolves them when the request is made. That is what lets a run that is
 * already in flight finish on the route it started with while the active stitch changes. The
 * engine sees every run, so it alone decides when to fuse (see `fast-path.ts`); it keeps no model
 * bytes and asks its host for a route's pieces when it fuses them.
 * It runs wherever its sessions live: in the inference worker (the default) or in-process.
 */
import { performance } from 'node:perf_hooks';
import { isStitchnetError, OptionError, RuntimeError, type StitchnetError } from '../errors.js';
import { composeModels, decodeModel, encodeModel } from '../onnx/index.js';
import { FastPathBook, MB, type FastPathPolicy } from './fast-path.js';
import { messageOf } from '../base/message.js';
import { OrtSession, type OrtTensor, type SessionSettings } from './ort.js';

/** One inference request: the pieces of a route, in execution order, and the input. */
export interface RunRequest {
  pieces: readonly string[];
  data: Float32Array;
  dims: readonly number[];
  /** When the caller made the request, by its clock (ms): the fast path's streak timing. Default: now. */
  at?: number;
  /**
   * `false`: the run does not count for the fast path (a calibration's runs: measuring a stitch
   * says nothing about which one the app keeps running). Default `true`.
   */
  count?: boolean;
  /** `true`: runs the route piece by piece even where it has a fused session (a calibration of the route). */
  forceRoute?: boolean;
}

/** How a run ran: its route piece by piece, or the route's fused session (the fast path). */
export type RunPath = 'route' | 'fused';

/** What a run produced and which path ran it. */
export interface RunOutput {
  /** The output, owned by the caller. */
  data: Float32Array;
  dims: number[];
  path: RunPath;
}

/** Bytes of one piece. */
export interface PieceBytes {
  id: string;
  bytes: Uint8Array;
}

/** A piece to load: its bytes, or its ONNX file (read by onnxruntime itself) and that file's size. */
export type PieceSource = PieceBytes | { id: string; file: string; size: number };

/** What an engine needs from whoever created it. */
export interface EngineHost {
  /** The bytes of these pieces (read again when fusing them: the engine keeps no model bytes). */
  pieceBytes(ids: readonly string[]): Promise<PieceBytes[]>;
  /** A failure in the background that failed no run (a fused session that could not be built). */
  report(error: StitchnetError): void;
}

/** The host of an engine that never fuses (tools): it has no bytes to give and nothing to report to. */
const NO_HOST: EngineHost = {
  pieceBytes: () =>
    Promise.reject(new RuntimeError('INFERENCE_FAILED', 'this engine has no host to read piece bytes from', {})),
  report: () => undefined,
};

/** The key of a fused session: its pieces in order. */
export function fusedKey(pieces: readonly string[]): string {
  return pieces.join('\n');
}

interface FusedEntry {
  session: OrtSession;
  /** Runs using the session right now; an evicted session is released when this drops to 0. */
  users: number;
  evicted: boolean;
}

/** Options of {@link Engine}. */
export interface EngineOptions {
  session: SessionSettings;
  /** When to fuse a route, and what to keep; `false`: never fuse. */
  fastPath: FastPathPolicy | false;
}

/** The output as an array the caller owns (onnxruntime-node returns a fresh copy of every output). */
function output(y: OrtTensor, path: RunOutput['path']): RunOutput {
  return { data: y.data as Float32Array, dims: [...y.dims], path };
}

/** Piece sessions, route execution and fused sessions. */
export class Engine {
  private readonly pieces = new Map<string, OrtSession>();
  /** Weight bytes of each piece (its model size): what a fused session of it holds again. */
  private readonly weights = new Map<string, number>();
  private readonly fused = new Map<string, FusedEntry>();
  private readonly fusing = new Map<string, Promise<void>>();
  private readonly book: FastPathBook | undefined;
  private readonly running = new Set<Promise<unknown>>();
  /** Runs execute one after another (ORT blocks this thread anyway), so the input buffer is never shared. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Where an input in shared memory is copied for onnxruntime (see {@link Engine.ownInput}). */
  private inputBuffer: ArrayBuffer | undefined;
  private closed = false;

  constructor(
    private readonly options: EngineOptions,
    private readonly host: EngineHost = NO_HOST,
  ) {
    this.book = options.fastPath === false ? undefined : new FastPathBook(options.fastPath);
  }

  /** Creates the session of one piece (once; loading the same id again does nothing). */
  async loadPiece(piece: PieceSource): Promise<void> {
    this.assertOpen();
    if (this.pieces.has(piece.id)) return;
    const model = 'bytes' in piece ? piece.bytes : piece.file;
    const session = await OrtSession.create(model, this.options.session, `piece "${piece.id}"`);
    if (this.closed) {
      await session.release();
      return;
    }
    this.pieces.set(piece.id, session);
    this.weights.set(piece.id, 'bytes' in piece ? piece.bytes.byteLength : piece.size);
  }

  /**
   * Runs a route: on its fused session when one is ready, else piece by piece, feeding each
   * output tensor straight into the next session. Then counts the run for the fast path.
   */
  run(request: RunRequest): Promise<RunOutput> {
    if (this.closed) return Promise.reject(closedError());
    const at = request.at ?? performance.now();
    const key = fusedKey(request.pieces);
    const job = this.queue.then(async () => {
      const t0 = performance.now();
      const out = await this.execute(request, key);
      if (request.count !== false) this.noteRun(request.pieces, key, at, performance.now() - t0);
      return out;
    });
    this.queue = job.catch(() => undefined);
    this.running.add(job);
    const forget = () => this.running.delete(job);
    job.then(forget, forget);
    return job;
  }

  private async execute({ pieces, data, dims, forceRoute }: RunRequest, key: string): Promise<RunOutput> {
    const entry = forceRoute === true ? undefined : this.fused.get(key);
    if (entry) {
      this.book?.touch(key);
      entry.users++;
      try {
        return output(
          await entry.session.run(entry.session.tensor(this.ownInput(data), dims), 'the fused route'),
          'fused',
        );
      } finally {
        entry.users--;
        if (entry.evicted && entry.users === 0) await entry.session.release();
      }
    }
    const sessions = this.sessionsOf(pieces);
    const first = sessions[0];
    if (!first) throw new RuntimeError('INFERENCE_FAILED', 'a route needs at least one piece', {});
    let x: OrtTensor = first[1].tensor(this.ownInput(data), dims);
    for (const [id, s] of sessions) x = await s.run(x, `piece "${id}"`);
    return output(x, 'route');
  }

  private sessionsOf(pieces: readonly string[]): (readonly [string, OrtSession])[] {
    return pieces.map((id) => {
      const s = this.pieces.get(id);
      if (!s) {
        throw new RuntimeError('INFERENCE_FAILED', `piece "${id}" is not loaded`, {
          validValues: [...this.pieces.keys()],
          hint: 'Load every piece of a route before running it.',
        });
      }
      return [id, s] as const;
    });
  }

  /**
   * The input as onnxruntime takes it. It reads only ordinary array buffers, so an input in shared
   * memory (the worker's requests) is copied into one buffer the engine keeps, at the moment its
   * run starts.
   */
  private ownInput(data: Float32Array): Float32Array {
    if (!(data.buffer instanceof SharedArrayBuffer)) return data;
    if (!this.inputBuffer || this.inputBuffer.byteLength < data.byteLength)
      this.inputBuffer = new ArrayBuffer(data.byteLength);
    const own = new Float32Array(this.inputBuffer, 0, data.length);
    own.set(data);
    return own;
  }

  /**
   * Composes a route's pieces into one graph and creates its session (asking the host for their
   * bytes), keeping at most the fast path's `cacheSize` fused sessions within its memory budget.
   * Resolves when later runs of that route use it.
   *
   * @throws OptionError OPTION_INVALID when the fast path is off or the route alone is over the
   *   memory budget; RuntimeError SESSION_CREATE_FAILED, RUNTIME_CLOSED; OnnxError
   */
  fuse(pieces: readonly string[]): Promise<void> {
    const key = fusedKey(pieces);
    const inProgress = this.fusing.get(key);
    if (inProgress) return inProgress;
    const job = this.build(pieces, key).finally(() => this.fusing.delete(key));
    this.fusing.set(key, job);
    return job;
  }

  private async build(pieces: readonly string[], key: string): Promise<void> {
    this.assertOpen();
    const book = this.fastPathBook();
    if (book.isReady(key)) return book.touch(key);
    this.sessionsOf(pieces);
    const bytes = this.weightOf(pieces);
    if (!book.fits(bytes)) {
      book.refuse(key, 'over-budget');
      throw overBudget(bytes, book.policy.memoryBudgetBytes);
    }
    book.startBuilding(key);
    try {
      const models = (await this.host.pieceBytes(pieces)).map((p) => decodeModel(p.bytes, p.id));
      const session = await OrtSession.create(
        encodeModel(composeModels(models)),
        this.options.session,
        `the fused route ${pieces.join(' → ')}`,
      );
      if (this.closed) return void (await session.release());
      this.fused.set(key, { session, users: 0, evicted: false });
      for (const k of book.admit(key, bytes)) await this.evict(k);
    } catch (e) {
      book.refuse(key, 'failed');
      if (isStitchnetError(e)) throw e;
      throw new RuntimeError(
        'SESSION_CREATE_FAILED',
        `could not fuse the route ${pieces.join(' → ')}: ${messageOf(e)}`,
        {
          cause: e,
          hint: 'The route keeps running piece by piece. Check that the package files are readable, or pass fastPath: false.',
        },
      );
    }
  }

  private async evict(key: string): Promise<void> {
    const entry = this.fused.get(key);
    if (!entry) return;
    this.fused.delete(key);
    entry.evicted = true;
    if (entry.users === 0) await entry.session.release();
  }

  /** Counts a finished run and, when the fast path says so, fuses its route in the background. */
  private noteRun(pieces: readonly string[], key: string, at: number, ms: number): void {
    if (!this.book || this.closed || pieces.length < 2) return;
    if (!this.book.noteRun(key, at, ms)) return;
    // A route over the memory budget is not an error, only not fused: it is not tried again.
    if (!this.book.fits(this.weightOf(pieces))) this.book.refuse(key, 'over-budget');
    else {
      this.fuse(pieces).catch((e: StitchnetError) => {
        if (!this.closed) this.host.report(e);
      });
    }
  }

  private weightOf(pieces: readonly string[]): number {
    return pieces.reduce((n, id) => n + (this.weights.get(id) ?? 0), 0);
  }

  private fastPathBook(): FastPathBook {
    if (!this.book) {
      throw new OptionError('OPTION_INVALID', 'the fast path is off, so no fused session can be kept', {
        option: 'fastPath',
        hint: 'Create the runtime without fastPath: false.',
      });
    }
    return this.book;
  }

  /** Waits for the runs and fuses in flight, then releases every session. Later calls throw RUNTIME_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.running, ...this.fusing.values()]);
    const sessions = [...this.pieces.values(), ...[...this.fused.values()].map((e) => e.session)];
    this.pieces.clear();
    this.fused.clear();
    await Promise.allSettled(sessions.map((s) => s.release()));
  }

  private assertOpen(): void {
    if (this.closed) throw closedError();
  }
}

/** The error for any call after `close()`. */
export function closedError(): RuntimeError {
  return new RuntimeError('RUNTIME_CLOSED', 'the runtime is closed', {
    hint: 'Create a new StitchRuntime; close() releases every session for good.',
  });
}

function overBudget(bytes: number, budget: number): OptionError {
  return new OptionError(
    'OPTION_INVALID',
    `a fused session of this route would hold ${(bytes / MB).toFixed(1)} MB of weights, over the fast path's memory budget of ${(budget / MB).toFixed(1)} MB`,
    {
      option: 'fastPath.memoryBudgetMB',
      hint: 'Raise fastPath.memoryBudgetMB to fuse routes this large.',
    },
  );
}
