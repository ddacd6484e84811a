/**
 * The inference engine: one ORT session per piece, routes run as chains of those sessions, and a
 * small LRU of fused sessions (a route's pieces composed into one graph) as the fast path.
 *
 * The engine knows nothing about stitch ids or manifests: a request names the pieces to run, in
 * order, and the caller resolves them when the request is made. That is what lets a run that is
 * already in flight finish on the route it started with while the active stitch changes.
 * It runs wherever its sessions live: in the inference worker (the default) or in-process.
 */
import { RuntimeError } from '../errors.js';
import { composeModels, decodeModel, encodeModel } from '../onnx/index.js';
import { OrtSession, type OrtTensor, type SessionSettings } from './ort.js';

/** One inference request: the pieces of a route, in execution order, and the input. */
export interface RunRequest {
  pieces: readonly string[];
  data: Float32Array;
  dims: readonly number[];
}

/** What a run produced and which path ran it. */
export interface RunOutput {
  data: Float32Array;
  dims: number[];
  path: 'route' | 'fused';
}

/** Bytes of one piece. */
export interface PieceBytes {
  id: string;
  bytes: Uint8Array;
}

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
  /** How many fused sessions to keep (least recently used goes first). */
  fusedCacheSize: number;
}

/** Piece sessions, route execution and fused sessions. */
export class Engine {
  private readonly pieces = new Map<string, OrtSession>();
  /** Insertion order is recency order: a hit is moved to the end. */
  private readonly fused = new Map<string, FusedEntry>();
  private readonly running = new Set<Promise<unknown>>();
  private closed = false;

  constructor(private readonly options: EngineOptions) {}

  /** Creates the session of one piece (once; loading the same id again does nothing). */
  async loadPiece(piece: PieceBytes): Promise<void> {
    this.assertOpen();
    if (this.pieces.has(piece.id)) return;
    const session = await OrtSession.create(piece.bytes, this.options.session, `piece "${piece.id}"`);
    if (this.closed) {
      await session.release();
      return;
    }
    this.pieces.set(piece.id, session);
  }

  /**
   * Runs a route: on its fused session when one is ready, else piece by piece, feeding each
   * output tensor straight into the next session.
   */
  run(request: RunRequest): Promise<RunOutput> {
    if (this.closed) return Promise.reject(closedError());
    const job = this.execute(request);
    this.running.add(job);
    const forget = () => this.running.delete(job);
    job.then(forget, forget);
    return job;
  }

  private async execute({ pieces, data, dims }: RunRequest): Promise<RunOutput> {
    const entry = this.fused.get(fusedKey(pieces));
    if (entry) {
      this.touch(fusedKey(pieces), entry);
      entry.users++;
      try {
        const y = await entry.session.run(entry.session.tensor(data, dims), 'the fused route');
        return output(y, 'fused');
      } finally {
        entry.users--;
        if (entry.evicted && entry.users === 0) await entry.session.release();
      }
    }
    const sessions = pieces.map((id) => {
      const s = this.pieces.get(id);
      if (!s) {
        throw new RuntimeError('INFERENCE_FAILED', `piece "${id}" is not loaded`, {
          validValues: [...this.pieces.keys()],
          hint: 'Load every piece of a route before running it.',
        });
      }
      return [id, s] as const;
    });
    const first = sessions[0];
    if (!first) throw new RuntimeError('INFERENCE_FAILED', 'a route needs at least one piece', {});
    let x: OrtTensor = first[1].tensor(data, dims);
    for (const [id, s] of sessions) x = await s.run(x, `piece "${id}"`);
    return output(x, 'route');
  }

  /** Whether the route of these pieces has a fused session. */
  hasFused(pieces: readonly string[]): boolean {
    return this.fused.has(fusedKey(pieces));
  }

  /**
   * Composes a route's pieces into one graph and creates its session, keeping at most
   * `fusedCacheSize` of them. Returns the keys of the fused routes evicted to make room.
   */
  async fuse(pieces: readonly PieceBytes[]): Promise<{ evicted: string[] }> {
    this.assertOpen();
    const ids = pieces.map((p) => p.id);
    const key = fusedKey(ids);
    const existing = this.fused.get(key);
    if (existing) {
      this.touch(key, existing);
      return { evicted: [] };
    }
    const model = composeModels(pieces.map((p) => decodeModel(p.bytes, p.id)));
    const session = await OrtSession.create(encodeModel(model), this.options.session, `the fused route ${ids.join(' → ')}`);
    if (this.closed) {
      await session.release();
      return { evicted: [] };
    }
    this.fused.set(key, { session, users: 0, evicted: false });
    const evicted: string[] = [];
    for (const [k, entry] of this.fused) {
      if (this.fused.size <= this.options.fusedCacheSize) break;
      this.fused.delete(k);
      evicted.push(k);
      entry.evicted = true;
      if (entry.users === 0) await entry.session.release();
    }
    return { evicted };
  }

  /** Waits for the runs in flight, then releases every session. Later calls throw RUNTIME_CLOSED. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.running]);
    const sessions = [...this.pieces.values(), ...[...this.fused.values()].map((e) => e.session)];
    this.pieces.clear();
    this.fused.clear();
    await Promise.allSettled(sessions.map((s) => s.release()));
  }

  private touch(key: string, entry: FusedEntry): void {
    this.fused.delete(key);
    this.fused.set(key, entry);
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

/** Copies an output tensor into an array the caller owns (and may transfer to another thread). */
function output(y: OrtTensor, path: RunOutput['path']): RunOutput {
  return { data: new Float32Array(y.data as Float32Array), dims: [...y.dims], path };
}
