import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filter, firstValueFrom, map, ReplaySubject, take, toArray } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  loadProfile,
  loadProfileSync,
  profilesInForce,
  watchProfile,
  type ProfileEvent,
} from '../../src/profiles/load.js';

const V1 = 'name: v1\nlimits: { maxCostFraction: 0.5 }\n';
const V2 = 'name: v2\nlimits: { maxCostFraction: 0.8 }\n';
const BAD = 'name: v3\nlimits: { maxCostFraction: 5 }\n';

const view = (e: ProfileEvent) =>
  e.kind === 'loaded'
    ? `loaded ${e.profile.name ?? ''}`
    : `rejected ${e.error.code} in force: ${e.inForce?.name ?? 'none'}`;

describe('watchProfile in virtual time', () => {
  it('reloads valid versions, reports invalid ones and keeps the previous profile in force', () => {
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ hot, expectObservable }) => {
      // What the "file" contains at each change notification.
      const versions: Record<string, string> = { a: V2, b: BAD, c: BAD, d: V1 };
      let content = V1;
      // Editors write in bursts: "a a" is one save, debounced into one reload.
      const changes = hot('100ms a 5ms a 300ms b 300ms c 300ms d', {}).pipe(map((_, i) => i));
      const marks = hot('100ms a 5ms a 300ms b 300ms c 300ms d');
      marks.subscribe((k) => (content = versions[k] ?? content));
      const events = watchProfile('p.yaml', { scheduler: ts, debounceMs: 50, changes, read: () => content });
      expectObservable(events.pipe(map(view)), '^ 2000ms !').toBe('a 155ms b 300ms c 601ms d', {
        a: 'loaded v1',
        b: 'loaded v2',
        c: 'rejected PROFILE_INVALID in force: v2',
        // The second save of the same invalid text is not reported twice.
        d: 'loaded v1',
      });
    });
  });

  it('reports a file that disappeared as not found, keeping the profile', () => {
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ hot, expectObservable }) => {
      let exists = true;
      const changes = hot('10ms a', {});
      changes.subscribe(() => (exists = false));
      const read = () => {
        if (!exists) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
        return V1;
      };
      const events = watchProfile('p.yaml', { scheduler: ts, debounceMs: 5, changes, read });
      expectObservable(events.pipe(map(view)), '^ 100ms !').toBe('a 14ms b', {
        a: 'loaded v1',
        b: 'rejected PROFILE_NOT_FOUND in force: v1',
      });
    });
  });

  it('profilesInForce keeps only the valid versions', () => {
    const ts = new TestScheduler((a, b) => expect(a).toEqual(b));
    ts.run(({ hot, expectObservable }) => {
      let content = V1;
      const changes = hot('10ms a 10ms b', {});
      changes.subscribe(() => (content = content === V1 ? BAD : V2));
      const profiles = watchProfile('p.yaml', { scheduler: ts, debounceMs: 1, changes, read: () => content }).pipe(
        profilesInForce(),
        map((p) => p.name),
      );
      expectObservable(profiles, '^ 100ms !').toBe('a 21ms b', { a: 'v1', b: 'v2' });
    });
  });
});

describe('profile files', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('loads a file and reports a missing one', async () => {
    dir = mkdtempSync(join(tmpdir(), 'stitchnet-profile-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(file, V1);
    expect((await loadProfile(file)).name).toBe('v1');
    expect(loadProfileSync(file).name).toBe('v1');
    await expect(loadProfile(join(dir, 'nope.yaml'))).rejects.toMatchObject({ code: 'PROFILE_NOT_FOUND' });
    writeFileSync(file, BAD);
    await expect(loadProfile(file)).rejects.toMatchObject({
      code: 'PROFILE_INVALID',
      file,
      field: 'limits.maxCostFraction',
    });
  });

  it('hot-reloads through fs.watch: a valid edit, an invalid one (old stays), a fix', async () => {
    dir = mkdtempSync(join(tmpdir(), 'stitchnet-profile-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(file, V1);
    const events = new ReplaySubject<ProfileEvent>();
    const sub = watchProfile(file, { debounceMs: 20 }).subscribe(events);
    const nth = (n: number) => firstValueFrom(events.pipe(take(n), toArray()));
    try {
      expect((await nth(1)).map(view)).toEqual(['loaded v1']);
      writeFileSync(file, BAD);
      await firstValueFrom(events.pipe(filter((e) => e.kind === 'rejected')));
      writeFileSync(file, V2);
      await firstValueFrom(events.pipe(filter((e) => e.kind === 'loaded' && e.profile.name === 'v2')));
      expect((await nth(3)).map(view)).toEqual(['loaded v1', 'rejected PROFILE_INVALID in force: v1', 'loaded v2']);
    } finally {
      sub.unsubscribe();
    }
  });
});
