import type { Command } from 'commander';

/** Registers every subcommand on the program. */
export function registerCommands(program: Command): void {
  void program;
}
