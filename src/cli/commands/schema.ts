/**
 * `stitchnet schema profile`: the JSON Schema of the profile format, for editors
 * (`# yaml-language-server: $schema=./profile.schema.json`) and other tools.
 */
import type { Command } from 'commander';
import { profileJsonSchema } from '../../profiles/index.js';

/** The schema as the shipped `profiles/profile.schema.json` holds it. */
export function profileSchemaText(): string {
  return `${JSON.stringify(profileJsonSchema(), null, 2)}\n`;
}

export function registerSchema(program: Command): void {
  const schema = program.command('schema').description('Print the JSON Schema of a stitchnet file format.');
  schema
    .command('profile')
    .description('The profile format (YAML or JSON), draft 2020-12: stitchnet schema profile > profile.schema.json')
    .action(() => {
      process.stdout.write(profileSchemaText());
    });
}
