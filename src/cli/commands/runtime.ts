import type { Command } from 'commander';

/** Registers the runtime subcommands on the root program. */
export function registerRuntimeCommands(_program: Command): void {}
