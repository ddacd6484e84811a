/**
 * `AbortSignal` support for `create()` and `run()`: an aborted signal rejects with RuntimeError
 * ABORTED whose `cause` is the signal's reason.
 */
import { RuntimeError } from '../errors.js';

/** The error an aborted operation rejects with. */
export function abortedError(signal: AbortSignal, what: string): RuntimeError {
  return new RuntimeError('ABORTED', `${what} was aborted`, {
    cause: signal.reason,
    hint: 'The AbortSignal passed in the options fired; the error cause is its reason.',
  });
}

/** Throws {@link abortedError} when `signal` has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw abortedError(signal, what);
}

/**
 * Settles with `work`, or rejects with {@link abortedError} as soon as `signal` fires, whichever
 * comes first. `work` goes on after an abort: `discard` receives its value then (to release it).
 */
export function raceAbort<T>(
  work: Promise<T>,
  signal: AbortSignal | undefined,
  what: string,
  discard?: (value: T) => unknown,
): Promise<T> {
  if (signal === undefined) return work;
  if (signal.aborted) {
    void work.then(
      (v) => discard?.(v),
      () => undefined,
    );
    return Promise.reject(abortedError(signal, what));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      void work.then(
        (v) => discard?.(v),
        () => undefined,
      );
      reject(abortedError(signal, what));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        if (signal.aborted) return; // onAbort already rejected and discards it
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
