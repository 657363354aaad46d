/**
 * @layer usecase
 * The restore test: a point's disk is restored, as a restore would do it,
 * to a raw scratch file on the agent host; the file is then read back and hashed in 1 MiB blocks
 * and compared with the point's .sums end to end (its size too), and deleted. It proves what
 * verification alone does not: that the chain restores to a file that holds the point's content.
 */
import type { BackupTarget } from '../target/port.ts';
import type { LocalFiles } from './port.ts';
import { restoreDisk } from './restore.ts';
import { ensureScratchSpace, ScratchSpaceError, scratchNeed, scratchPath, type FreeSpace } from './scratch.ts';
import { Repository } from '../repository/repository.ts';
import { checkAgainstSums } from './sums-check.ts';
import type { VerifyReport } from './verify.ts';

export interface RestoreTestDeps {
  target: BackupTarget;
  files: LocalFiles;
  /** where the scratch file goes (the agent's work dir) */
  scratchDir: string;
  /** checked before the scratch file is made (ensureScratchSpace); none: not checked */
  freeSpace?: FreeSpace;
}

export interface RestoreTestReport {
  ok: boolean;
  problems: string[];
  /** bytes of the restored file hashed and compared */
  bytesChecked: number;
  durationMs: number;
}

export async function restoreTestDisk(deps: RestoreTestDeps, vm: string, pointId: string, disk: string, signal?: AbortSignal): Promise<RestoreTestReport> {
  const t0 = Date.now();
  let scratch = '';
  try {
    const name = scratchPath(deps.scratchDir, 'restore-test', [vm, pointId, disk], 'raw');
    if (deps.freeSpace) await ensureScratchSpace(deps.freeSpace, deps.scratchDir, scratchNeed(await new Repository(deps.target).chain(vm, pointId, disk, signal)), `the restore test of ${vm} ${disk} at ${pointId}`);
    scratch = name;
    const out = await deps.files.create(scratch);
    const r = await restoreDisk(deps.target, out, { vm, disk, point: pointId, format: 'raw', signal });
    const c = await checkAgainstSums(deps.files.bytes(scratch, signal), r.sums, `the restored file of point ${pointId} disk ${disk}`, signal);
    return { ok: c.ok, problems: c.problems.map((p) => `[restore-test] ${p}`), bytesChecked: c.bytes, durationMs: Date.now() - t0 };
  } catch (e) {
    signal?.throwIfAborted();
    if (e instanceof ScratchSpaceError) throw e;
    return { ok: false, problems: [`[restore-test] ${(e as Error).message}`], bytesChecked: 0, durationMs: Date.now() - t0 };
  } finally {
    if (scratch) await deps.files.remove(scratch).catch(() => {});
  }
}

/**
 * Adds a restore test to every disk of a verification report, whether or not it verified (the
 * restore test is separate evidence: it says whether the point restores at all). A failed
 * restore test makes the disk, its point and the report not ok.
 */
export async function addRestoreTests(deps: RestoreTestDeps, report: VerifyReport, signal?: AbortSignal): Promise<VerifyReport> {
  for (const p of report.points) {
    for (const d of p.disks) {
      d.restoreTest = await restoreTestDisk(deps, report.vm, p.pointId, d.target, signal);
      if (!d.restoreTest.ok) {
        d.ok = false;
        d.problems.push(...d.restoreTest.problems);
      }
    }
    p.ok = p.disks.every((d) => d.ok);
  }
  report.ok = report.points.every((p) => p.ok);
  return report;
}
