/**
 * @layer logic
 * The control plane's database schema (drizzle, SQLite dialect), the one source of the row types.
 *
 * It covers the product document's tables — `backup_jobs` (with `source_platform`,
 * `platform_vm_id`, `kvm_host_id`), `cloudstack_vms`, `cloudstack_agents` — plus what the
 * control plane needs around them: CloudStack hosts, VM disks, repositories, restore points and
 * their chains, policies and their assignments, restores, and the audit log.
 *
 * Portability to PostgreSQL (db/README.md): only types with a pg equivalent are used — text,
 * integer (epoch-ms timestamps, byte counts < 2^53), real, booleans as 0/1, JSON as text — and
 * enums are `text` with a fixed value list. Ids are text UUIDs, except the audit log's sequence.
 * Migrations are generated from this file with drizzle-kit (`db/migrations/`, see db/README.md).
 */
import { sql, type InferInsertModel, type InferSelectModel } from 'drizzle-orm';
import { index, integer, real, sqliteTable, text, uniqueIndex, type AnySQLiteColumn } from 'drizzle-orm/sqlite-core';
import type { PointManifest } from '../agent/repository/manifest.ts';

/**
 * Where a VM comes from (the product document's ENUM; Sendense backs up CloudStack today). `kvm`:
 * a plain libvirt VM, as the agent CLI records it without a control plane (found by an import).
 */
export const SOURCE_PLATFORMS = ['vmware', 'cloudstack', 'hyperv', 'aws', 'azure', 'nutanix', 'kvm'] as const;
export type SourcePlatform = (typeof SOURCE_PLATFORMS)[number];

/** queued → dispatching → running → (cancelling →) succeeded | failed | cancelled (api/jobs/state.ts). */
export const JOB_STATUSES = ['queued', 'dispatching', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const BACKUP_TYPES = ['full', 'incremental'] as const;
export type BackupType = (typeof BACKUP_TYPES)[number];
export const REQUESTED_MODES = ['auto', 'full', 'incremental'] as const;
export const JOB_TRIGGERS = ['manual', 'schedule'] as const;
export const AGENT_STATUSES = ['active', 'inactive', 'error'] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];
export const ASSIGNMENT_KINDS = ['vm', 'zone', 'account', 'tag'] as const;
export type AssignmentKind = (typeof ASSIGNMENT_KINDS)[number];
export const VERIFICATION_STATUSES = ['unverified', 'verified', 'failed'] as const;
export const CHAIN_STATES = ['open', 'closed', 'broken'] as const;
export const REPOSITORY_KINDS = ['ssh', 'local'] as const;
/** api/restore/: in-place (onto the VM's own volumes), new-volume (uploaded to CloudStack), download; 'vm' and 'volume' are unused early names */
export const RESTORE_KINDS = ['vm', 'volume', 'in-place', 'new-volume', 'download'] as const;
export const RESTORE_STATUSES = ['queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled'] as const;
export type RestoreKind = (typeof RESTORE_KINDS)[number];
export type RestoreStatus = (typeof RESTORE_STATUSES)[number];
/** Repository work that needs no hypervisor: retention (prune), verification, import (scan). */
export const MAINTENANCE_KINDS = ['prune', 'verify', 'import'] as const;
export type MaintenanceKind = (typeof MAINTENANCE_KINDS)[number];
export const MAINTENANCE_STATUSES = ['queued', 'running', 'succeeded', 'failed'] as const;
export type MaintenanceStatus = (typeof MAINTENANCE_STATUSES)[number];
/** manual: an API call · schedule: the policy's verify schedule · backup: after a scheduled backup */
export const MAINTENANCE_TRIGGERS = ['manual', 'schedule', 'backup'] as const;
export type MaintenanceTrigger = (typeof MAINTENANCE_TRIGGERS)[number];

/** A VM's CloudStack tag (`listVirtualMachines` … `tags: [{key, value}]`). */
export interface VmTag { key: string; value: string }

/** Retention kept per policy: a point is kept when any rule keeps it (api/policy/retention.ts). */
export interface RetentionRules {
  /** the newest N restore points */
  keepLast?: number;
  /** the newest point of each of the last N days (UTC) */
  keepDaily?: number;
  keepWeekly?: number;
  keepMonthly?: number;
  /** nothing older than this many days, whatever the rules above say */
  maxAgeDays?: number;
}

