/**
 * The published JSON Schema of the profile format, generated from the zod schema.
 */
import { z } from 'zod';
import { ProfileSchema, WhenSchema } from './schema.js';

/** Pattern of application signal names in the JSON Schema. */
const APP_SIGNAL_PATTERN = '^app\\.[A-Za-z_][\\w.-]*$';

/**
 * The JSON Schema (draft 2020-12) of a profile as written (defaults may be left out). Editors use it
 * through a `# yaml-language-server: $schema=…` line (YAML) or a `"$schema"` key (JSON) for
 * completion, hover help and validation. Cross-field checks (conditions that can never hold,
 * duplicate rule names) are only in the SDK's validator.
 */
export function profileJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(ProfileSchema, {
    io: 'input',
    target: 'draft-2020-12',
    override(ctx) {
      // Condition sets accept the built-in signals (listed) and app.* signals (by pattern), nothing else.
      if ((ctx.zodSchema as unknown) === WhenSchema) {
        const json = ctx.jsonSchema as Record<string, unknown>;
        json.patternProperties = { [APP_SIGNAL_PATTERN]: json.additionalProperties };
        json.additionalProperties = false;
      }
    },
  });
  return { ...schema, title: 'stitchnet profile' };
}
