/**
 * @layer logic
 * The REST API's shapes, as zod schemas: what requests may carry (validated at the boundary) and
 * what responses hold (the OpenAPI document is generated from the same schemas, and tests parse
 * answers with them), plus the mappers from database rows to response objects.
 *
 * Mappers take the caller's `View`: root admins see everything; everybody else does not see
 * where things run (host ids and names, libvirt instance names, volume paths, storage pool ids,
 * agent job ids), and reads an agent's or CloudStack's error text only as its code and a
 * sentence (those fields are left out of the object, hence optional in the schemas).
 */
import { z } from 'zod';
import {
  AGENT_STATUSES, ASSIGNMENT_KINDS, BACKUP_TYPES, CHAIN_STATES, JOB_STATUSES, JOB_TRIGGERS, REPOSITORY_KINDS, REQUESTED_MODES,
  SOURCE_PLATFORMS, VERIFICATION_STATUSES,
  type BackupJob, type CloudStackAgent, type CloudStackHost, type CloudStackVm, type Disk, type Policy, type PolicyAssignment,
  type Repository, type RestorePoint, type RestorePointDisk,
} from '../../db/schema.ts';
import type { Principal } from '../auth/principal.ts';
import { agentHealth, DEFAULT_HEALTH_RULES } from '../agents/health/assess.ts';
import { hiddenText } from './errors.ts';

/** What a caller may see of the infrastructure: `root` (root admins) or `tenant` (everybody else). */
export type View = 'root' | 'tenant';
export const viewOf = (p: Pick<Principal, 'role'>): View => (p.role === 'root-admin' ? 'root' : 'tenant');

/** An error recorded from an agent or CloudStack, as the view may read it. */
export function errorFor(view: View, code: string | null, message: string | null): { code: string; message: string } | null {
  if (!code && !message) return null;
  const c = code ?? 'failed';
  return { code: c, message: view === 'root' ? message ?? '' : hiddenText(c) };
}

// ---- building blocks ----

const iso = z.iso.datetime();
const isoOrNull = iso.nullable();
/** CloudStack ids are UUIDs (any version) */
export const Id = z.guid({ message: 'must be a UUID' });
const nonNegInt = z.number().int().nonnegative();

export const ErrorBody = z.object({
  error: z.object({
    code: z.string().meta({ description: 'stable machine-readable code, e.g. bad_request, unauthenticated, forbidden, not_found' }),
    message: z.string(),
  }),
}).meta({ id: 'Error' });

export const PageQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

const listOf = <T extends z.ZodType>(item: T, id: string) => z.object({
  items: z.array(item), total: nonNegInt, limit: nonNegInt, offset: nonNegInt,
}).meta({ id });

// ---- auth ----

export const LoginBody = z.object({
  username: z.string().min(1).max(255),
  password: z.string().min(1).max(1024),
  /** CloudStack domain path: "/" (ROOT, the default) or "/customers/" */
  domain: z.string().min(1).max(1024).optional(),
  domainId: Id.optional(),
}).strict();

export const Role = z.enum(['root-admin', 'domain-admin', 'user']);

export const Me = z.object({
  userId: z.string(), username: z.string(), account: z.string(), accountId: z.string().nullable(), domainId: z.string(), role: Role,
  via: z.enum(['token', 'apikey']),
}).meta({ id: 'Principal' });

export const LoginResponse = z.object({ token: z.string(), expiresAt: iso, user: Me }).meta({ id: 'LoginResponse' });

// ---- VMs ----

export const VmListQuery = PageQuery.extend({
  search: z.string().max(255).optional(),
  hostId: Id.optional(),
  zoneId: Id.optional(),
});

export const DiskDto = z.object({
  id: z.string(), deviceId: nonNegInt, name: z.string(), type: z.string(), sizeBytes: nonNegInt,
  kind: z.string().nullable(), path: z.string().nullable().optional(), format: z.string().nullable(), poolId: z.string().nullable().optional(), poolType: z.string().nullable(),
}).meta({ id: 'Disk' });

export const VmDto = z.object({
  id: z.string(), name: z.string(), displayName: z.string().nullable(), instanceName: z.string().nullable().optional(), state: z.string(),
  zoneId: z.string().nullable(), zoneName: z.string().nullable(), hostId: z.string().nullable().optional(), hostName: z.string().nullable().optional(),
  account: z.string(), domainId: z.string(), domainPath: z.string().nullable(), serviceOffering: z.string().nullable(), template: z.string().nullable(),
  tags: z.array(z.object({ key: z.string(), value: z.string() })), lastSeenAt: iso, removedAt: isoOrNull,
}).meta({ id: 'Vm' });

