import type { Command } from 'commander';

/** Registers `trustmesh controlplane …` and `trustmesh mesh config-dump` (filled in by the mesh compiler's owner). */
export function registerControlPlaneCommands(_program: Command): void {}
