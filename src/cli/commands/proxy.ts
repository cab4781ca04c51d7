import type { Command } from 'commander';

/** Registers the proxy subcommands on the root program. */
export function registerProxyCommands(_program: Command): void {}