/** What the agent reports it can do (`health()` of the AgentGateway). */
export type AgentCapabilities = Record<string, unknown>;

const id = () => text('id').primaryKey();
const ts = (name: string) => integer(name, { mode: 'timestamp_ms' });
const created = () => ts('created_at').notNull().default(sql`(unixepoch() * 1000)`);
const updated = () => ts('updated_at').notNull().default(sql`(unixepoch() * 1000)`);

export const repositories = sqliteTable('repositories', {
  id: id(),
  name: text('name').notNull().unique(),
  /** ssh://user@host[:port]/path or an absolute directory */
  url: text('url').notNull(),
  kind: text('kind', { enum: REPOSITORY_KINDS }).notNull(),
  capacityBytes: integer('capacity_bytes'),
  /** what the repository host last reported as used (df), when known */
  usedBytes: integer('used_bytes'),
  isDefault: integer('is_default', { mode: 'boolean' }).notNull().default(false),
  createdAt: created(),
  updatedAt: updated(),
});

export const cloudstackHosts = sqliteTable('cloudstack_hosts', {
  /** CloudStack host uuid */
  id: id(),
  name: text('name').notNull(),
  ip: text('ip'),
  zoneId: text('zone_id'),
  clusterId: text('cluster_id'),
  state: text('state'),
  resourceState: text('resource_state'),
  hypervisorVersion: text('hypervisor_version'),
  lastSeenAt: ts('last_seen_at').notNull(),
  removedAt: ts('removed_at'),
});

export const cloudstackAgents = sqliteTable('cloudstack_agents', {
  id: id(),
  hostId: text('host_id').notNull().unique(),
  hostIp: text('host_ip').notNull(),
  hostname: text('hostname').notNull(),
  agentVersion: text('agent_version'),
  status: text('status', { enum: AGENT_STATUSES }).notNull().default('inactive'),
  /** why the status is what it is (the last health error) */
  statusMessage: text('status_message'),
  lastHeartbeatAt: ts('last_heartbeat_at'),
  sshKeyFingerprint: text('ssh_key_fingerprint'),
  capabilities: text('capabilities', { mode: 'json' }).$type<AgentCapabilities>(),
  createdAt: created(),
  updatedAt: updated(),
}, (t) => [index('idx_agents_status').on(t.status), index('idx_agents_heartbeat').on(t.lastHeartbeatAt)]);

export const cloudstackVms = sqliteTable('cloudstack_vms', {
  /** CloudStack VM uuid */
  id: id(),
  name: text('name').notNull(),
  displayName: text('display_name'),
  /** the libvirt domain name (i-<account>-<vm>-VM) */
  instanceName: text('instance_name'),
  state: text('state').notNull(),
  zoneId: text('zone_id'),
  zoneName: text('zone_name'),
  /** where it runs now (null while stopped) */
  hostId: text('host_id'),
  hostName: text('host_name'),
  account: text('account').notNull(),
  domainId: text('domain_id').notNull(),
  domainPath: text('domain_path'),
  serviceOffering: text('service_offering'),
  template: text('template'),
  tags: text('tags', { mode: 'json' }).$type<VmTag[]>().notNull().default(sql`'[]'`),
  lastSeenAt: ts('last_seen_at').notNull(),
  /** set when discovery no longer finds the VM; its points stay */
  removedAt: ts('removed_at'),
  createdAt: created(),
  updatedAt: updated(),
}, (t) => [
  index('idx_vms_account').on(t.domainId, t.account),
  index('idx_vms_host').on(t.hostId),
  index('idx_vms_zone').on(t.zoneId),
]);

export const disks = sqliteTable('disks', {
  /** CloudStack volume uuid */
  id: id(),
  vmId: text('vm_id').notNull().references(() => cloudstackVms.id, { onDelete: 'cascade' }),
  deviceId: integer('device_id').notNull(),
  name: text('name').notNull(),
  /** ROOT or DATADISK */
  type: text('type').notNull(),
  sizeBytes: integer('size_bytes').notNull(),
  /** file, rbd or block (api/cloudstack/disk-location.ts) */
  kind: text('kind'),
  /** where it lives on the KVM host, when known */
  path: text('path'),
  format: text('format'),
  poolId: text('pool_id'),
  poolType: text('pool_type'),
  lastSeenAt: ts('last_seen_at').notNull(),
  removedAt: ts('removed_at'),
}, (t) => [index('idx_disks_vm').on(t.vmId)]);

