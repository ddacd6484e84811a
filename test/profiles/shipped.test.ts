/** Shipped profiles by name: `profile: 'balanced'`, `loadProfile('battery-saver')`, and a clear error for an unknown name. */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProfile, loadProfileSync, resolveProfileFile, shippedProfileNames } from '../../src/profiles/index.js';

const root = path.resolve(import.meta.dirname, '..', '..');
const shipped = readdirSync(path.join(root, 'profiles'))
  .filter((f) => f.endsWith('.yaml'))
  .map((f) => f.replace(/\.yaml$/, ''))
  .sort();

describe('shipped profiles by name', () => {
  it('lists every shipped profile', () => {
    expect(shipped).toEqual(expect.arrayContaining(['balanced', 'battery-saver', 'performance', 'thermal-guard']));
    expect(shippedProfileNames()).toEqual(shipped);
  });

  it('resolves each name to its file and loads it', async () => {
    for (const name of shipped) {
      expect(resolveProfileFile(name)).toBe(path.join(root, 'profiles', `${name}.yaml`));
      expect((await loadProfile(name)).name).toBeTruthy();
    }
    expect(loadProfileSync('balanced')).toEqual(await loadProfile(path.join(root, 'profiles', 'balanced.yaml')));
  });

  it('leaves paths alone', () => {
    expect(resolveProfileFile('profiles/balanced.yaml')).toBe('profiles/balanced.yaml');
    expect(resolveProfileFile('my-profile.yaml')).toBe('my-profile.yaml');
  });

  it('rejects an unknown name with the valid names', () => {
    let err: unknown;
    try {
      loadProfileSync('balance');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'PROFILE_NOT_FOUND', validValues: shipped });
    expect((err as Error).message).toContain('"balanced"');
  });
});