export const VmDetailDto = VmDto.extend({
  disks: z.array(DiskDto),
  policy: z.object({ id: z.string(), name: z.string(), assignedBy: z.enum(ASSIGNMENT_KINDS) }).nullable(),
  restorePoints: nonNegInt,
  lastJob: z.lazy(() => JobDto).nullable(),
}).meta({ id: 'VmDetail' });

export const VmList = listOf(VmDto, 'VmList');

export const BackupBody = z.object({
  mode: z.enum(REQUESTED_MODES).default('auto').meta({ description: 'auto: the policy decides (full every N, max chain length, checkpoint validity)' }),
  quiesce: z.boolean().default(false),
}).strict();

// ---- jobs ----

export const JobDto = z.object({
  id: z.string(), vmId: z.string(), vmName: z.string().nullable(), sourcePlatform: z.enum(SOURCE_PLATFORMS), hostId: z.string().nullable().optional(),
  requestedMode: z.enum(REQUESTED_MODES), type: z.enum(BACKUP_TYPES), typeReason: z.string(), trigger: z.enum(JOB_TRIGGERS),
  policyId: z.string().nullable(), repositoryId: z.string(), status: z.enum(JOB_STATUSES),
  progress: z.number().min(0).max(1), bytesTotal: nonNegInt.nullable(), bytesDone: nonNegInt, bytesWritten: nonNegInt, currentDisk: z.string().nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  agentJobId: z.string().nullable().optional(), requestedBy: z.string().nullable(),
  queuedAt: iso, startedAt: isoOrNull, finishedAt: isoOrNull,
}).meta({ id: 'Job' });

export const JobList = listOf(JobDto, 'JobList');

const statusList = z.string().transform((s, ctx) => {
  const parts = s.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = parts.filter((p) => !(JOB_STATUSES as readonly string[]).includes(p));
  if (bad.length) ctx.addIssue({ code: 'custom', message: `unknown status ${bad.join(', ')} (one of ${JOB_STATUSES.join(', ')})` });
  return parts as (typeof JOB_STATUSES)[number][];
});

export const JobListQuery = PageQuery.extend({
  vmId: Id.optional(),
  status: statusList.optional().meta({ description: `comma-separated: ${JOB_STATUSES.join(', ')}` }),
});

// ---- restore points ----

export const PointDiskDto = z.object({
  index: nonNegInt, target: z.string(), volumeId: z.string().nullable(), type: z.enum(BACKUP_TYPES), image: z.string(), backing: z.string().nullable(),
  virtualSizeBytes: nonNegInt, fileSizeBytes: nonNegInt,
}).meta({ id: 'RestorePointDisk' });

export const RestorePointDto = z.object({
  id: z.string(), pointId: z.string(), vmId: z.string(), sourcePlatform: z.enum(SOURCE_PLATFORMS), repositoryId: z.string(),
  chainId: z.string(), parentId: z.string().nullable(), jobId: z.string().nullable(), type: z.enum(BACKUP_TYPES), reason: z.string(),
  consistency: z.string(), sizeBytes: nonNegInt, virtualSizeBytes: nonNegInt, createdAt: iso,
  verificationStatus: z.enum(VERIFICATION_STATUSES), disks: z.array(PointDiskDto),
  verifiedAt: isoOrNull, verificationProblems: z.array(z.string()),
  /**
   * what the source platform says of the VM at this point (`{vmware: {name, instance_uuid, bios_uuid, guest_os_id, cpus,
   * memory_mib, firmware, disks, nics}}` for an imported VMware VM); null when the catalogue has none. Whoever may see the
   * point sees it (a VMware VM is unknown to CloudStack: its points are root admins' only)
   */
  platformMetadata: z.record(z.string(), z.unknown()).nullable(),
}).meta({ id: 'RestorePoint' });

export const RestorePointList = listOf(RestorePointDto, 'RestorePointList');

// ---- policies ----

export const Retention = z.object({
  keepLast: z.number().int().min(1).max(10_000).optional(),
  keepDaily: z.number().int().min(1).max(3650).optional(),
  keepWeekly: z.number().int().min(1).max(520).optional(),
  keepMonthly: z.number().int().min(1).max(1200).optional(),
  maxAgeDays: z.number().int().min(1).max(36_500).optional(),
}).strict().refine((r) => Object.keys(r).length > 0, { message: 'retention needs at least one rule (keepLast, keepDaily, keepWeekly, keepMonthly, maxAgeDays)' })
  .meta({ id: 'Retention' });

