/**
 * @layer logic
 * The wire shapes of the retention, verification, storage and import routes (routes.ts): zod
 * schemas for bodies, queries and answers, the maintenance job mapper, and their OpenAPI entries
 * (`MAINTENANCE_ROUTES`, listed in api/http/openapi.ts so the document cannot drift).
 */
import { z } from 'zod';
import { MAINTENANCE_KINDS, MAINTENANCE_STATUSES, MAINTENANCE_TRIGGERS, SOURCE_PLATFORMS, type MaintenanceJob } from '../../db/schema.ts';
import type { RouteDoc } from '../http/openapi.ts';
import { ErrorBody, IdParam, RestorePointDto, errorFor, type View } from '../http/schemas.ts';
import { RepositoryImportBody } from '../vmware/schemas.ts';

const iso = z.string();
const isoOrNull = z.string().nullable();
const n = z.number().int().nonnegative();

export const VerifyPointBody = z.strictObject({
  /** also restore the point to a scratch file and compare it with its digests end to end */
  restoreTest: z.boolean().default(false),
});

export const MaintenanceListQuery = z.object({
  vmId: z.string().min(1).optional(),
  kind: z.enum(MAINTENANCE_KINDS).optional(),
  status: z.enum(MAINTENANCE_STATUSES).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

export const MaintenanceJobDto = z.object({
  id: z.string(), kind: z.enum(MAINTENANCE_KINDS), trigger: z.enum(MAINTENANCE_TRIGGERS), status: z.enum(MAINTENANCE_STATUSES),
  repositoryId: z.string(), vmId: z.string().nullable(), restorePointId: z.string().nullable(), policyId: z.string().nullable(),
  hostId: z.string().nullable().optional(), agentJobId: z.string().nullable().optional(),
  request: z.record(z.string(), z.unknown()), result: z.record(z.string(), z.unknown()).nullable(),
  errorCode: z.string().nullable(), error: z.string().nullable(), requestedBy: z.string().nullable(),
  queuedAt: iso, startedAt: isoOrNull, finishedAt: isoOrNull,
}).meta({ id: 'MaintenanceJob' });

/** The job as the view may see it (http/schemas.ts `View`: no host, agent job id or raw error text for tenants). */
export function maintenanceJobDto(j: MaintenanceJob, view: View): z.infer<typeof MaintenanceJobDto> {
  const d = (x: Date | null) => (x ? x.toISOString() : null);
  return {
    id: j.id, kind: j.kind, trigger: j.trigger, status: j.status, repositoryId: j.repositoryId, vmId: j.platformVmId,
    restorePointId: j.restorePointId, policyId: j.policyId, ...(view === 'root' ? { hostId: j.kvmHostId, agentJobId: j.agentJobId } : {}),
    request: j.request, result: j.result, errorCode: j.errorCode, error: errorFor(view, j.errorCode, j.error)?.message ?? null, requestedBy: j.requestedBy,
    queuedAt: j.queuedAt.toISOString(), startedAt: d(j.startedAt), finishedAt: d(j.finishedAt),
  };
}

export const MaintenanceJobList = z.object({ items: z.array(MaintenanceJobDto), total: n, limit: n, offset: n }).meta({ id: 'MaintenanceJobList' });

export const RetentionPreviewDto = z.object({
  vmId: z.string(), at: iso,
  policy: z.object({ id: z.string(), name: z.string(), retention: z.record(z.string(), z.number()), maxChainLength: n }).nullable(),
  repositories: z.array(z.object({
    repositoryId: z.string(),
    points: z.array(z.object({
      id: z.string(), pointId: z.string(), type: z.enum(['full', 'incremental']), createdAt: iso, sizeBytes: n,
      action: z.enum(['keep', 'delete', 'merge']), reasons: z.array(z.string()), mergedFrom: z.array(z.string()).optional(),
    })),
    delete: z.array(z.string()),
    merge: z.array(z.object({ pointId: z.string(), from: z.array(z.string()) })),
    bytesFreedEstimate: n,
  })),
}).meta({ id: 'RetentionPreview' });

export const ProtectionDto = z.object({
  vmId: z.string(),
  storage: z.array(z.object({ repositoryId: z.string(), points: n, bytes: n })),
  verification: z.object({
    status: z.enum(['unverified', 'verified', 'failed']),
    verified: n, unverified: n,
    failed: z.array(z.object({ id: z.string(), pointId: z.string(), verifiedAt: isoOrNull, problems: z.array(z.string()) })),
    lastJob: MaintenanceJobDto.nullable(),
  }),
  retention: z.object({ lastJob: MaintenanceJobDto.nullable() }),
}).meta({ id: 'VmProtection' });

const Usage = z.object({ vms: n, points: n, bytes: n });
export const RepositoryUsageDto = z.object({
  repositoryId: z.string(), usedBytes: n.nullable(), capacityBytes: n.nullable(),
  total: z.object({ points: n, bytes: n }),
  bySourcePlatform: z.record(z.enum(SOURCE_PLATFORMS), Usage),
  vms: z.array(z.object({ vmId: z.string(), sourcePlatform: z.enum(SOURCE_PLATFORMS), points: n, bytes: n })),
}).meta({ id: 'RepositoryUsage' });

export const MAINTENANCE_ROUTES: RouteDoc[] = [
  { method: 'get', path: '/api/v1/vms/{id}/retention/preview', summary: 'What the VM\'s policy would delete and merge forward now, why each point is kept, and the bytes freed (estimated)', tag: 'retention', auth: 'user', params: IdParam, responses: { 200: RetentionPreviewDto, 403: ErrorBody } },
  { method: 'post', path: '/api/v1/vms/{id}/retention/apply', summary: 'Apply the VM\'s retention now: prune jobs on an agent (root admin); 202 with the jobs (none when nothing expires)', tag: 'retention', auth: 'admin', params: IdParam, responses: { 202: z.object({ items: z.array(MaintenanceJobDto) }), 409: ErrorBody } },
  { method: 'get', path: '/api/v1/vms/{id}/protection', summary: 'Storage per repository, verification state (failed points and their problems) and the last prune of a VM', tag: 'retention', auth: 'user', params: IdParam, responses: { 200: ProtectionDto } },
  { method: 'get', path: '/api/v1/restore-points/{id}', summary: 'One restore point with its disks and its last verification (status, time, problems)', tag: 'retention', auth: 'user', params: IdParam, responses: { 200: RestorePointDto, 404: ErrorBody } },
  { method: 'post', path: '/api/v1/restore-points/{id}/verify', summary: 'Verify a point on the repository (and restore-test it); 202 with the verify job', tag: 'retention', auth: 'user', params: IdParam, body: VerifyPointBody, responses: { 202: MaintenanceJobDto, 404: ErrorBody } },
  { method: 'get', path: '/api/v1/maintenance-jobs', summary: 'Prune, verify and import jobs, newest first (root admin; vmId= for the VM\'s owner)', tag: 'retention', auth: 'user', query: MaintenanceListQuery, responses: { 200: MaintenanceJobList } },
  { method: 'get', path: '/api/v1/maintenance-jobs/{id}', summary: 'One maintenance job', tag: 'retention', auth: 'user', params: IdParam, responses: { 200: MaintenanceJobDto, 404: ErrorBody } },
  { method: 'get', path: '/api/v1/repositories/{id}/usage', summary: 'Bytes per VM and per source platform in a repository (root admin)', tag: 'infrastructure', auth: 'admin', params: IdParam, responses: { 200: RepositoryUsageDto } },
  { method: 'post', path: '/api/v1/repositories/{id}/import', summary: 'Scan the repository through an agent and record the chains the database does not know; with a VMware `source`, an agent first imports that export (a path on its host) as a restore point (root admin); 202 with the import job', tag: 'infrastructure', auth: 'admin', params: IdParam, body: RepositoryImportBody, responses: { 202: MaintenanceJobDto, 404: ErrorBody, 503: ErrorBody } },
];
