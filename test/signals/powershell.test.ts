/** Windows: one long-lived PowerShell for systeminformation while system readings are subscribed. */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { PowerShellLease, withPowerShell } from '../../src/signals/powershell.js';

function fakeControl() {
  const calls: string[] = [];
  return { calls, control: { start: () => void calls.push('start'), release: () => void calls.push('release') } };
}

describe('PowerShell lease', () => {
  it('starts one PowerShell for any number of subscriptions and releases it after the last', async () => {
    const { calls, control } = fakeControl();
    const lease = new PowerShellLease(control);
    const source = new Subject<number>();
    const seen: number[] = [];
    const a = withPowerShell('win32', lease, source).subscribe((v) => seen.push(v));
    const b = withPowerShell('win32', lease, source).subscribe((v) => seen.push(v));
    source.next(1);
    await lease.settled();
    expect(calls).toEqual(['start']);
    a.unsubscribe();
    await lease.settled();
    expect(calls).toEqual(['start']);
    b.unsubscribe();
    await lease.settled();
    expect(calls).toEqual(['start', 'release']);
    expect(seen).toEqual([1, 1]);
    withPowerShell('win32', lease, source).subscribe().unsubscribe();
    await lease.settled();
    // Subscribed and gone before the start ran: neither runs again, and nothing stays up.
    expect(calls).toEqual(['start', 'release']);
  });

  it('leaves other platforms alone', async () => {
    const { calls, control } = fakeControl();
    const lease = new PowerShellLease(control);
    for (const platform of ['linux', 'darwin'] as const)
      withPowerShell(platform, lease, new Subject<number>()).subscribe().unsubscribe();
    await lease.settled();
    expect(calls).toEqual([]);
  });

  it('shrugs off a PowerShell that cannot start', async () => {
    const lease = new PowerShellLease({
      start: () => Promise.reject(new Error('no powershell')),
      release: () => undefined,
    });
    const sub = withPowerShell('win32', lease, new Subject<number>()).subscribe();
    await expect(lease.settled()).resolves.toBeUndefined();
    sub.unsubscribe();
  });
});
