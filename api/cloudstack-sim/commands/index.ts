/**
 * @layer usecase
 * Every command the simulator answers, by name.
 */
import type { CommandDef } from './command.ts';
import { infraCommands } from './infra.ts';
import { jobCommands } from './jobs.ts';
import { snapshotCommands } from './snapshots.ts';
import { uploadCommands } from './upload.ts';
import { userCommands } from './users.ts';
import { vmCommands } from './vms.ts';
import { volumeCommands } from './volumes.ts';

export const COMMANDS: Record<string, CommandDef> = {
  ...infraCommands, ...vmCommands, ...volumeCommands, ...snapshotCommands, ...userCommands, ...uploadCommands, ...jobCommands,
};