export const policies = sqliteTable('policies', {
  id: id(),
  name: text('name').notNull().unique(),
  description: text('description').notNull().default(''),
  /** a croner pattern (5 or 6 fields) */
  schedule: text('schedule').notNull(),
  timezone: text('timezone').notNull().default('UTC'),
  /** every Nth backup of a VM is a full (1 = always full) */
  fullEvery: integer('full_every').notNull(),
  /** a chain never holds more points than this (full included) */
  maxChainLength: integer('max_chain_length').notNull(),
  retention: text('retention', { mode: 'json' }).$type<RetentionRules>().notNull(),
  /** null: the default repository */
  repositoryId: text('repository_id').references(() => repositories.id, { onDelete: 'restrict' }),
  enabled: integer('enabled', { mode: 'boolean' }).notNull().default(true),
  /** the last schedule tick that ran (the next is computed from it) */
  lastRunAt: ts('last_run_at'),
  /** a croner pattern: verify the newest point of each of the policy's VMs (null: never on a schedule) */
  verifySchedule: text('verify_schedule'),
  /** the verification runs also restore-test the point (restore to scratch, compare digests) */
  verifyRestoreTest: integer('verify_restore_test', { mode: 'boolean' }).notNull().default(false),
  /** the last verify schedule tick that ran */
  verifyLastRunAt: ts('verify_last_run_at'),
  /** the policy applies to VMs of this source platform only (null: every platform) */
  platform: text('platform', { enum: SOURCE_PLATFORMS }),
  /** users (not only admins) may assign it to their own VMs and accounts */
  userAssignable: integer('user_assignable', { mode: 'boolean' }).notNull().default(false),
  createdAt: created(),
  updatedAt: updated(),
});

export const policyAssignments = sqliteTable('policy_assignments', {
  id: id(),
  policyId: text('policy_id').notNull().references(() => policies.id, { onDelete: 'cascade' }),
  kind: text('kind', { enum: ASSIGNMENT_KINDS }).notNull(),
  /** vm: VM id · zone: zone id · account: "<domain id>/<account name>" · tag: "<key>=<value>" */
  target: text('target').notNull(),
  createdBy: text('created_by'),
  /** the creator's role (api/auth/principal.ts Role); null: made before roles were kept (counted as an admin's) */
  createdByRole: text('created_by_role', { enum: ['root-admin', 'domain-admin', 'user'] }),
  createdAt: created(),
}, (t) => [uniqueIndex('uq_assignment_target').on(t.kind, t.target), index('idx_assignment_policy').on(t.policyId)]);

export const backupJobs = sqliteTable('backup_jobs', {
  id: id(),
  sourcePlatform: text('source_platform', { enum: SOURCE_PLATFORMS }).notNull().default('cloudstack'),
  platformVmId: text('platform_vm_id').notNull(),
  vmName: text('vm_name'),
  kvmHostId: text('kvm_host_id'),
  /** what was asked: auto (the policy decides), full or incremental */
  requestedMode: text('requested_mode', { enum: REQUESTED_MODES }).notNull().default('auto'),
  quiesce: integer('quiesce', { mode: 'boolean' }).notNull().default(false),
  /** what the control plane decided (api/policy/decide.ts); the point records what the agent did */
  type: text('type', { enum: BACKUP_TYPES }).notNull(),
  typeReason: text('type_reason').notNull(),
  trigger: text('trigger', { enum: JOB_TRIGGERS }).notNull(),
  policyId: text('policy_id').references(() => policies.id, { onDelete: 'set null' }),
  repositoryId: text('repository_id').notNull().references(() => repositories.id, { onDelete: 'restrict' }),
  status: text('status', { enum: JOB_STATUSES }).notNull(),
  /** 0..1 */
  progress: real('progress').notNull().default(0),
  bytesTotal: integer('bytes_total'),
  bytesDone: integer('bytes_done').notNull().default(0),
  bytesWritten: integer('bytes_written').notNull().default(0),
  currentDisk: text('current_disk'),
  errorCode: text('error_code'),
  error: text('error'),
  /** the agent's id for the job, once it accepted it: a restarted control plane polls it again */
  agentJobId: text('agent_job_id'),
  requestedBy: text('requested_by'),
  queuedAt: ts('queued_at').notNull(),
  startedAt: ts('started_at'),
  finishedAt: ts('finished_at'),
  updatedAt: updated(),
}, (t) => [
  index('idx_source_platform').on(t.sourcePlatform),
  index('idx_jobs_status').on(t.status),
  index('idx_jobs_vm').on(t.platformVmId, t.queuedAt),
  index('idx_jobs_host').on(t.kvmHostId, t.status),
]);

