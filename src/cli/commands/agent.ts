import type { Command } from 'commander';

/** Registers the agent subcommands on the root program. */
export function registerAgentCommands(_program: Command): void {}
