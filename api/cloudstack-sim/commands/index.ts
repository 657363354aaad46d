/**
 * @layer usecase
 * Every command the simulator answers, by name (login, logout and
 * validateUserTwoFactorAuthenticationCode are the request pipeline's own: dispatch.ts).
 */
import { anonymousCommands } from './anonymous.ts';
import type { AnonymousCommandDef, CommandDef } from './command.ts';
import { dashboardCommands } from './dashboard.ts';
import { infraCommands } from './infra.ts';
import { jobCommands } from './jobs.ts';
import { snapshotCommands } from './snapshots.ts';
import { templateCommands } from './templates.ts';
import { uiCommands } from './ui.ts';
import { uploadCommands } from './upload.ts';
import { userCommands } from './users.ts';
import { vmCommands } from './vms.ts';
import { volumeCommands } from './volumes.ts';

export const COMMANDS: Record<string, CommandDef> = {
  ...infraCommands, ...vmCommands, ...volumeCommands, ...snapshotCommands, ...userCommands, ...uploadCommands, ...jobCommands,
  ...uiCommands, ...dashboardCommands, ...templateCommands,
};

/** answered before any session or signature check (CloudStack's APIAuthenticators) */
export const ANONYMOUS_COMMANDS: Record<string, AnonymousCommandDef> = anonymousCommands;
