/**
 * Windows: systeminformation answers battery and temperature calls by starting PowerShell, once per
 * call (three times per battery reading) unless a persistent PowerShell is running. While any
 * system-source subscription is live, one long-lived PowerShell serves them all; it is released
 * when the last subscription ends. Other platforms do not use PowerShell and are left alone.
 */
import { Observable } from 'rxjs';

/** Starting and releasing the persistent PowerShell (systeminformation's `powerShellStart`/`powerShellRelease`). */
export interface PowerShellControl {
  start(): void | Promise<void>;
  release(): void | Promise<void>;
}

/** The control of systeminformation itself, loaded on first use. */
export function systeminformationPowerShell(
  load: () => Promise<{ powerShellStart(): void; powerShellRelease(): void }>,
): PowerShellControl {
  return {
    start: async () => (await load()).powerShellStart(),
    release: async () => (await load()).powerShellRelease(),
  };
}

/** Counts live subscriptions and starts/releases PowerShell on the first/last one. */
export class PowerShellLease {
  private users = 0;
  private running = false;
  /** Serialises start and release, so that a release never overtakes the start it follows. */
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly control: PowerShellControl) {}

  acquire(): void {
    if (++this.users !== 1) return;
    this.enqueue(async () => {
      if (this.users === 0 || this.running) return;
      this.running = true;
      await this.control.start();
    });
  }

  release(): void {
    if (this.users === 0 || --this.users !== 0) return;
    this.enqueue(async () => {
      if (this.users > 0 || !this.running) return;
      this.running = false;
      await this.control.release();
    });
  }

  /** Resolves when every pending start or release has run (for tests and orderly shutdown). */
  settled(): Promise<void> {
    return this.queue;
  }

  private enqueue(step: () => void | Promise<void>): void {
    // A PowerShell that cannot start or stop only costs speed: the probes still work without it.
    this.queue = this.queue.then(step).catch(() => undefined);
  }
}

/** `source`, holding the lease while subscribed, on Windows only. */
export function withPowerShell<T>(
  platform: NodeJS.Platform,
  lease: PowerShellLease | undefined,
  source: Observable<T>,
): Observable<T> {
  if (platform !== 'win32' || lease === undefined) return source;
  return new Observable<T>((subscriber) => {
    lease.acquire();
    const subscription = source.subscribe(subscriber);
    return () => {
      subscription.unsubscribe();
      lease.release();
    };
  });
}
