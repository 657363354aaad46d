/**
 * @layer usecase
 * BackupCheckpoints: carries out the checkpoint policy (checkpoint-policy.ts) of one backup run
 * on the Hypervisor port — the repairs before the job, the new bitmaps of a stopped VM's images
 * after the copy, the older checkpoints dropped after the commit, and, when the run fails, the
 * checkpoint it created removed again. It remembers what this run created, so the watchdog's
 * discard() removes exactly that.
 */
import type { Hypervisor } from '../hypervisor/port.ts';
import { checkpointsToForget } from './checkpoint-policy.ts';
import type { BackupPlan } from './plan.ts';

export class BackupCheckpoints {
  /** beginBackup created the new checkpoint (running VM, some disk tracked) */
  private created = false;
  /** bitmaps this run added to stopped images */
  private readonly offline: { image: string; name: string }[] = [];

  constructor(private readonly hv: Hypervisor, private readonly plan: BackupPlan, private readonly log: (m: string) => void) {}

  /** Before the job: inconsistent parent bitmaps removed, a forgotten parent checkpoint redefined. */
  async repair(signal?: AbortSignal): Promise<void> {
    const { hv, plan, log } = this;
    for (const d of plan.repair.drop) {
      log(`removing inconsistent bitmap ${d.checkpoint} of ${d.target}`);
      await hv.deleteCheckpointMetadata(plan.domain, d.checkpoint, signal).catch(() => {});
      await hv.removeBitmap(plan.domain, d.target, d.checkpoint, signal).catch((e) => log(`could not remove bitmap: ${(e as Error).message}`));
    }
    const rec = plan.repair.redefine;
    if (rec) {
      log(`redefining checkpoint ${rec.name} in libvirt from the repository record`);
      await hv.redefineCheckpoint(plan.domain, rec, signal);
    }
  }

  /** The backup job began with the new checkpoint (if any disk is tracked). */
  begun(): void {
    this.created = this.plan.tracked.length > 0;
  }

  /** A stopped VM after the copy: the new bitmap in each tracked image (nothing changed since). */
  async markStoppedImages(signal?: AbortSignal): Promise<void> {
    for (const d of this.plan.disks.filter((x) => x.decision.track)) {
      await this.hv.addBitmapOffline(d.disk.source, this.plan.checkpoint, signal);
      this.offline.push({ image: d.disk.source, name: this.plan.checkpoint });
    }
  }

  /** After the commit: only the newest checkpoint is a parent; the older ones go (failures are logged). */
  async dropOld(): Promise<void> {
    const { hv, plan, log } = this;
    const keep = plan.checkpoint;
    // records first (a bitmap a checkpoint still names cannot be removed), then the bitmaps, disks in parallel
    await Promise.all(checkpointsToForget(plan.knownCheckpoints, keep)
      .map((n) => hv.deleteCheckpointMetadata(plan.domain, n).catch((e) => log(`could not forget checkpoint ${n}: ${(e as Error).message}`))));
    await Promise.all(plan.disks.filter((x) => x.decision.track).map(async (d) => {
      for (const name of d.oldBitmaps) {
        if (name === keep) continue;
        await (plan.running ? hv.removeBitmap(plan.domain, d.disk.target, name) : hv.removeBitmapOffline(d.disk.source, name))
          .catch((e) => log(`could not remove old bitmap ${name}: ${(e as Error).message}`));
      }
    }));
  }

  /** The run failed: the checkpoint it created goes again (never throws). */
  async discard(): Promise<void> {
    const { hv, plan } = this;
    if (this.created) {
      await hv.deleteCheckpointMetadata(plan.domain, plan.checkpoint).catch(() => {});
      for (const t of plan.tracked) await hv.removeBitmap(plan.domain, t, plan.checkpoint).catch(() => {});
    }
    for (const b of this.offline.splice(0)) await hv.removeBitmapOffline(b.image, b.name).catch(() => {});
  }
}
