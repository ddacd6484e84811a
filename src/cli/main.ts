/**
 * The `stitchnet` command. Each subcommand lives in `commands/` and registers itself on the
 * program; this file only parses argv and turns errors into a clear message and an exit code.
 */
import { Command, CommanderError } from 'commander';
import { isStitchnetError } from '../errors.js';
import { registerCommands } from './commands/index.js';
import { addExamples } from './examples.js';
import { watchOutput } from './output-closed.js';
import { paint } from './style.js';
import { VERSION } from './version.js';

export async function main(argv: string[]): Promise<number> {
  const program = new Command('stitchnet')
    .description('Build, inspect and run stitched (SN-Net) model families.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerCommands(program);
  addExamples(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (err) {
    return reportError(err);
  }
}

function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander already printed its message. --help and --version exit 0; a usage error
    // (unknown option, missing argument or option) is a bad option: 2.
    return err.exitCode === 0 ? 0 : 2;
  }
  if (isStitchnetError(err)) {
    process.stderr.write(
      `${paint(['bold', 'red'], 'stitchnet:', process.stderr)} ${err.message} ${paint('dim', `[${err.code}]`, process.stderr)}\n`,
    );
    return err.code === 'OPTION_INVALID' ? 2 : 1;
  }
  // Every failure caused by input is a StitchnetError; anything else is a bug, and only then is a stack useful.
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`${paint(['bold', 'red'], 'stitchnet:', process.stderr)} internal error: ${message}\n`);
  process.stderr.write(
    'stitchnet: this is a bug in stitchnet, not a problem with your input; please report it with the command line and the files it read\n',
  );
  return 1;
}

watchOutput();
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = reportError(err);
  },
);
