/**
 * @layer port
 * AgentEngine: what the daemon's jobs run — the agent's backup, restore and verify use cases,
 * behind one small port so the daemon can be tested with a fake engine and run with the real one
 * (libvirt-engine.ts wires runBackup, restoreDisk and verifyPoints to libvirt, NBD and targets).
 *
 * Contract:
 * - each call runs to the end and resolves with its outcome, or rejects with an Error whose
 *   message says what failed (and, for a backup, that no restore point was recorded);
 * - `run.signal` aborts it: the call cleans up first (the backup's watchdog ends the libvirt job,
 *   thaws, resumes, removes partial files) and only then rejects;
 * - `run.onProgress` is called as bytes move (often: the caller throttles).
 * - a verification that finds problems resolves with ok: false (the caller decides what it means).
 */
import type { JobProgress } from './job.ts';
import type { BackupBody, BackupOutcome, PruneBody, PruneOutcome, RestoreBody, RestoreOutcome, ScanBody, ScanOutcome, VerifyBody, VerifyOutcome } from './schemas.ts';

export type ProgressSample = Omit<JobProgress, 'at'>;

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
}
