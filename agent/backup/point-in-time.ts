/**
 * @layer usecase
 * PointInTime: every disk of one backup taken from one moment. A running VM: optionally its
 * filesystems frozen through the guest agent, a pull-mode backup job begun (with the new
 * checkpoint), thawed at once; each disk then read from the job's NBD export. A stopped VM: each
 * image exported read-only with qemu-nbd (with the parent's bitmap for an incremental).
 * end() ends the job once the copy is safe; cleanup() is the watchdog's part: whatever failed,
 * no job is left running, no filesystem frozen, no VM paused, no export serving.
 */
import type { BackupExport, Hypervisor, StoppedExport } from '../hypervisor/port.ts';
import type { BackupCheckpoints } from './checkpoint.ts';
import { BackupError } from './errors.ts';
import type { BackupPlan, DiskPlan } from './plan.ts';

export interface DiskSource {
  /** the NBD URI to read the disk from */
  uri: string;
  /** the meta context of the dirty bitmap (incremental), if any */
  dirtyContext?: string;
}

export class PointInTime {
  private exported: BackupExport | undefined;
  private readonly stopped: StoppedExport[] = [];
  private frozen = false;
  /** what the manifest says about consistency */
  consistency: string;

  constructor(
    private readonly hv: Hypervisor, private readonly plan: BackupPlan,
    private readonly o: { jobDir: string; checkpoints: BackupCheckpoints; log: (m: string) => void },
  ) {
    this.consistency = plan.running ? 'crash-consistent: no guest agent freeze requested' : 'VM shut off: consistent';
  }

  /** A running VM: the backup job begun (frozen around it when asked); a stopped VM: nothing yet. */
  async begin(o: { quiesce?: boolean; quiesceTimeoutMs?: number }, signal?: AbortSignal): Promise<void> {
    const { hv, plan } = this;
    if (!plan.running) return;
    if (o.quiesce) {
      const fr = await hv.guestAgentFreeze(plan.domain, o.quiesceTimeoutMs ?? 10_000, signal);
      if (fr.ok) { this.frozen = true; this.consistency = `application-consistent: guest agent froze ${fr.frozen} filesystem(s)`; }
      else this.consistency = `crash-consistent: guest agent ${fr.reason} (${fr.message})`;
    }
    try {
      this.exported = await hv.beginBackup(plan.domain, {
        disks: plan.disks.map((d) => ({ target: d.disk.target, incrementalFrom: d.decision.type === 'incremental' ? d.parent!.checkpoint! : undefined })),
        checkpoint: plan.tracked.length ? { name: plan.checkpoint, disks: plan.tracked } : undefined,
        socketPath: `${this.o.jobDir}/nbd.sock`,
        scratchDir: `${this.o.jobDir}/scratch`,
      }, signal);
      this.o.checkpoints.begun();
      this.o.log(`backup job begun: ${this.exported.exports.map((x) => x.uri).join(' ')}`);
    } finally {
      if (this.frozen) {
        // aborted meanwhile: this thaw rejects, `frozen` stays set and cleanup() thaws without the signal
        const th = await hv.guestAgentThaw(plan.domain, 10_000, signal);
        this.frozen = false;
        if (!th.ok) this.o.log(`guest agent thaw: ${th.message}`);
      }
    }
  }

  /** Where to read one disk from. */
  async source(d: DiskPlan, signal?: AbortSignal): Promise<DiskSource> {
    const incremental = d.decision.type === 'incremental';
    if (this.plan.running) {
      const ex = this.exported?.exports.find((e) => e.disk === d.disk.target);
      if (!ex) throw new BackupError(`[backup] the backup job exported no '${d.disk.target}'`);
      const dirtyContext = incremental ? ex.bitmapContext : undefined;
      if (incremental && !dirtyContext) throw new BackupError(`[backup] the incremental export of ${d.disk.target} offers no dirty bitmap`);
      return { uri: ex.uri, dirtyContext };
    }
    const se = await this.hv.exportStopped(d.disk.source, {
      socketPath: `${this.o.jobDir}/${d.disk.target}.sock`,
      bitmap: incremental ? d.parent!.checkpoint! : undefined,
      format: d.disk.format || undefined,
    }, signal);
    this.stopped.push(se);
    return { uri: se.uri, dirtyContext: se.bitmapContext };
  }

  /** The copy is safe: the job ended, the exports stopped. */
  async end(signal?: AbortSignal): Promise<void> {
    if (this.exported) await this.hv.abortJob(this.plan.domain, signal);
    this.exported = undefined;
    for (const s of this.stopped.splice(0)) await s.stop();
  }

  /** The watchdog (never throws): thawed, and unless the point was committed the job ended and the VM resumed. */
  async cleanup(committed: boolean): Promise<void> {
    const { hv, plan, o } = this;
    if (this.frozen) await hv.guestAgentThaw(plan.domain, 10_000).catch(() => {});
    // on success the job was ended before the commit; on any failure end it now, whatever state it is in
    if (plan.running && !committed) {
      await hv.abortJob(plan.domain).catch((e) => o.log(`ending the backup job failed: ${(e as Error).message}`));
      // a VM that ran when the run began is never left paused (one paused before is left as it was)
      if (plan.vmState === 'running' && (await hv.isPaused(plan.domain).catch(() => false))) {
        o.log(`${plan.domain} was left paused: resuming it`);
        await hv.resume(plan.domain).catch(() => {});
      }
    }
    for (const s of this.stopped) await s.stop().catch(() => {});
  }
}
