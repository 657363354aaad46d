/**
 * @layer port
 * The Store: what the control plane's use cases and API read and write, one interface per
 * aggregate (VMs and their disks, hosts, agents, jobs, restore points and chains, policies and
 * assignments, repositories, audit log). Row types come from db/schema.ts.
 *
 * Contract (the SQLite adapter in db/sqlite/ keeps it; a PostgreSQL one would too):
 * - every method is async and atomic: a method that changes several rows (recording a point)
 *   changes all of them or none;
 * - `jobs.update` with `expect` is a compare-and-set on the job's status: it changes nothing and
 *   returns undefined when the job is not in one of the expected states (the job state machine's
 *   guard against two writers, e.g. a cancel racing the agent's result);
 * - `points.record` refuses (StoreError 'conflict') an incremental whose parent is not the head
 *   of the VM's open chain in that repository, and a job that is not running/cancelling: a
 *   point is recorded only from a live job and only on top of what is recorded;
 * - lists are ordered (newest first for jobs, points and audit entries) and paged with
 *   `limit`/`offset`; `Scope` limits rows to what a caller may see (api/auth/authorize.ts).
 *
 * The in-memory variant of this port is the same adapter on `:memory:` SQLite (db/open.ts):
 * a second, hand-written implementation would only be a place for the two to disagree.
 */
import type { PointManifest } from '../agent/repository/manifest.ts';
import type {
  AgentCapabilities, AgentStatus, AssignmentKind, AuditEntry, BackupJob, Chain, CloudStackAgent, CloudStackHost, CloudStackVm,
  Disk, JobStatus, MaintenanceJob, MaintenanceKind, MaintenanceStatus, NewAuditEntry, NewBackupJob, NewCloudStackHost, NewCloudStackVm,
  NewDisk, NewMaintenanceJob, NewPolicy, NewRepository, Policy, PolicyAssignment, Repository, RestorePoint, RestorePointDisk, SourcePlatform,
} from './schema.ts';

import type { Lease, NewRestore, Restore, RestoreStatus } from './schema.ts';

/** unavailable: the database cannot be reached right now (PostgreSQL gone away); retrying later may work */
export type StoreErrorCode = 'notfound' | 'conflict' | 'invalid' | 'unavailable';

export class StoreError extends Error {
  override name = 'StoreError';
  constructor(readonly code: StoreErrorCode, message: string, options?: { cause?: unknown }) {
    super(`[db] ${message}`, options);
  }
}

/** Which VMs (and so which jobs and points) a caller sees. */
export type Scope =
  | { kind: 'all' }
  /** a domain admin: VMs of these domains (their domain and its subdomains) */
  | { kind: 'domains'; domainIds: string[] }
  /** a user: VMs of one account */
  | { kind: 'account'; domainId: string; account: string };

export interface Page {
  limit?: number;
  offset?: number;
}

/**
 * A VM's protection, decided by the Store from its jobs and points (db/sqlite/vm-protection.ts):
 * `failing` when its newest finished backup (succeeded or failed) failed, else `protected` when it
 * has a live restore point, else `unprotected`.
 */
export const PROTECTIONS = ['protected', 'unprotected', 'failing'] as const;
export type Protection = (typeof PROTECTIONS)[number];

/** what a VM list may be sorted by; `lastBackup` is the newest live point's time (none last) */
export const VM_SORTS = ['name', 'state', 'account', 'lastBackup', 'protection'] as const;
export type VmSort = (typeof VM_SORTS)[number];

export interface VmFilter extends Page {
  scope?: Scope;
  includeRemoved?: boolean;
  hostId?: string;
  zoneId?: string;
  /** name or display name contains (case-insensitive) */
  search?: string;
  protection?: Protection;
  /** the VM's source platform: its newest live point's, `cloudstack` without one */
  platform?: SourcePlatform;
  /** the account's name (of any domain in scope); with `domainId`, that domain's account */
  account?: string;
  domainId?: string;
  /** default `name`; ties broken by name, then id */
  sort?: VmSort;
  descending?: boolean;
}

