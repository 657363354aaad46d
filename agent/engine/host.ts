/**
 * @layer entry
 * The agent's composition root: `hostEngine()` wires the real adapters — one LibvirtHypervisor
 * per process (its virsh sessions and per-domain locks shared by every job), Sendense's NBD
 * client, local or SSH repositories, the qcow2 checker, HTTP uploads — to the use cases, as one
 * engine that both processes use: the daemon runs its jobs on it (`daemonEngine`), and every CLI
 * subcommand calls it the way the daemon does (agent/cli/ keeps only argv, progress and output).
 *
 * One engine per process: `sendense-agent serve` builds one for its lifetime; a CLI command
 * builds one for its one job, with `closeInBackground` (the process exits once the answer is out).
 */
import type { LibvirtHypervisor } from '../hypervisor/libvirt.ts';
import type { ImageStream } from '../restore/port.ts';
import { backupJob, type HostBackup } from './backup-job.ts';
import { hostContext, type HostContext, type HostContextOptions } from './context.ts';
import type { AgentEngine, DiskExporter, EngineRun } from './port.ts';
import { listJob, pruneJob, scanJob, type ListOutcome, type ListRequest, type PruneReport } from './repository-jobs.ts';
import type { BackupOutcome, ExportBody, PruneBody, RestoreBody, RestoreOutcome, ScanBody, ScanOutcome, VerifyBody, VerifyOutcome } from './requests.ts';
import { exportJob, restoreJob, verifyJob } from './restore-jobs.ts';
import { DEFAULT_IMPORT_ROOT, vmwareImportJob } from '../vmware/import-job.ts';
import type { VmwareImportBody, VmwareImportOutcome } from '../vmware/requests.ts';

export type { HostBackup } from './backup-job.ts';
export type { ListOutcome, ListRequest, PruneReport } from './repository-jobs.ts';

export interface HostEngine extends AgentEngine, DiskExporter {
  /** the process's hypervisor (the daemon lists domains and stops leftover exports with it) */
  readonly hypervisor: LibvirtHypervisor;
  /** the work directory for per-job sockets and scratch files (made if missing) */
  workDir(): string;
  /** `vmId` may be left out here (the domain's UUID), and `inFlight` set (NBD requests per connection) */
  backup(req: HostBackup, run: EngineRun): Promise<BackupOutcome>;
  restore(req: RestoreBody, run: EngineRun): Promise<RestoreOutcome>;
  verify(req: VerifyBody, run: EngineRun): Promise<VerifyOutcome>;
  prune(req: PruneBody, run: EngineRun): Promise<PruneReport>;
  scan(req: ScanBody, signal: AbortSignal): Promise<ScanOutcome>;
  importVmware(req: VmwareImportBody, run: EngineRun): Promise<VmwareImportOutcome>;
  /** the VMs and points of a repository (`sendense-agent list`) */
  list(req: ListRequest, signal: AbortSignal): Promise<ListOutcome>;
  exportDisk(req: ExportBody, signal: AbortSignal): Promise<ImageStream>;
  /** waits for repository connections still closing (closeInBackground) */
  settle(): Promise<void>;
}

export type HostEngineOptions = HostContextOptions & {
  /** VMware exports are read below this folder only (default SENDENSE_AGENT_IMPORT_ROOT or /var/lib/sendense-agent/import) */
  importRoot?: string;
};

export function hostEngine(opts: HostEngineOptions = {}): HostEngine {
  const ctx: HostContext = hostContext(opts);
  return {
    get hypervisor() { return ctx.hypervisor; },
    workDir: () => ctx.workDir(),
    backup: (req, run) => backupJob(ctx, req, run),
    restore: (req, run) => restoreJob(ctx, req, run),
    verify: (req, run) => verifyJob(ctx, req, run),
    prune: (req, run) => pruneJob(ctx, req, run),
    scan: (req, signal) => scanJob(ctx, req, signal),
    importVmware: (req, run) => vmwareImportJob(ctx, req, run, opts.importRoot ?? process.env.SENDENSE_AGENT_IMPORT_ROOT ?? DEFAULT_IMPORT_ROOT),
    list: (req, signal) => listJob(ctx, req, signal),
    exportDisk: (req, signal) => exportJob(ctx, req, signal),
    settle: () => ctx.settle(),
  };
}

/** The engine as the daemon's jobs use it: a prune's job result is the outcome (requests.ts
 * PruneOutcome), without the read count the CLI prints. */
export function daemonEngine(engine: HostEngine): AgentEngine & DiskExporter {
  return {
    backup: (req, run) => engine.backup(req, run),
    restore: (req, run) => engine.restore(req, run),
    verify: (req, run) => engine.verify(req, run),
    async prune(req, run) {
      const { bytesRead: _read, ...outcome } = await engine.prune(req, run);
      return outcome;
    },
    scan: (req, signal) => engine.scan(req, signal),
    importVmware: (req, run) => engine.importVmware(req, run),
    exportDisk: (req, signal) => engine.exportDisk(req, signal),
  };
}
