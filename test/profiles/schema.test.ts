import { describe, expect, it } from 'vitest';
import { profileJsonSchema } from '../../src/profiles/json-schema.js';
import { SIGNAL_NAMES } from '../../src/signals/names.js';

describe('the profile JSON Schema', () => {
  it('is shipped as profiles/profile.schema.json, identical to the one generated from the zod schema', async () => {
    // Regenerate after a format change with `npx vitest run test/profiles/schema.test.ts -u`.
    await expect(`${JSON.stringify(profileJsonSchema(), null, 2)}\n`).toMatchFileSnapshot(
      '../../profiles/profile.schema.json',
    );
  });

  it('lists the built-in signals for completion and accepts only app.* besides', () => {
    const schema = profileJsonSchema() as {
      $defs: Record<
        string,
        {
          properties: Record<string, unknown>;
          patternProperties: Record<string, unknown>;
          additionalProperties: unknown;
        }
      >;
    };
    const when = schema.$defs.When;
    expect(when).toBeDefined();
    expect(Object.keys(when?.properties ?? {})).toEqual([...SIGNAL_NAMES, 'all', 'any']);
    expect(Object.keys(when?.patternProperties ?? {})).toEqual(['^app\\.[A-Za-z_][\\w.-]*$']);
    expect(when?.additionalProperties).toBe(false);
  });

  it('describes the profile as written: nothing is required', () => {
    const schema = profileJsonSchema() as { required?: string[]; additionalProperties: unknown; title: string };
    expect(schema.required ?? []).toEqual([]);
    expect(schema.additionalProperties).toBe(false);
    expect(schema.title).toBe('stitchnet profile');
  });
});