/** What the VM list shows of each VM's protection (one query for a page of VMs, never one per VM). */
export interface VmProtection {
  vmId: string;
  status: Protection;
  platform: SourcePlatform;
  /** live restore points (every repository) */
  points: number;
  lastPoint: Pick<RestorePoint, 'id' | 'pointId' | 'type' | 'createdAt' | 'verificationStatus' | 'sizeBytes' | 'sourcePlatform' | 'chainId'> | null;
  /** length of the newest point's chain */
  chainLength: number | null;
  /** the newest backup job, whatever its state */
  lastJob: Pick<BackupJob, 'id' | 'status' | 'type' | 'queuedAt' | 'finishedAt' | 'errorCode' | 'error' | 'sourcePlatform'> | null;
}

export interface ProtectionCounts extends Record<Protection, number> {
  /** VMs in scope (not removed): protected + unprotected + failing */
  vms: number;
}

export interface VmStore {
  list(filter?: VmFilter): Promise<CloudStackVm[]>;
  count(filter?: VmFilter): Promise<number>;
  /** every stored VM, removed ones included, unpaged (discovery compares against it) */
  all(): Promise<CloudStackVm[]>;
  get(id: string): Promise<CloudStackVm | undefined>;
  /** inserts or updates by id; an upserted VM is no longer removed */
  upsert(vms: NewCloudStackVm[]): Promise<void>;
  markRemoved(ids: string[], at: Date): Promise<void>;
  disks(vmId: string): Promise<Disk[]>;
  /** upserts these disks of the VM; its other disks are marked removed */
  replaceDisks(vmId: string, disks: NewDisk[], at: Date): Promise<void>;
  /** the protection of these VMs (unknown ids are left out), in the order asked */
  protection(vmIds: string[]): Promise<VmProtection[]>;
  /** how many VMs in scope (not removed) are protected, unprotected and failing */
  protectionCounts(scope?: Scope): Promise<ProtectionCounts>;
}

export interface HostStore {
  list(opts?: { includeRemoved?: boolean }): Promise<CloudStackHost[]>;
  get(id: string): Promise<CloudStackHost | undefined>;
  upsert(hosts: NewCloudStackHost[]): Promise<void>;
  markRemoved(ids: string[], at: Date): Promise<void>;
}

export interface AgentHeartbeat {
  status: AgentStatus;
  at: Date;
  message?: string | null;
  version?: string | null;
  hostname?: string;
  capabilities?: AgentCapabilities | null;
  sshKeyFingerprint?: string | null;
}

export interface AgentStore {
  list(): Promise<CloudStackAgent[]>;
  getByHost(hostId: string): Promise<CloudStackAgent | undefined>;
  /** makes sure a row exists for the host (status inactive until a heartbeat), updating IP and name */
  ensure(host: { hostId: string; hostIp: string; hostname: string }): Promise<CloudStackAgent>;
  heartbeat(hostId: string, beat: AgentHeartbeat): Promise<void>;
}

export interface JobFilter extends Page {
  scope?: Scope;
  vmId?: string;
  status?: JobStatus[];
  hostId?: string;
}

export type JobPatch = Partial<Omit<BackupJob, 'id' | 'queuedAt'>>;

/** How a finished job's point joins the chains (planned by api/jobs/link-point.ts). */
export interface PointRecord {
  jobId: string;
  /** the job's changes that go with the point (status succeeded, counters, finishedAt) */
  jobPatch: JobPatch;
  manifest: PointManifest;
  platformVmId: string;
  sourcePlatform: SourcePlatform;
  repositoryId: string;
  /** a full starts a new chain (the open one is closed); an incremental extends `chainId` */
  chain: { kind: 'new' } | { kind: 'extend'; chainId: string; parentId: string };
  /** volume ids of the disks, by disk index, when known */
  volumeIds?: Record<number, string>;
}

