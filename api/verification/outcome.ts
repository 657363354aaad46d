/**
 * @layer logic
 * What a verification found, per point, from the agent's VerifyOutcome (agent/daemon/schemas.ts):
 * a point passes when every disk does; its problems are its disks' problems, each prefixed with
 * the disk (`vda: …`). A point the agent was asked about but did not report is a failure too:
 * silence is not a pass.
 */
import type { VerifyOutcome } from '../../agent/daemon/schemas.ts';
import type { VerifyApplied } from '../../db/store.ts';

export function verifyResults(outcome: VerifyOutcome, asked?: string): VerifyApplied {
  const points = outcome.points.map((p) => {
    const problems = p.disks.flatMap((d) => d.problems.map((x) => `${d.target}: ${x}`));
    const ok = p.ok && p.disks.every((d) => d.ok);
    return { pointId: p.pointId, ok, problems: ok || problems.length ? problems : ['the agent reported the point as failed without a reason'] };
  });
  if (asked && !points.some((p) => p.pointId === asked)) points.push({ pointId: asked, ok: false, problems: ['the agent did not report on this point'] });
  return { points, durationMs: outcome.durationMs };
}