const policyFields = {
  name: z.string().trim().min(1).max(128),
  description: z.string().max(2000),
  schedule: z.string().min(9).max(128).meta({ description: 'croner pattern, e.g. "0 2 * * *" (02:00 daily)' }),
  timezone: z.string().min(1).max(64),
  fullEvery: z.number().int().min(1).max(1000).meta({ description: 'every Nth backup is a full (1: always full)' }),
  maxChainLength: z.number().int().min(1).max(1000).meta({ description: 'most points in a chain, the full included' }),
  retention: Retention,
  repositoryId: Id.nullable(),
  enabled: z.boolean(),
  verifySchedule: z.string().min(9).max(128).nullable()
    .meta({ description: 'croner pattern: verify the newest point of each VM of the policy (null: no scheduled verification)' }),
  verifyRestoreTest: z.boolean().meta({ description: 'scheduled verifications also restore-test the point' }),
  userAssignable: z.boolean().meta({ description: 'users (not only admins) may assign it to their own VMs and accounts' }),
};

export const PolicyCreateBody = z.object({
  ...policyFields,
  description: policyFields.description.default(''),
  timezone: policyFields.timezone.default('UTC'),
  fullEvery: policyFields.fullEvery.default(7),
  maxChainLength: policyFields.maxChainLength.default(30),
  repositoryId: policyFields.repositoryId.default(null),
  enabled: policyFields.enabled.default(true),
  verifySchedule: policyFields.verifySchedule.default(null),
  verifyRestoreTest: policyFields.verifyRestoreTest.default(false),
  userAssignable: policyFields.userAssignable.default(false),
}).strict();

export const PolicyUpdateBody = z.object(policyFields).partial().strict()
  .refine((b) => Object.keys(b).length > 0, { message: 'nothing to change' });

export const AssignmentBody = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('vm'), vmId: Id }).strict(),
  z.object({ kind: z.literal('zone'), zoneId: Id }).strict(),
  z.object({ kind: z.literal('account'), domainId: Id, account: z.string().min(1).max(255) }).strict(),
  z.object({ kind: z.literal('tag'), key: z.string().min(1).max(255), value: z.string().max(255) }).strict(),
]);

export const AssignmentDto = z.object({
  id: z.string(), policyId: z.string(), kind: z.enum(ASSIGNMENT_KINDS), target: z.string(), createdBy: z.string().nullable(), createdAt: iso,
}).meta({ id: 'PolicyAssignment' });

export const PolicyDto = z.object({
  id: z.string(), ...policyFields, lastRunAt: isoOrNull, nextRunAt: isoOrNull, verifyLastRunAt: isoOrNull, assignments: z.array(AssignmentDto), createdAt: iso, updatedAt: iso,
}).meta({ id: 'Policy' });

export const PolicyList = z.object({ items: z.array(PolicyDto) }).meta({ id: 'PolicyList' });

// ---- infrastructure ----

export const AgentDto = z.object({
  id: z.string(), hostId: z.string(), hostIp: z.string(), hostname: z.string(), agentVersion: z.string().nullable(),
  status: z.enum(AGENT_STATUSES), statusMessage: z.string().nullable(), lastHeartbeatAt: isoOrNull,
  sshKeyFingerprint: z.string().nullable(), capabilities: z.record(z.string(), z.unknown()).nullable(),
  /** what the health monitor reads from the last answer (api/agents/health/assess.ts) */
  health: z.object({
    versionDrift: z.string().nullable(),
    workDir: z.object({ path: z.string().nullable(), freeBytes: z.number(), totalBytes: z.number(), full: z.boolean() }).nullable(),
    problems: z.array(z.string()),
    jobs: z.object({ running: z.number(), queued: z.number() }).nullable(),
  }).optional(),
}).meta({ id: 'Agent' });

export const HostDto = z.object({
  id: z.string(), name: z.string(), ip: z.string().nullable(), zoneId: z.string().nullable(), clusterId: z.string().nullable(),
  state: z.string().nullable(), resourceState: z.string().nullable(), hypervisorVersion: z.string().nullable(), lastSeenAt: iso,
  vms: nonNegInt, activeJobs: nonNegInt,
  agent: AgentDto.pick({ status: true, agentVersion: true, lastHeartbeatAt: true, statusMessage: true }).nullable(),
}).meta({ id: 'Host' });

/** live points, their bytes, and the VMs they belong to */
const Usage = z.object({ points: nonNegInt, bytes: nonNegInt, vms: nonNegInt });

