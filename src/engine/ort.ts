/**
 * The one place that touches onnxruntime-node.
 *
 * ORT is loaded lazily (`import()` on first use), so that a process whose sessions live in the
 * inference worker never loads the native addon on its main thread. Every session is created
 * from in-memory bytes with full graph optimisation and thread spinning turned off: with
 * spinning on, each piece session's intra-op pool keeps a core busy after its call returns, which
 * makes a chain of sessions up to 2.5× slower and burns CPU between runs.
 */
import { createRequire } from 'node:module';
import type * as OrtModule from 'onnxruntime-node';
import { messageOf } from '../base/message.js';
import { RuntimeError } from '../errors.js';
import type { ProviderName } from '../base/providers.js';

type Ort = typeof OrtModule;
/** A tensor as ORT hands it out (CPU memory, float32 here). */
export type OrtTensor = OrtModule.Tensor;

/** Thread counts of one session's pools. */
export interface ThreadSettings {
  /** Threads of the intra-op pool (the calling thread included). */
  intraOp: number;
  /** Threads of the inter-op pool (used only by parallel execution mode, kept small). */
  interOp: number;
  /** Let idle pool threads spin (default off: see the module comment). */
  spinning?: boolean | undefined;
}

/** How every session of a runtime is created. */
export interface SessionSettings {
  provider: ProviderName;
  threads: ThreadSettings;
  /**
   * Keep onnxruntime's CPU memory arena: activation buffers stay reserved between runs, grown to
   * the largest batch seen. Default `false`: they are freed after each run, for far less resident
   * memory; `npm run bench` measures the cost per run (none at small batches, possibly some for
   * large ones: docs/performance.md).
   */
  cpuMemArena?: boolean | undefined;
  /**
   * Let onnxruntime's CPU kernels keep a prepacked copy of the MatMul/Gemm weights (its default,
   * `true`). `false`: the weights of a piece kept as external data then stay file-backed pages
   * that onnxruntime maps (anonymous memory 0.2× the weights instead of 1.2× at DeiT scale), at a
   * cost per run (DeiT-S 1.12× at batch 1; docs/performance.md).
   */
  prepackWeights?: boolean | undefined;
}

let loading: Promise<Ort> | undefined;

/**
 * Loads onnxruntime-node once per thread. Its native logger is silenced by default: errors reach
 * the caller as exceptions, and ORT's own log lines would otherwise go straight to stderr. The
 * level of the first call wins.
 */
export function loadOrt(logLevel: 'error' | 'fatal' = 'fatal'): Promise<Ort> {
  loading ??= import('onnxruntime-node').then((m) => {
    // onnxruntime-node is CommonJS: depending on the loader its API is the namespace or its default.
    const ort = ((m as unknown as { default?: Ort }).default ?? m) as Ort;
    ort.env.logLevel = logLevel;
    return ort;
  });
  return loading;
}

/**
 * The installed onnxruntime-node's version (from its package.json, without loading the native
 * addon); `'unknown'` when it cannot be read.
 */
export function ortVersion(): string {
  try {
    const pkg: unknown = createRequire(import.meta.url)('onnxruntime-node/package.json');
    const version = (pkg as { version?: unknown }).version;
    return typeof version === 'string' ? version : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** Names of the execution providers this platform's onnxruntime-node binary registers. */
export async function backendNames(): Promise<string[]> {
  const ort = await loadOrt();
  return ort.listSupportedBackends().map((b) => b.name);
}

/** The session options every stitchnet session uses. */
export function sessionOptions(settings: SessionSettings): OrtModule.InferenceSession.SessionOptions {
  const spin = settings.threads.spinning === true ? '1' : '0';
  const prepack = settings.prepackWeights !== false;
  return {
    executionProviders: [settings.provider],
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    intraOpNumThreads: settings.threads.intraOp,
    interOpNumThreads: settings.threads.interOp,
    logSeverityLevel: 4,
    enableCpuMemArena: settings.cpuMemArena ?? false,
    // Flattened by the binding to the config keys `session.intra_op.allow_spinning` and
    // `session.inter_op.allow_spinning`.
    // `session.disable_prepacking` likewise.
    extra: {
      session: {
        intra_op: { allow_spinning: spin },
        inter_op: { allow_spinning: spin },
        ...(prepack ? {} : { disable_prepacking: '1' }),
      },
    },
  };
}

/** One ORT session with a single float32 input and a single output. */
export class OrtSession {
  private constructor(
    private readonly ort: Ort,
    private readonly session: OrtModule.InferenceSession,
    /** Name of the graph input. */
    readonly inputName: string,
    /** Name of the graph output. */
    readonly outputName: string,
  ) {}

  /**
   * Creates a session from ONNX bytes, or from a file that onnxruntime reads itself (no copy of the
   * model passes through JavaScript). `label` names the model in errors (a piece id or a route).
   * Throws RuntimeError SESSION_CREATE_FAILED.
   */
  static async create(model: Uint8Array | string, settings: SessionSettings, label: string): Promise<OrtSession> {
    const ort = await loadOrt();
    let session: OrtModule.InferenceSession;
    try {
      const options = sessionOptions(settings);
      session =
        typeof model === 'string'
          ? await ort.InferenceSession.create(model, options)
          : await ort.InferenceSession.create(model, options);
    } catch (e) {
      throw new RuntimeError(
        'SESSION_CREATE_FAILED',
        `onnxruntime could not create a session for ${label} on provider "${settings.provider}": ${messageOf(e)}`,
        {
          hint:
            settings.provider === 'cpu'
              ? 'Check that the model is a valid ONNX file (opset ≤ 21).'
              : "Try providers: ['cpu'].",
          cause: e,
        },
      );
    }
    const [input, ...moreInputs] = session.inputNames;
    const [output, ...moreOutputs] = session.outputNames;
    if (input === undefined || output === undefined || moreInputs.length > 0 || moreOutputs.length > 0) {
      await session.release();
      throw new RuntimeError(
        'SESSION_CREATE_FAILED',
        `${label} must have exactly one input and one output, it has inputs [${session.inputNames.join(', ')}] and outputs [${session.outputNames.join(', ')}]`,
        {
          hint: 'Pieces are single-input, single-output graphs; rebuild the package.',
        },
      );
    }
    return new OrtSession(ort, session, input, output);
  }

  /** Wraps a float32 array as a tensor (no copy). */
  tensor(data: Float32Array, dims: readonly number[]): OrtTensor {
    return new this.ort.Tensor('float32', data, dims);
  }

  /**
   * Runs the graph on one tensor and returns its output tensor (onnxruntime-node 1.30 returns a
   * fresh copy of it even when handed a preallocated one in `fetches`, so none is: measured no
   * faster either). Throws RuntimeError INFERENCE_FAILED.
   */
  async run(input: OrtTensor, label: string): Promise<OrtTensor> {
    let out: OrtModule.InferenceSession.ReturnType;
    try {
      out = await this.session.run({ [this.inputName]: input });
    } catch (e) {
      throw new RuntimeError(
        'INFERENCE_FAILED',
        `inference failed in ${label} on input [${input.dims.join(', ')}]: ${messageOf(e)}`,
        {
          hint: 'Check the input shape against the package input.',
          cause: e,
        },
      );
    }
    const y = out[this.outputName];
    if (y === undefined || y.type !== 'float32') {
      throw new RuntimeError('INFERENCE_FAILED', `${label} returned no float32 output "${this.outputName}"`, {});
    }
    return y;
  }

  /** Frees the native session. */
  async release(): Promise<void> {
    await this.session.release();
  }
}