/** Backups queued in a time window, by status, and bytes written per UTC day (the overview). */
export interface JobActivity {
  byStatus: Record<JobStatus, number>;
  /** succeeded jobs' bytes written, by the UTC day (YYYY-MM-DD) they finished; days without any left out */
  bytesPerDay: { day: string; bytes: number }[];
}

export interface JobStore {
  create(job: NewBackupJob): Promise<BackupJob>;
  get(id: string): Promise<BackupJob | undefined>;
  list(filter?: JobFilter): Promise<BackupJob[]>;
  count(filter?: JobFilter): Promise<number>;
  /** jobs not yet finished (queued, dispatching, running, cancelling), oldest first */
  unfinished(): Promise<BackupJob[]>;
  /** compare-and-set when `expect` is given; resolves with the updated row, or undefined */
  update(id: string, patch: JobPatch, expect?: JobStatus[]): Promise<BackupJob | undefined>;
  countByStatus(): Promise<Record<JobStatus, number>>;
  /** jobs of VMs in scope queued since `since` by status; bytes per day of jobs finished since `daysSince` */
  activity(f: { scope?: Scope; since: Date; daysSince: Date }): Promise<JobActivity>;
}

export interface ChainHead {
  chain: Chain;
  /** the newest point of the chain, with its disks */
  point: RestorePoint;
  disks: RestorePointDisk[];
}

export interface UsageRow {
  repositoryId: string;
  sourcePlatform: SourcePlatform;
  points: number;
  bytes: number;
}

export interface PointStore {
  /** not deleted, newest first */
  listForVm(vmId: string, page?: Page): Promise<RestorePoint[]>;
  countForVm(vmId: string): Promise<number>;
  get(id: string): Promise<(RestorePoint & { disks: RestorePointDisk[] }) | undefined>;
  /** the open chain of a VM in a repository and its newest point, if any */
  chainHead(vmId: string, repositoryId: string): Promise<ChainHead | undefined>;
  /** records the point and finishes its job in one transaction (see the contract above) */
  record(rec: PointRecord): Promise<RestorePoint>;
  usage(): Promise<UsageRow[]>;
  total(): Promise<{ points: number; bytes: number }>;
  /** every live point of the VM (in one repository when given), oldest first, unpaged */
  allForVm(vmId: string, repositoryId?: string): Promise<RestorePoint[]>;
  /** live points and their bytes per VM (in one repository when given), most bytes first */
  usageByVm(repositoryId?: string): Promise<VmUsageRow[]>;
  /** live points by verification status (metrics) */
  countByVerification(): Promise<Record<'unverified' | 'verified' | 'failed', number>>;
}

export interface VmUsageRow extends UsageRow {
  platformVmId: string;
}

export interface PolicyStore {
  list(): Promise<Policy[]>;
  get(id: string): Promise<Policy | undefined>;
  create(p: NewPolicy): Promise<Policy>;
  update(id: string, patch: Partial<Omit<NewPolicy, 'id' | 'createdAt'>>): Promise<Policy | undefined>;
  /** false when there was no such policy */
  delete(id: string): Promise<boolean>;
  assignments(policyId?: string): Promise<PolicyAssignment[]>;
  /** one assignment per (kind, target): assigning it again moves it to this policy */
  assign(a: { policyId: string; kind: AssignmentKind; target: string; createdBy?: string | null; createdByRole?: 'root-admin' | 'domain-admin' | 'user' | null }): Promise<PolicyAssignment>;
  unassign(assignmentId: string): Promise<boolean>;
  getAssignment(assignmentId: string): Promise<PolicyAssignment | undefined>;
  markRun(id: string, at: Date): Promise<void>;
  /**
   * claims one schedule time of the policy: sets `lastRunAt` (or `verifyLastRunAt`) to `at` only
   * when it still is `seen` (compare-and-set); false when another instance claimed it first
   */
  claimRun(id: string, field: 'lastRunAt' | 'verifyLastRunAt', seen: Date | null, at: Date): Promise<boolean>;
}