export const RepositoryDto = z.object({
  id: z.string(), name: z.string(), url: z.string(), kind: z.enum(REPOSITORY_KINDS), isDefault: z.boolean(),
  capacityBytes: nonNegInt.nullable(), usedBytes: nonNegInt.nullable(),
  usage: z.object({ total: Usage, bySourcePlatform: z.record(z.enum(SOURCE_PLATFORMS), Usage) }),
}).meta({ id: 'Repository' });

export const AuditDto = z.object({
  seq: nonNegInt, at: iso, actor: z.string(), via: z.string(), ip: z.string().nullable(), action: z.string(),
  targetType: z.string().nullable(), targetId: z.string().nullable(), outcome: z.string(), details: z.record(z.string(), z.unknown()).nullable(),
}).meta({ id: 'AuditEntry' });

export const AuditQuery = PageQuery.extend({ targetType: z.string().max(64).optional(), targetId: z.string().max(255).optional(), action: z.string().max(64).optional() });

export const DiscoveryReportDto = z.object({
  at: iso, durationMs: nonNegInt, hosts: nonNegInt, vms: nonNegInt, disks: nonNegInt,
  changes: z.array(z.object({ id: z.string(), name: z.string(), kind: z.enum(['added', 'renamed', 'migrated', 'state', 'removed']), from: z.string().nullable().optional(), to: z.string().nullable().optional() })),
}).meta({ id: 'DiscoveryReport' });

/** What anybody may ask (GET /healthz): ok or degraded, and which instance answered (several may serve one database). */
export const Health = z.object({ status: z.enum(['ok', 'degraded']), instance: z.string() }).strict().meta({ id: 'Health' });

/** Why (GET /api/v1/health, root admins). */
export const HealthDetail = z.object({
  status: z.enum(['ok', 'degraded']), version: z.string(), database: z.enum(['ok', 'error']),
  discovery: z.object({ lastAt: isoOrNull, lastError: z.string().nullable() }),
  jobs: z.object({ queued: nonNegInt, running: nonNegInt }),
}).meta({ id: 'HealthDetail' });

export const IdParam = z.object({ id: Id });
export const AssignmentParam = z.object({ id: Id, assignmentId: Id });

// chain states are part of the schema, named here so the document lists them
export const ChainState = z.enum(CHAIN_STATES);

// ---- mappers ----

const d = (x: Date) => x.toISOString();
const dn = (x: Date | null) => (x ? x.toISOString() : null);

export function vmDto(v: CloudStackVm, view: View): z.infer<typeof VmDto> {
  return {
    id: v.id, name: v.name, displayName: v.displayName, state: v.state, zoneId: v.zoneId, zoneName: v.zoneName,
    ...(view === 'root' ? { instanceName: v.instanceName, hostId: v.hostId, hostName: v.hostName } : {}),
    account: v.account, domainId: v.domainId, domainPath: v.domainPath,
    serviceOffering: v.serviceOffering, template: v.template, tags: v.tags, lastSeenAt: d(v.lastSeenAt), removedAt: dn(v.removedAt),
  };
}

export function diskDto(x: Disk, view: View): z.infer<typeof DiskDto> {
  return {
    id: x.id, deviceId: x.deviceId, name: x.name, type: x.type, sizeBytes: x.sizeBytes, kind: x.kind, format: x.format, poolType: x.poolType,
    ...(view === 'root' ? { path: x.path, poolId: x.poolId } : {}),
  };
}

export function jobDto(j: BackupJob, view: View): z.infer<typeof JobDto> {
  return {
    id: j.id, vmId: j.platformVmId, vmName: j.vmName, sourcePlatform: j.sourcePlatform, requestedMode: j.requestedMode,
    type: j.type, typeReason: j.typeReason, trigger: j.trigger, policyId: j.policyId, repositoryId: j.repositoryId, status: j.status,
    progress: j.progress, bytesTotal: j.bytesTotal, bytesDone: j.bytesDone, bytesWritten: j.bytesWritten, currentDisk: j.currentDisk,
    error: errorFor(view, j.errorCode, j.error),
    ...(view === 'root' ? { hostId: j.kvmHostId, agentJobId: j.agentJobId } : {}),
    requestedBy: j.requestedBy, queuedAt: d(j.queuedAt), startedAt: dn(j.startedAt), finishedAt: dn(j.finishedAt),
  };
}

