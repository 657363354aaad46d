/**
 * @layer port
 * AgentEngine: what the agent does — backup, restore, verify, prune, scan and the download of one
 * disk — behind one port, so the daemon's jobs and the CLI's subcommands call the same thing and
 * the daemon can be tested with a fake engine (agent/daemon/fake-engine.ts). The real one for
 * this host is built once per process by agent/engine/host.ts (`hostEngine`).
 *
 * Contract:
 * - each call runs to the end and resolves with its outcome, or rejects with an Error whose
 *   message says what failed (and, for a backup, that no restore point was recorded);
 * - `run.signal` aborts it: the call cleans up first (the backup's watchdog ends the libvirt job,
 *   thaws, resumes, removes partial files) and only then rejects;
 * - `run.onProgress` is called as bytes move (often: the caller throttles);
 * - a verification that finds problems resolves with ok: false (the caller decides what it means).
 */
import type {
  BackupBody, BackupOutcome, ExportBody, PruneBody, PruneOutcome, RestoreBody, RestoreOutcome, ScanBody, ScanOutcome, VerifyBody, VerifyOutcome,
} from './requests.ts';
import type { ImageStream } from '../restore/port.ts';
import type { VmwareImportBody, VmwareImportOutcome } from '../vmware/requests.ts';

/** How far a job is (the daemon stamps it with a time: agent/daemon/job.ts JobProgress). */
export interface ProgressSample {
  /** bytes read so far (backup: from the disks; restore, verify, prune: from the repository) */
  bytesDone: number;
  /** bytes to read in all (0 while unknown) */
  bytesTotal: number;
  /** backup: the disk being copied, its index and how many there are */
  disk?: string;
  diskIndex?: number;
  disks?: number;
  /** backup: bytes written to the repository so far */
  bytesWritten?: number;
}

export interface EngineRun {
  signal: AbortSignal;
  onProgress(p: ProgressSample): void;
  log(msg: string): void;
}

/** A backup request as the engine gets it: the repository VM id is always resolved. */
export type EngineBackup = BackupBody & { vmId: string };

export interface AgentEngine {
  backup(req: EngineBackup, run: EngineRun): Promise<BackupOutcome>;
  restore(req: RestoreBody, run: EngineRun): Promise<RestoreOutcome>;
  verify(req: VerifyBody, run: EngineRun): Promise<VerifyOutcome>;
  /** removes points, merging forward what remains (docs/FORMAT.md, "Retention") */
  prune(req: PruneBody, run: EngineRun): Promise<PruneOutcome>;
  /** what a repository holds (synchronous: no job) */
  scan(req: ScanBody, signal: AbortSignal): Promise<ScanOutcome>;
  /** a VMware export on this host into the repository (agent/vmware/import-job.ts); engines without it refuse imports */
  importVmware?(req: VmwareImportBody, run: EngineRun): Promise<VmwareImportOutcome>;
}

/**
 * Streams one disk of one point (the daemon's POST /v1/exports). Rejects before any byte for a
 * missing point or disk; the stream's body throws on a damaged block (the client sees a truncated
 * body). The caller must close() the stream, consumed or not.
 */
export interface DiskExporter {
  exportDisk(body: ExportBody, signal: AbortSignal): Promise<ImageStream>;
}
