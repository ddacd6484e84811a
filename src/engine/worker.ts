/**
 * Entry of the inference worker (built as its own bundle, `dist/engine/worker.{js,cjs}`).
 *
 * In a worker thread it serves one {@link Engine} over `parentPort`. Started as a process with
 * `--stitchnet-probe <providers…>` it probes execution providers instead (see `probe.ts`).
 */
import { isMainThread, MessageChannel, parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { isStitchnetError, RuntimeError, type StitchnetError } from '../errors.js';
import { Engine } from './engine.js';
import { messageOf } from '../base/message.js';
import { PROBE_FLAG, runProbeCommand } from './probe.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './protocol.js';

function asStitchnetError(e: unknown): StitchnetError {
  if (isStitchnetError(e)) return e;
  return new RuntimeError('WORKER_FAILED', `unexpected error in the inference worker: ${messageOf(e)}`, { cause: e });
}

async function handle(engine: Engine, message: WorkerRequest): Promise<{ value: unknown; transfer: ArrayBuffer[] }> {
  switch (message.op) {
    case 'load':
      await engine.loadPiece(message.piece);
      discard(message.piece.bytes);
      return { value: undefined, transfer: [] };
    case 'run': {
      const out = await engine.run(message.request);
      return { value: out, transfer: [out.data.buffer as ArrayBuffer] };
    }
    case 'fuse': {
      const value = await engine.fuse(message.pieces);
      for (const p of message.pieces) discard(p.bytes);
      return { value, transfer: [] };
    }
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

function serve(port: MessagePort, init: WorkerInit): void {
  const engine = new Engine(init.engine);
  port.on('message', (message: WorkerRequest) => {
    handle(engine, message).then(
      ({ value, transfer }) => port.postMessage({ id: message.id, ok: true, value } satisfies WorkerReply, transfer),
      (e: unknown) => port.postMessage({ id: message.id, ok: false, error: asStitchnetError(e).toJSON() } satisfies WorkerReply),
    );
  });
}

if (!isMainThread && parentPort) {
  serve(parentPort, workerData as WorkerInit);
} else if (process.argv.includes(PROBE_FLAG)) {
  void runProbeCommand(process.argv.slice(process.argv.indexOf(PROBE_FLAG) + 1));
}