/** A point; its disks from the disk rows when given, else from the stored manifest. */
export function pointDto(p: RestorePoint, disks?: RestorePointDisk[]): z.infer<typeof RestorePointDto> {
  const ds = disks
    ? disks.map((x) => ({ index: x.diskIndex, target: x.target, volumeId: x.volumeId, type: x.type, image: x.image, backing: x.backing, virtualSizeBytes: x.virtualSizeBytes, fileSizeBytes: x.fileSizeBytes }))
    : p.manifest.disks.map((x) => ({ index: x.index, target: x.target, volumeId: typeof x.volume_id === 'string' ? x.volume_id : null, type: x.type, image: x.image, backing: x.backing, virtualSizeBytes: x.virtual_size, fileSizeBytes: x.file_size }));
  return {
    id: p.id, pointId: p.pointId, vmId: p.platformVmId, sourcePlatform: p.sourcePlatform, repositoryId: p.repositoryId, chainId: p.chainId,
    parentId: p.parentId, jobId: p.jobId, type: p.type, reason: p.reason, consistency: p.consistency, sizeBytes: p.sizeBytes,
    virtualSizeBytes: p.virtualSizeBytes, createdAt: d(p.createdAt), verificationStatus: p.verificationStatus, disks: ds,
    verifiedAt: dn(p.verifiedAt), verificationProblems: p.verificationProblems ?? [],
    platformMetadata: p.platformMetadata ?? null,
  };
}

export function assignmentDto(a: PolicyAssignment): z.infer<typeof AssignmentDto> {
  return { id: a.id, policyId: a.policyId, kind: a.kind, target: a.target, createdBy: a.createdBy, createdAt: d(a.createdAt) };
}

export function policyDto(p: Policy, assignments: PolicyAssignment[], nextRunAt: Date | null): z.infer<typeof PolicyDto> {
  return {
    id: p.id, name: p.name, description: p.description, schedule: p.schedule, timezone: p.timezone, fullEvery: p.fullEvery,
    maxChainLength: p.maxChainLength, retention: p.retention, repositoryId: p.repositoryId, enabled: p.enabled,
    verifySchedule: p.verifySchedule, verifyRestoreTest: p.verifyRestoreTest, userAssignable: p.userAssignable, verifyLastRunAt: dn(p.verifyLastRunAt),
    lastRunAt: dn(p.lastRunAt), nextRunAt: dn(nextRunAt), assignments: assignments.map(assignmentDto), createdAt: d(p.createdAt), updatedAt: d(p.updatedAt),
  };
}

export function agentDto(a: CloudStackAgent, controlPlaneVersion?: string): z.infer<typeof AgentDto> {
  return {
    id: a.id, hostId: a.hostId, hostIp: a.hostIp, hostname: a.hostname, agentVersion: a.agentVersion, status: a.status,
    statusMessage: a.statusMessage, lastHeartbeatAt: dn(a.lastHeartbeatAt), sshKeyFingerprint: a.sshKeyFingerprint, capabilities: a.capabilities,
    health: agentHealth(a.capabilities, a.agentVersion, { ...DEFAULT_HEALTH_RULES, controlPlaneVersion }),
  };
}

export function hostDto(h: CloudStackHost, agent: CloudStackAgent | undefined, vms: number, activeJobs: number): z.infer<typeof HostDto> {
  return {
    id: h.id, name: h.name, ip: h.ip, zoneId: h.zoneId, clusterId: h.clusterId, state: h.state, resourceState: h.resourceState,
    hypervisorVersion: h.hypervisorVersion, lastSeenAt: d(h.lastSeenAt), vms, activeJobs,
    agent: agent ? { status: agent.status, agentVersion: agent.agentVersion, lastHeartbeatAt: dn(agent.lastHeartbeatAt), statusMessage: agent.statusMessage } : null,
  };
}

/** `usage`: the repository's points and bytes per source platform; `vms`: its VMs (with their platform), to count them per platform */
export function repositoryDto(r: Repository, usage: { sourcePlatform: (typeof SOURCE_PLATFORMS)[number]; points: number; bytes: number }[], vms: { sourcePlatform: (typeof SOURCE_PLATFORMS)[number] }[] = []): z.infer<typeof RepositoryDto> {
  const by = {} as Record<(typeof SOURCE_PLATFORMS)[number], { points: number; bytes: number; vms: number }>;
  for (const p of SOURCE_PLATFORMS) by[p] = { points: 0, bytes: 0, vms: vms.filter((v) => v.sourcePlatform === p).length };
  const total = { points: 0, bytes: 0, vms: vms.length };
  for (const u of usage) {
    by[u.sourcePlatform] = { ...by[u.sourcePlatform], points: u.points, bytes: u.bytes };
    total.points += u.points;
    total.bytes += u.bytes;
  }
  return {
    id: r.id, name: r.name, url: r.url, kind: r.kind, isDefault: r.isDefault, capacityBytes: r.capacityBytes, usedBytes: r.usedBytes,
    usage: { total, bySourcePlatform: by },
  };
}
