import type { Command } from 'commander';
import { registerSynth } from './synth.js';

/** Registers every subcommand on the program. */
export function registerCommands(program: Command): void {
  registerSynth(program);
}
