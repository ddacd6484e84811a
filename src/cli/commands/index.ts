import type { Command } from 'commander';
import { registerBuild } from './build.js';
import { registerCalibrate } from './calibrate.js';
import { registerDemo } from './demo.js';
import { registerFetch } from './fetch.js';
import { registerInspect } from './inspect.js';
import { registerSchema } from './schema.js';
import { registerSimulate } from './simulate.js';
import { registerSynth } from './synth.js';
import { registerValidate } from './validate.js';

/** Registers every subcommand on the program. */
export function registerCommands(program: Command): void {
  registerSynth(program);
  registerBuild(program);
  registerInspect(program);
  registerCalibrate(program);
  registerSchema(program);
  registerValidate(program);
  registerSimulate(program);
  registerDemo(program);
  registerFetch(program);
}
