/**
 * Entry of the inference worker (built as its own bundle, `dist/engine/worker.{js,cjs}`).
 *
 * In a worker thread it serves one {@link Engine} over `parentPort`. Started as a process with
 * `--stitchnet-probe <providers…>` it probes execution providers instead (see `probe.ts`).
 */
import { isMainThread, MessageChannel, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { isStitchnetError, reviveError, RuntimeError, type StitchnetError } from '../errors.js';
import { Engine, type EngineHost, type PieceBytes } from './engine.js';
import { messageOf } from '../base/message.js';
import { PROBE_FLAG, runProbeCommand } from './probe.js';
import type {
  BytesMessage,
  FromWorker,
  RunMessage,
  RunReply,
  ToWorker,
  WorkerInit,
  WorkerRequest,
} from './protocol.js';

function asStitchnetError(e: unknown): StitchnetError {
  if (isStitchnetError(e)) return e;
  return new RuntimeError('WORKER_FAILED', `unexpected error in the inference worker: ${messageOf(e)}`, { cause: e });
}

/** Piece lists of the routes the main thread has named, by number. */
const routes = new Map<number, string[]>();

async function runFromSharedMemory(
  engine: Engine,
  m: RunMessage,
): Promise<{ value: RunReply; transfer: ArrayBuffer[] }> {
  if (m.pieces) routes.set(m.route, m.pieces);
  const pieces = routes.get(m.route);
  if (!pieces)
    throw new RuntimeError('WORKER_FAILED', `the inference worker does not know route ${m.route}`, {
      hint: 'The main thread names a route by number only after sending its pieces once; create a new StitchRuntime (this is a bug, please report it).',
    });
  const out = await engine.run({
    pieces,
    data: new Float32Array(m.buffer, 0, m.size),
    dims: m.dims,
    ...(m.at === undefined ? {} : { at: m.at }),
    ...(m.count === false ? { count: false } : {}),
    ...(m.forceRoute === true ? { forceRoute: true } : {}),
  });
  const size = out.data.length;
  if (size * 4 > m.buffer.byteLength)
    return {
      value: { dims: out.dims, path: out.path, size, data: out.data },
      transfer: [out.data.buffer as ArrayBuffer],
    };
  new Float32Array(m.buffer, 0, size).set(out.data);
  return { value: { dims: out.dims, path: out.path, size }, transfer: [] };
}

async function handle(engine: Engine, message: WorkerRequest): Promise<{ value: unknown; transfer: ArrayBuffer[] }> {
  switch (message.op) {
    case 'load':
      await engine.loadPiece(message.piece);
      if ('bytes' in message.piece) discard(message.piece.bytes);
      return { value: undefined, transfer: [] };
    case 'run':
      return runFromSharedMemory(engine, message);
    case 'fuse':
      await engine.fuse(message.pieces);
      return { value: undefined, transfer: [] };
    case 'close':
      await engine.close();
      return { value: undefined, transfer: [] };
  }
}

/**
 * Frees model bytes once their session exists. The session holds its own copy; the bytes would
 * otherwise sit in this thread's heap until a full GC, which an inference worker rarely triggers
 * (measured: ~0.3× the package size at DeiT scale). Transferring the buffer into a closed channel
 * releases its memory now.
 */
function discard(bytes: Uint8Array): void {
  if (!(bytes.buffer instanceof ArrayBuffer) || bytes.byteLength === 0) return;
  const { port1, port2 } = new MessageChannel();
  port1.postMessage(null, [bytes.buffer]);
  port1.close();
  port2.close();
}

/** The engine's host across the thread boundary: piece bytes asked of the main thread, failures reported to it. */
function remoteHost(port: MessagePort): { host: EngineHost; answer(m: BytesMessage): void } {
  const waiting = new Map<number, { resolve(p: PieceBytes[]): void; reject(e: unknown): void }>();
  let next = 1;
  const host: EngineHost = {
    pieceBytes: (pieces) =>
      new Promise((resolve, reject) => {
        const need = next++;
        waiting.set(need, { resolve, reject });
        port.postMessage({ kind: 'need', need, pieces: [...pieces] } satisfies FromWorker);
      }),
    report: (error) => port.postMessage({ kind: 'report', error: error.toJSON() } satisfies FromWorker),
  };
  const answer = (m: BytesMessage) => {
    const w = waiting.get(m.need);
    waiting.delete(m.need);
    if (!w) return;
    if (m.ok) w.resolve(m.pieces);
    else w.reject(reviveError(m.error));
  };
  return { host, answer };
}

function serve(port: MessagePort, init: WorkerInit): void {
  const { host, answer } = remoteHost(port);
  const engine = new Engine(init.engine, host);
  port.on('message', (message: ToWorker) => {
    if (message.op === 'bytes') return answer(message);
    handle(engine, message).then(
      ({ value, transfer }) => port.postMessage({ id: message.id, ok: true, value } satisfies FromWorker, transfer),
      (e: unknown) =>
        port.postMessage({ id: message.id, ok: false, error: asStitchnetError(e).toJSON() } satisfies FromWorker),
    );
  });
}

if (!isMainThread && parentPort) {
  serve(parentPort, workerData as WorkerInit);
} else if (process.argv.includes(PROBE_FLAG)) {
  void runProbeCommand(process.argv.slice(process.argv.indexOf(PROBE_FLAG) + 1));
}