export const chains = sqliteTable('chains', {
  id: id(),
  platformVmId: text('platform_vm_id').notNull(),
  sourcePlatform: text('source_platform', { enum: SOURCE_PLATFORMS }).notNull(),
  repositoryId: text('repository_id').notNull().references(() => repositories.id, { onDelete: 'restrict' }),
  /** points in the chain, the full included */
  length: integer('length').notNull().default(0),
  state: text('state', { enum: CHAIN_STATES }).notNull().default('open'),
  stateReason: text('state_reason'),
  startedAt: ts('started_at').notNull(),
  lastPointAt: ts('last_point_at'),
}, (t) => [index('idx_chains_vm').on(t.platformVmId, t.repositoryId)]);

export const restorePoints = sqliteTable('restore_points', {
  id: id(),
  /** the repository's point id (YYYYMMDD-HHMMSS, docs/FORMAT.md) */
  pointId: text('point_id').notNull(),
  platformVmId: text('platform_vm_id').notNull(),
  sourcePlatform: text('source_platform', { enum: SOURCE_PLATFORMS }).notNull(),
  repositoryId: text('repository_id').notNull().references(() => repositories.id, { onDelete: 'restrict' }),
  chainId: text('chain_id').notNull().references(() => chains.id, { onDelete: 'restrict' }),
  parentId: text('parent_id').references((): AnySQLiteColumn => restorePoints.id, { onDelete: 'restrict' }),
  jobId: text('job_id').references(() => backupJobs.id, { onDelete: 'set null' }),
  type: text('type', { enum: BACKUP_TYPES }).notNull(),
  reason: text('reason').notNull(),
  consistency: text('consistency').notNull(),
  /** sum of the disks' image file sizes: what the point takes in the repository */
  sizeBytes: integer('size_bytes').notNull(),
  virtualSizeBytes: integer('virtual_size_bytes').notNull(),
  bytesWritten: integer('bytes_written').notNull(),
  manifest: text('manifest', { mode: 'json' }).$type<PointManifest>().notNull(),
  /** what the source platform says about the VM at this point (metadata.json platform_metadata, e.g. `{vmware: {...}}`) */
  platformMetadata: text('platform_metadata', { mode: 'json' }).$type<Record<string, unknown>>(),
  verificationStatus: text('verification_status', { enum: VERIFICATION_STATUSES }).notNull().default('unverified'),
  verifiedAt: ts('verified_at'),
  /** what the last verification found wrong (empty when it passed) */
  verificationProblems: text('verification_problems', { mode: 'json' }).$type<string[]>(),
  /** the maintenance job that last verified the point */
  verificationJobId: text('verification_job_id'),
  /** the point's creation time (manifest created_at) */
  createdAt: ts('created_at').notNull(),
  /** when the control plane recorded it, set by the Store (before migration 0004 this read created_at: the same column twice) */
  recordedAt: ts('recorded_at').notNull(),
  deletedAt: ts('deleted_at'),
}, (t) => [
  // a point id is unique among the live points: a pruned point's id may come back (the agent names points by time)
  uniqueIndex('uq_point_live').on(t.repositoryId, t.platformVmId, t.pointId).where(sql`deleted_at is null`),
  uniqueIndex('uq_point_job').on(t.jobId),
  index('idx_points_vm').on(t.platformVmId, t.createdAt),
  index('idx_points_chain').on(t.chainId),
]);