export interface RepositoryStore {
  list(): Promise<Repository[]>;
  get(id: string): Promise<Repository | undefined>;
  getDefault(): Promise<Repository | undefined>;
  /** the configured repositories, by name (url, kind, capacity and default flag updated) */
  sync(repos: Omit<NewRepository, 'id' | 'createdAt' | 'updatedAt'>[]): Promise<Repository[]>;
}

export interface MaintenanceFilter extends Page {
  vmId?: string;
  kind?: MaintenanceKind;
  status?: MaintenanceStatus[];
  repositoryId?: string;
}

export type MaintenancePatch = Partial<Omit<MaintenanceJob, 'id' | 'kind' | 'queuedAt'>>;

/** What a prune did on the repository (the agent's PruneOutcome, agent/daemon/schemas.ts). */
export interface PruneApplied {
  removed: string[];
  merged: { pointId: string; from: string[]; bytesWritten: number }[];
  bytesFreed: number;
  durationMs: number;
}

/** What a verification found, per point (repository point ids). */
export interface VerifyApplied {
  points: { pointId: string; ok: boolean; problems: string[] }[];
  durationMs: number;
}

/** One VM of a repository scan: its points as the manifests say. */
export interface ScannedVm {
  vmId: string;
  sourcePlatform: SourcePlatform;
  points: PointManifest[];
  bytesUsed: number;
  /** the repository's metadata.json platform_metadata (e.g. `{vmware: {...}}`), recorded on each point imported */
  platformMetadata?: Record<string, unknown> | null;
  /**
   * the VM's new points come from imports (a VMware VM): its points the database lacks are
   * appended even when some are recorded — a full starts a new chain, an incremental must
   * follow the newest recorded point (else it is skipped and said why)
   */
  extend?: boolean;
}

export interface ImportApplied {
  imported: { vmId: string; sourcePlatform: SourcePlatform; points: number; chains: number }[];
  skipped: { vmId: string; reason: string }[];
}

/**
 * Maintenance jobs (prune, verify, import) and the database changes they imply. Each `finish*`
 * writes the outcome and marks the job done in one transaction, and only from a running job
 * (StoreError 'conflict' otherwise): a failed or lost job changes no point.
 * - finishPrune: removed points are marked deleted; merged points become fulls (parent null);
 *   the touched chains are re-rooted — each chain keeps its newest survivors under its id, a part
 *   split off by a merge becomes a closed chain of its own, and lengths are recounted; a chain with
 *   no survivor is closed. The job succeeds.
 * - finishVerify: each point's status (verified / failed), time, problems and job; the job
 *   succeeds when every point passed, and fails ('verification_failed') otherwise.
 * - finishImport: points the database does not know, of VMs it has no point of in the
 *   repository, recorded from their manifests (chains rebuilt from the parents; the newest chain
 *   open); VMs partly known are skipped and said why, unless the scan says `extend` (a VMware
 *   VM's re-import): then its new points are appended after the newest recorded one. `usedBytes` of a whole-repository scan
 *   becomes the repository's used bytes.
 */
export interface MaintenanceStore {
  create(job: NewMaintenanceJob): Promise<MaintenanceJob>;
  get(id: string): Promise<MaintenanceJob | undefined>;
  /** newest first */
  list(filter?: MaintenanceFilter): Promise<MaintenanceJob[]>;
  count(filter?: MaintenanceFilter): Promise<number>;
  /** queued or running, oldest first */
  unfinished(): Promise<MaintenanceJob[]>;
  /** compare-and-set on the status when `expect` is given */
  update(id: string, patch: MaintenancePatch, expect?: MaintenanceStatus[]): Promise<MaintenanceJob | undefined>;
  finishPrune(id: string, outcome: PruneApplied, at: Date): Promise<MaintenanceJob>;
  finishVerify(id: string, outcome: VerifyApplied, at: Date): Promise<MaintenanceJob>;
  finishImport(id: string, scan: { vms: ScannedVm[]; usedBytes?: number }, at: Date): Promise<{ job: MaintenanceJob; applied: ImportApplied }>;
}

