/**
 * An example for every command's `--help` (commander's `addHelpText`), kept in one table so that
 * a test can check that no command lacks one.
 */
import type { Command } from 'commander';

/** Example command lines by command path (`'synth vit'` for a subcommand). */
export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  'synth vit': ['stitchnet synth vit --preset tiny --out anchors/'],
  build: [
    'stitchnet build --anchors anchors/vit-d16.onnx anchors/vit-d24.onnx --calib train-images-idx3-ubyte.gz --eval t10k-images-idx3-ubyte.gz --scale 1/255 --mean 0.286 --std 0.353 --profile cpu --out my-family',
  ],
  inspect: [
    'stitchnet inspect models/fmnist-vit',
    'stitchnet inspect models/fmnist-vit --plot pareto.svg --plot pareto.png',
    'stitchnet inspect tuned --compare untuned --labels tuned,untuned --plot compare.svg',
  ],
  'schema profile': ['stitchnet schema profile > profile.schema.json'],
  validate: [
    'stitchnet validate profiles/balanced.yaml',
    'stitchnet validate my-profile.yaml --model models/fmnist-vit --json',
  ],
  simulate: [
    'stitchnet simulate --model models/fmnist-vit --profile profiles/balanced.yaml --trace examples/traces/laptop-unplugged.csv',
    'stitchnet simulate --model models/fmnist-vit --profile profiles/battery-saver.yaml --trace examples/traces/heating-throttling.csv --plot timeline.svg --plot timeline.png',
  ],
  demo: [
    'stitchnet demo',
    'stitchnet demo --trace examples/traces/heating-throttling.csv --duration 30',
    'stitchnet demo --profile balanced --record run.csv --json > summary.json',
  ],
  calibrate: ['stitchnet calibrate models/fmnist-vit', 'stitchnet calibrate models/fmnist-vit --batch 1,8 --json'],
  fetch: [
    'stitchnet fetch https://example.com/fmnist-vit/stitchnet.json --sha256 <sha256 of stitchnet.json> --out models/fmnist-vit',
  ],
};

/** The path of a command below the program: `'synth vit'`. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** Every command below `program` that runs something (has no subcommands). */
export function leafCommands(program: Command): Command[] {
  return program.commands.flatMap((c) => (c.commands.length > 0 ? leafCommands(c) : [c]));
}

/** Adds the examples of {@link EXAMPLES} after each command's help. */
export function addExamples(program: Command): void {
  for (const cmd of leafCommands(program)) {
    const lines = EXAMPLES[commandPath(cmd)];
    if (lines)
      cmd.addHelpText(
        'after',
        `\nExample${lines.length > 1 ? 's' : ''}:\n${lines.map((l) => `  $ ${l}`).join('\n')}\n`,
      );
  }
}