export const restorePointDisks = sqliteTable('restore_point_disks', {
  id: id(),
  restorePointId: text('restore_point_id').notNull().references(() => restorePoints.id, { onDelete: 'cascade' }),
  diskIndex: integer('disk_index').notNull(),
  target: text('target').notNull(),
  volumeId: text('volume_id'),
  type: text('type', { enum: BACKUP_TYPES }).notNull(),
  image: text('image').notNull(),
  backing: text('backing'),
  checkpoint: text('checkpoint'),
  virtualSizeBytes: integer('virtual_size_bytes').notNull(),
  fileSizeBytes: integer('file_size_bytes').notNull(),
  contentSha256: text('content_sha256').notNull(),
}, (t) => [uniqueIndex('uq_point_disk').on(t.restorePointId, t.diskIndex)]);

export const restores = sqliteTable('restores', {
  id: id(),
  restorePointId: text('restore_point_id').notNull().references(() => restorePoints.id, { onDelete: 'restrict' }),
  platformVmId: text('platform_vm_id').notNull(),
  kind: text('kind', { enum: RESTORE_KINDS }).notNull(),
  /** where to: the VM, or a volume and its pool, as the request gave it */
  target: text('target', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
  status: text('status', { enum: RESTORE_STATUSES }).notNull(),
  progress: real('progress').notNull().default(0),
  error: text('error'),
  agentJobId: text('agent_job_id'),
  requestedBy: text('requested_by'),
  createdAt: created(),
  startedAt: ts('started_at'),
  finishedAt: ts('finished_at'),
  /** the host whose agent does the work (api/restore/plan.ts decides) */
  kvmHostId: text('kvm_host_id'),
  errorCode: text('error_code'),
  /** where the restore stands and what it made: per disk its state, agent job and outcome, new volume ids (api/restore/state.ts) */
  result: text('result', { mode: 'json' }).$type<Record<string, unknown>>(),
  updatedAt: ts('updated_at'),
}, (t) => [index('idx_restores_vm').on(t.platformVmId, t.createdAt), index('idx_restores_status').on(t.status)]);

/**
 * Repository work without a hypervisor (api/retention/, api/verification/): a prune, a
 * verification or an import, run by an agent that can reach the repository. The database
 * changes a job implies (points deleted and merged, verification results, imported chains) are
 * written in the same transaction that marks the job succeeded.
 */
export const maintenanceJobs = sqliteTable('maintenance_jobs', {
  id: id(),
  kind: text('kind', { enum: MAINTENANCE_KINDS }).notNull(),
  trigger: text('trigger', { enum: MAINTENANCE_TRIGGERS }).notNull(),
  status: text('status', { enum: MAINTENANCE_STATUSES }).notNull(),
  repositoryId: text('repository_id').notNull().references(() => repositories.id, { onDelete: 'restrict' }),
  /** the VM (platform id) it is about; null for an import of a whole repository */
  platformVmId: text('platform_vm_id'),
  /** a verification of one point */
  restorePointId: text('restore_point_id'),
  policyId: text('policy_id').references(() => policies.id, { onDelete: 'set null' }),
  /** the host whose agent ran it */
  kvmHostId: text('kvm_host_id'),
  agentJobId: text('agent_job_id'),
  /** what was asked (e.g. the points to remove), as sent */
  request: text('request', { mode: 'json' }).$type<Record<string, unknown>>().notNull(),
  /** what the agent answered and what the database recorded */
  result: text('result', { mode: 'json' }).$type<Record<string, unknown>>(),
  errorCode: text('error_code'),
  error: text('error'),
  requestedBy: text('requested_by'),
  queuedAt: ts('queued_at').notNull(),
  startedAt: ts('started_at'),
  finishedAt: ts('finished_at'),
}, (t) => [
  index('idx_maint_status').on(t.status),
  index('idx_maint_vm').on(t.platformVmId, t.queuedAt),
  index('idx_maint_kind').on(t.kind, t.queuedAt),
]);

export const auditLog = sqliteTable('audit_log', {
  seq: integer('seq').primaryKey({ autoIncrement: true }),
  at: ts('at').notNull(),
  /** username, or `system:<component>` */
  actor: text('actor').notNull(),
  actorId: text('actor_id'),
  actorAccount: text('actor_account'),
  actorDomainId: text('actor_domain_id'),
  /** token, apikey or system */
  via: text('via').notNull(),
  ip: text('ip'),
  /** e.g. backup.start, job.cancel, policy.create, auth.login */
  action: text('action').notNull(),
  targetType: text('target_type'),
  targetId: text('target_id'),
  /** ok, denied or error */
  outcome: text('outcome').notNull(),
  details: text('details', { mode: 'json' }).$type<Record<string, unknown>>(),
}, (t) => [index('idx_audit_at').on(t.at), index('idx_audit_target').on(t.targetType, t.targetId)]);

/**
 * Leases: which control-plane instance does a periodic round (discovery, the scheduler tick,
 * maintenance) right now — several instances on one PostgreSQL share the work, each round runs
 * on one of them. A lease is taken when free or expired, kept by taking it again before it
 * expires, and lost by an instance that dies (another takes it once `expires_at` has passed).
 */
export const leases = sqliteTable('leases', {
  /** what is leased, e.g. `round:scheduler` */
  name: text('name').primaryKey(),
  /** the instance holding it (api/instance.ts) */
  holder: text('holder').notNull(),
  expiresAt: ts('expires_at').notNull(),
  /** since when this holder has held it without a gap */
  acquiredAt: ts('acquired_at').notNull(),
});

/**
 * Sign-in attempts per key (a user name, a client address) in fixed windows, shared by every
 * control-plane instance on the database (api/auth/store-limits.ts).
 */
export const signInWindows = sqliteTable('sign_in_windows', {
  /** `user:<name>` or `addr:<address>` (the limiter's key) */
  key: text('key').primaryKey(),
  windowStart: ts('window_start').notNull(),
  count: integer('count').notNull(),
});

/**
 * Revoked Sendense tokens, shared by every instance: `token` rows end one token (sign-out) and
 * are kept until it would have expired; `user` rows end every token of a user issued at or
 * before `at` (an admin's revoke, a disabled CloudStack user).
 */
export const tokenRevocations = sqliteTable('token_revocations', {
  /** `token:<token id>` or `user:<user id>` */
  id: text('id').primaryKey(),
  /** token: when it expires (then the row can go); user: tokens issued at or before this are revoked */
  at: ts('at').notNull(),
}, (t) => [index('idx_revocations_at').on(t.at)]);

export type Repository = InferSelectModel<typeof repositories>;
export type NewRepository = InferInsertModel<typeof repositories>;
export type CloudStackHost = InferSelectModel<typeof cloudstackHosts>;
export type NewCloudStackHost = InferInsertModel<typeof cloudstackHosts>;
export type CloudStackAgent = InferSelectModel<typeof cloudstackAgents>;
export type NewCloudStackAgent = InferInsertModel<typeof cloudstackAgents>;
export type CloudStackVm = InferSelectModel<typeof cloudstackVms>;
export type NewCloudStackVm = InferInsertModel<typeof cloudstackVms>;
export type Disk = InferSelectModel<typeof disks>;
export type NewDisk = InferInsertModel<typeof disks>;
export type Policy = InferSelectModel<typeof policies>;
export type NewPolicy = InferInsertModel<typeof policies>;
export type PolicyAssignment = InferSelectModel<typeof policyAssignments>;
export type NewPolicyAssignment = InferInsertModel<typeof policyAssignments>;
export type BackupJob = InferSelectModel<typeof backupJobs>;
export type NewBackupJob = InferInsertModel<typeof backupJobs>;
export type Chain = InferSelectModel<typeof chains>;
export type RestorePoint = InferSelectModel<typeof restorePoints>;
export type RestorePointDisk = InferSelectModel<typeof restorePointDisks>;
export type Restore = InferSelectModel<typeof restores>;
export type NewRestore = InferInsertModel<typeof restores>;
export type MaintenanceJob = InferSelectModel<typeof maintenanceJobs>;
export type NewMaintenanceJob = InferInsertModel<typeof maintenanceJobs>;
export type AuditEntry = InferSelectModel<typeof auditLog>;
export type Lease = InferSelectModel<typeof leases>;
export type NewAuditEntry = InferInsertModel<typeof auditLog>;
