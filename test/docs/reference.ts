/**
 * The generated parts of the reference in docs/: the profile keys (from the zod schema's
 * descriptions and defaults) and each CLI command's flags (from the commander definitions). Each
 * lives in its doc between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->`;
 * test/docs/reference.test.ts fails when one differs, and rewrites them with UPDATE_DOCS=1.
 */
import { Command, type Option } from 'commander';
import { registerCommands } from '../../src/cli/commands/index.js';
import { profileJsonSchema } from '../../src/profiles/json-schema.js';

type Json = Record<string, unknown>;

const cell = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** A short type: `integer ≥ 0`, `cuda \| cpu`, `list of …`. */
function typeOf(s: Json): string {
  if (typeof s.$ref === 'string') return s.$ref.endsWith('/When') ? 'conditions' : 'object';
  if (Array.isArray(s.enum)) return s.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  if (Array.isArray(s.anyOf)) return (s.anyOf as Json[]).map(typeOf).join(', or ');
  if (s.type === 'array') {
    if (Array.isArray(s.prefixItems)) return `[${(s.prefixItems as Json[]).map(typeOf).join(', ')}]`;
    return `list of ${typeOf((s.items ?? {}) as Json)}`;
  }
  if (s.type === 'object')
    return s.additionalProperties && typeof s.additionalProperties === 'object' && !s.properties
      ? `map of ${typeOf(s.additionalProperties as Json)}`
      : 'object';
  const bounds = [
    typeof s.minimum === 'number'
      ? `≥ ${s.minimum}`
      : typeof s.exclusiveMinimum === 'number'
        ? `> ${s.exclusiveMinimum}`
        : '',
    typeof s.maximum === 'number' && s.maximum < Number.MAX_SAFE_INTEGER
      ? `≤ ${s.maximum}`
      : typeof s.exclusiveMaximum === 'number'
        ? `< ${s.exclusiveMaximum}`
        : '',
  ].filter(Boolean);
  return bounds.length > 0 ? `${String(s.type ?? 'any')} ${bounds.join(', ')}` : String(s.type ?? 'any');
}

function defaultOf(s: Json): string {
  if (!('default' in s)) return '';
  const d = s.default;
  if (d !== null && typeof d === 'object' && Object.keys(d).length === 0) return '';
  return `\`${JSON.stringify(d)}\``;
}

/** One row per key of the profile format, nested keys dotted (`switching.minDwellMs`, `rules[].when`). */
export function profileKeysTable(): string {
  const rows: string[] = ['| key | type | default | meaning |', '|---|---|---|---|'];
  const walk = (props: Record<string, Json>, prefix: string) => {
    for (const [key, s] of Object.entries(props)) {
      if (key === '$schema') continue;
      const name = `${prefix}${key}`;
      rows.push(`| \`${name}\` | ${typeOf(s)} | ${defaultOf(s)} | ${cell(String(s.description ?? ''))} |`);
      if (s.type === 'object' && s.properties) walk(s.properties as Record<string, Json>, `${name}.`);
      const items = s.items as Json | undefined;
      if (s.type === 'array' && items?.type === 'object' && items.properties)
        walk(items.properties as Record<string, Json>, `${name}[].`);
    }
  };
  walk((profileJsonSchema() as { properties: Record<string, Json> }).properties, '');
  return rows.join('\n');
}

/** Every leaf command of `stitchnet` (`build`, `synth vit`, …) with its usage and option table. */
export function cliTables(): Map<string, string> {
  const program = new Command('stitchnet');
  registerCommands(program);
  const out = new Map<string, string>();
  const visit = (cmd: Command, path: string[]) => {
    if (cmd.commands.length > 0) {
      for (const sub of cmd.commands) visit(sub, [...path, sub.name()]);
      return;
    }
    const rows = [
      `\`stitchnet ${path.join(' ')} ${cmd.usage()}\``,
      '',
      '| option | meaning | default |',
      '|---|---|---|',
    ];
    for (const o of (cmd.options as Option[]).filter((opt) => !opt.hidden)) {
      const dflt =
        o.defaultValue === undefined || o.defaultValue === false ? '' : `\`${JSON.stringify(o.defaultValue)}\``;
      rows.push(`| \`${cell(o.flags)}\` | ${cell(o.description)}${o.mandatory ? ' (required)' : ''} | ${dflt} |`);
    }
    out.set(`cli-${path.join('-')}`, rows.join('\n'));
  };
  for (const cmd of program.commands) visit(cmd, [cmd.name()]);
  return out;
}

/** Replaces (or checks) every generated block of `text`; returns the new text and the block names found. */
export function fillBlocks(text: string, blocks: ReadonlyMap<string, string>): { text: string; found: string[] } {
  const found: string[] = [];
  const filled = text.replace(
    /<!-- generated:([\w-]+) -->\n[\s\S]*?<!-- \/generated:\1 -->/g,
    (whole, name: string) => {
      const body = blocks.get(name);
      if (body === undefined) return whole;
      found.push(name);
      return `<!-- generated:${name} -->\n${body}\n<!-- /generated:${name} -->`;
    },
  );
  return { text: filled, found };
}
