/**
 * @layer logic
 * A VMware import as the agent daemon takes it (`POST /v1/imports`) and the outcome its job
 * carries (zod v4, strict like the engine's other bodies: agent/engine/requests.ts). `path` is ON
 * THE AGENT HOST — an .ova, an .ovf (or its folder), or a datastore VM folder (or its .vmx) an
 * admin copied there — and must lie below the agent's import root (import-job.ts).
 */
import { z } from 'zod';
import { AbsPath, RepoAccess, VmId } from '../engine/requests.ts';
import { PointManifest } from '../repository/manifest.ts';

export const VmwareImportBody = z.strictObject({
  ...RepoAccess,
  /** the export on the agent host */
  path: AbsPath,
  /** the repository's VM id; default: the VM's instance UUID, else its BIOS UUID */
  vmId: VmId.optional(),
  /** auto: an incremental on the VM's newest point when it has one; full: always a full */
  mode: z.enum(['auto', 'full']).default('auto'),
});
export type VmwareImportBody = z.output<typeof VmwareImportBody>;
export type VmwareImportInput = z.input<typeof VmwareImportBody>;

export const VmwareImportOutcome = z.object({
  pointId: z.string(),
  vmId: z.string(),
  vmName: z.string(),
  type: z.enum(['full', 'incremental']),
  parent: z.string().nullable(),
  reason: z.string(),
  /** what was checked before anything was written (.mf digests, VMDK structure) */
  checks: z.array(z.string()),
  bytesStored: z.number(),
  durationMs: z.number(),
  disks: z.array(z.object({ target: z.string(), type: z.enum(['full', 'incremental']), fileSize: z.number(), virtualSize: z.number(), changedBlocks: z.number().nullable(), blocks: z.number() })),
  /** the point's manifest as committed (absent only when reading it back failed) */
  manifest: PointManifest.optional(),
});
export type VmwareImportOutcome = z.output<typeof VmwareImportOutcome>;
