import type { Command } from 'commander';

/** Registers the server subcommands on the root program. */
export function registerServerCommands(_program: Command): void {}
