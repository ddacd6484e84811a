import type { Command } from 'commander';
import { registerBuild } from './build.js';
import { registerInspect } from './inspect.js';
import { registerSynth } from './synth.js';

/** Registers every subcommand on the program. */
export function registerCommands(program: Command): void {
  registerSynth(program);
  registerBuild(program);
  registerInspect(program);
}
