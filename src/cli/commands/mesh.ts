import type { Command } from 'commander';

/** Registers the mesh subcommands on the root program. */
export function registerMeshCommands(_program: Command): void {}
