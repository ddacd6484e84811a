/**
 * Running pieces for the builder (parity checks, activation capture, evaluation) on the
 * runtime's engine, in this thread: one ORT session per piece, routes run as chains.
 */
import { Engine } from '../engine/engine.js';
import { resolveThreads, type ThreadOptions } from '../engine/options.js';
import type { ProviderName } from '../base/providers.js';

/** A tensor in flight between pieces. */
export interface Batch {
  data: Float32Array;
  dims: number[];
}

/** Runs chains of loaded pieces. */
export interface PieceRunner {
  /** Creates the session of a piece (once per id). */
  load(id: string, bytes: Uint8Array): Promise<void>;
  /** Runs `pieces` in order on `input` and returns the last output. */
  run(pieces: readonly string[], input: Batch): Promise<Batch>;
  close(): Promise<void>;
}

/** A {@link PieceRunner} on an in-process runtime engine. */
export function engineRunner(options: { provider?: ProviderName; threads?: ThreadOptions } = {}): PieceRunner {
  const engine = new Engine({
    session: { provider: options.provider ?? 'cpu', threads: resolveThreads(options.threads) },
    fastPath: false,
  });
  return {
    load: (id, bytes) => engine.loadPiece({ id, bytes }),
    async run(pieces, input) {
      const out = await engine.run({ pieces, data: input.data, dims: input.dims });
      return { data: out.data, dims: out.dims };
    },
    close: () => engine.close(),
  };
}