export interface AuditFilter extends Page {
  targetType?: string;
  targetId?: string;
  action?: string;
}

export interface AuditStore {
  append(entry: Omit<NewAuditEntry, 'seq'>): Promise<void>;
  list(filter?: AuditFilter): Promise<AuditEntry[]>;
}

export interface RestoreFilter extends Page {
  scope?: Scope;
  vmId?: string;
  status?: RestoreStatus[];
}

export type RestorePatch = Partial<Omit<Restore, 'id' | 'createdAt'>>;

/** Restores (api/restore/): like jobs, `update` with `expect` is a compare-and-set on the status. */
export interface RestoreStore {
  create(r: NewRestore): Promise<Restore>;
  get(id: string): Promise<Restore | undefined>;
  /** newest first */
  list(filter?: RestoreFilter): Promise<Restore[]>;
  count(filter?: RestoreFilter): Promise<number>;
  /** queued, running or cancelling, oldest first */
  unfinished(): Promise<Restore[]>;
  update(id: string, patch: RestorePatch, expect?: RestoreStatus[]): Promise<Restore | undefined>;
}

/**
 * Leases (db/schema.ts `leases`): `acquire` takes the lease when it is free, expired, or already
 * this holder's (then it is extended) and says whether the holder has it now; atomic, so of
 * several instances asking at once exactly one gets it. `release` gives it up (only its holder's).
 */
export interface LeaseStore {
  acquire(name: string, holder: string, ttlMs: number, now: Date): Promise<boolean>;
  release(name: string, holder: string): Promise<void>;
  get(name: string): Promise<Lease | undefined>;
}

/**
 * Sign-in limits and token revocations, shared by every control-plane instance on the database
 * (db/schema.ts sign_in_windows, token_revocations; api/auth/store-limits.ts uses them):
 * - `hit` counts one attempt for `key` atomically — in the current window, or as the first of a
 *   new one when `windowMs` have passed since the window started — and returns the window;
 * - `revoke(id, at)` records `token:<id>` (until it expires) or `user:<id>` (tokens issued at or
 *   before `at`), keeping the later time when asked twice; `revocations` reads several ids;
 * - `sweep` drops token rows expired, user rows and windows older than the given times.
 */
export interface AuthStore {
  hit(key: string, windowMs: number, now: Date): Promise<{ count: number; windowStart: Date }>;
  window(key: string): Promise<{ count: number; windowStart: Date } | undefined>;
  reset(key: string): Promise<void>;
  revoke(id: string, at: Date): Promise<void>;
  revocations(ids: string[]): Promise<Map<string, Date>>;
  sweep(before: { tokens: Date; users: Date; windows: Date }): Promise<void>;
}

export interface Store {
  vms: VmStore;
  hosts: HostStore;
  agents: AgentStore;
  jobs: JobStore;
  points: PointStore;
  policies: PolicyStore;
  repositories: RepositoryStore;
  audit: AuditStore;
  restores: RestoreStore;
  maintenance: MaintenanceStore;
  leases: LeaseStore;
  auth: AuthStore;
  /** SQLite closes at once; PostgreSQL resolves once the pool has ended */
  close(): void | Promise<void>;
}

/** Where a new restore point goes in the catalogue: its VM, repository, chain and parent (both adapters). */
export interface PointPlace {
  platformVmId: string;
  sourcePlatform: SourcePlatform;
  repositoryId: string;
  chainId: string;
  parentId: string | null;
  jobId: string | null;
  volumeIds?: Record<number, string>;
  /** restore_points.platform_metadata */
  platformMetadata?: Record<string, unknown> | null;
}
