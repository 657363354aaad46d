/**
 * @layer logic
 * The wire shapes of the VMware routes (api/http/routes/vmware.ts and the VMware source of
 * `POST /api/v1/repositories/{id}/import`): zod schemas for the import body, the restore plan's
 * query and answer, and their OpenAPI entries (`VMWARE_ROUTES`, listed in api/http/openapi.ts).
 */
import { z } from 'zod';
import type { RouteDoc } from '../http/openapi.ts';
import { ErrorBody, IdParam } from '../http/schemas.ts';

const AbsPath = z.string().min(1).max(4096).refine((p) => p.startsWith('/') && !p.includes('\0'), 'must be an absolute path on the agent host');

/** No body (or no `source`): scan the repository. With a VMware `source`: an agent imports that export. */
export const RepositoryImportBody = z.strictObject({
  source: z.strictObject({
    platform: z.literal('vmware', { message: "only 'vmware' exports are imported" }),
    /** an .ova, an .ovf (or its folder), a datastore VM folder (or its .vmx) ON THE AGENT HOST, below its import root */
    path: AbsPath,
    /** the CloudStack host whose agent reads the export (default: any active agent) */
    hostId: z.string().min(1).max(128).optional(),
    /** the repository's VM id (default: the VM's instance UUID, else its BIOS UUID) */
    vmId: z.string().regex(/^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$/, "letters, digits, '.', '_' and '-' only").optional(),
    /** auto: an incremental on the VM's newest point when it has one; full: always a full */
    mode: z.enum(['auto', 'full']).default('auto'),
  }).optional(),
});
export type RepositoryImportBody = z.output<typeof RepositoryImportBody>;

/** `network` repeats: `VMware network name=CloudStack network id`. */
export const RestorePlanQuery = z.object({
  zoneId: z.string().min(1).optional(),
  serviceOfferingId: z.string().min(1).optional(),
  network: z.union([z.string(), z.array(z.string())]).optional()
    .transform((v) => (v === undefined ? [] : Array.isArray(v) ? v : [v]))
    .refine((a) => a.every((m) => m.lastIndexOf('=') > 0), "each network is 'VMware network name=CloudStack network id'"),
  virtioDrivers: z.enum(['true', 'false']).optional().transform((v) => v === 'true'),
});

const Choice = z.object({ id: z.string(), name: z.string() });
export const RestorePlanDto = z.object({
  restorePointId: z.string(), pointId: z.string(), vmId: z.string(), vmName: z.string(),
  plan: z.object({
    ready: z.boolean(), blockers: z.array(z.string()),
    zone: Choice.nullable(),
    serviceOffering: Choice.extend({ cpuNumber: z.number(), memory: z.number(), fit: z.enum(['exact', 'larger', 'smaller']), note: z.string() }).nullable(),
    boot: z.object({ type: z.enum(['BIOS', 'UEFI']), mode: z.literal('LEGACY'), note: z.string() }),
    disks: z.array(z.object({ index: z.number(), target: z.string(), role: z.enum(['root', 'data']), sizeBytes: z.number(), vmware: z.string(), kvmController: z.string(), via: z.enum(['template', 'volume']) })),
    nics: z.array(z.object({
      index: z.number(), vmwareNetwork: z.string(), mac: z.string().nullable(), vmwareAdapter: z.string(), kvmModel: z.string(),
      network: Choice.extend({ zoneId: z.string() }).nullable(), choices: z.array(Choice.extend({ zoneId: z.string() })),
    })),
    templateDetails: z.record(z.string(), z.string()),
    guest: z.object({ os: z.string().nullable(), windows: z.boolean(), needs: z.array(z.string()) }),
  }),
}).meta({ id: 'VmwareRestorePlan' });

export const VMWARE_ROUTES: RouteDoc[] = [
  {
    method: 'get', path: '/api/v1/restore-points/{id}/restore-plan', tag: 'restore', auth: 'admin', params: IdParam, query: RestorePlanQuery,
    summary: 'The plan (dry run) of restoring a VMware point into CloudStack: zone, nearest offering, network mapping the admin chooses, boot type, KVM disk controller and NIC model, what the guest needs (root admin)',
    responses: { 200: RestorePlanDto, 404: ErrorBody, 409: ErrorBody, 502: ErrorBody },
  },
];
