/**
 * @layer port
 * AgentService: what the daemon's HTTP routes (routes.ts) call — its health, the host's domains
 * and the job runner — as one interface, so the routes are an adapter in front of a port and the
 * typed client (`hc<AgentAppType>`) follows from them. app.ts builds the real one.
 * JobsError codes map to HTTP statuses in one place (routes.ts).
 */
import type { DomainDisk, DomainInfo } from '../hypervisor/port.ts';
import type { JobEvent, JobKind, JobRecord, JobState } from './job.ts';
import type { BackupBody, ExportBody, PruneBody, RestoreBody, ScanBody, ScanOutcome, VerifyBody } from '../engine/requests.ts';
import type { ImageStream } from '../restore/port.ts';
import type { VmwareImportBody } from '../vmware/requests.ts';

export interface Capabilities {
  libvirt: {
    /** 'libvirt 9.0.0' as virsh reports the library, null when virsh cannot be run */
    version: string | null;
    /** the hypervisor libvirt drives, e.g. 'QEMU 7.2.0' */
    hypervisor: string | null;
    /** domcapabilities says <backup supported='yes'/>: pull-mode backups work */
    backup: boolean;
  };
  /** `qemu-img --version` first line, null when missing */
  qemuImg: string | null;
  /** `qemu-nbd --version` first line (stopped-VM backups), null when missing */
  qemuNbd: string | null;
  /** the NBD client: Sendense's own, built in */
  nbd: { client: 'builtin'; transports: string[]; metaContexts: string[] };
}

export interface Health {
  /** false when the host cannot back up (problems say why): the control plane marks it 'error' */
  ok: boolean;
  problems: string[];
  version: string;
  hostname: string;
  startedAt: string;
  uptimeSec: number;
  capabilities: Capabilities;
  jobs: { running: number; queued: number; concurrency: number };
  /** the work dir's file system (scratch files, exports): the control plane warns when it is nearly full */
  workDir?: { path: string; freeBytes: number; totalBytes: number };
}

export type DomainView = DomainInfo & { disks?: DomainDisk[] };

export interface JobFilter {
  state?: JobState;
  kind?: JobKind;
  /** a domain's name or UUID */
  domain?: string;
  vmId?: string;
  /** newest first; default 100 */
  limit?: number;
}

export type JobsErrorCode = 'not-found' | 'domain-not-found' | 'busy' | 'request-conflict' | 'finished' | 'stopping' | 'hypervisor' | 'journal' | 'unsupported' | 'export-failed' | 'refused';

export class JobsError extends Error {
  override name = 'JobsError';
  /** `jobId`: for 'busy', the job to follow instead */
  constructor(readonly code: JobsErrorCode, message: string, readonly jobId?: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface Submitted {
  job: JobRecord;
  created: boolean;
}

export interface AgentService {
  health(): Promise<Health>;
  domains(opts: { disks: boolean }): Promise<DomainView[]>;
  /** `created: false` when the body's requestId named a job submitted before (that job is returned) */
  submitBackup(body: BackupBody): Promise<Submitted>;
  submitRestore(body: RestoreBody): Promise<Submitted>;
  submitVerify(body: VerifyBody): Promise<Submitted>;
  /** 'busy' while a backup or prune of the VM is queued or running */
  submitPrune(body: PruneBody): Promise<Submitted>;
  /** a VMware export on this host into the repository; 'unsupported' when the engine cannot import */
  submitImport(body: VmwareImportBody): Promise<Submitted>;
  scan(body: ScanBody, signal: AbortSignal): Promise<ScanOutcome>;
  list(filter: JobFilter): Promise<JobRecord[]>;
  get(id: string): Promise<JobRecord>;
  cancel(id: string): Promise<JobRecord>;
  /** first event: the job now ('state', or 'done' when finished); returns the unsubscribe */
  subscribe(id: string, listener: (e: JobEvent) => void): Promise<() => void>;
  /** JobsError 'unsupported' when the engine cannot export (fake engines without it) */
  exportDisk(body: ExportBody, signal: AbortSignal): Promise<ImageStream>;
}
