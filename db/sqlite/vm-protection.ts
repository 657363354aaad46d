/**
 * @layer adapter
 * A VM's protection in SQL, for both dialects (the SQLite and PostgreSQL VmStores build their
 * filters, sorts and counts from these fragments, so the two cannot disagree on what
 * "protected" means): correlated subqueries on a `cloudstack_vms` row, each answered by an index
 * (backup_jobs idx_jobs_vm, restore_points idx_points_vm).
 *
 * - failing: the newest finished backup (succeeded or failed; cancelled ones do not count) failed;
 * - protected: not failing, and at least one live restore point;
 * - unprotected: neither.
 * The platform is the newest live point's source platform, `cloudstack` without one.
 * Only fixed literals are inlined (no parameters), so the same fragment may appear in a select
 * list and a GROUP BY.
 */
import { asc, desc, sql, type AnyColumn, type SQL, type Table } from 'drizzle-orm';
import type { BackupJob, Chain, RestorePoint, SourcePlatform } from '../schema.ts';
import type { Protection, VmProtection, VmSort } from '../store.ts';

/** the columns the fragments read, of either dialect's tables */
export interface ProtectionTables {
  vms: { id: AnyColumn; name: AnyColumn; state: AnyColumn; account: AnyColumn };
  jobs: Table & { platformVmId: AnyColumn; status: AnyColumn; queuedAt: AnyColumn };
  points: Table & { platformVmId: AnyColumn; deletedAt: AnyColumn; createdAt: AnyColumn; sourcePlatform: AnyColumn };
}

export interface ProtectionSql {
  status: SQL<Protection>;
  platform: SQL<SourcePlatform>;
  lastPointAt: SQL<unknown>;
  /** failing 0, unprotected 1, protected 2 */
  rank: SQL<number>;
}

export function protectionSql(t: ProtectionTables): ProtectionSql {
  const { vms, jobs, points } = t;
  const live = sql`${points.platformVmId} = ${vms.id} and ${points.deletedAt} is null`;
  const lastFinished = sql`(select ${jobs.status} from ${jobs} where ${jobs.platformVmId} = ${vms.id} and ${jobs.status} in ('succeeded', 'failed') order by ${jobs.queuedAt} desc limit 1)`;
  const hasPoint = sql`exists (select 1 from ${points} where ${live})`;
  const status = sql<Protection>`(case when ${lastFinished} = 'failed' then 'failing' when ${hasPoint} then 'protected' else 'unprotected' end)`;
  return {
    status,
    platform: sql<SourcePlatform>`coalesce((select ${points.sourcePlatform} from ${points} where ${live} order by ${points.createdAt} desc limit 1), 'cloudstack')`,
    lastPointAt: sql`(select max(${points.createdAt}) from ${points} where ${live})`,
    rank: sql<number>`(case ${status} when 'failing' then 0 when 'unprotected' then 1 else 2 end)`,
  };
}

/** ORDER BY for a VM list: the sort key (VMs without a point last, either direction), then name and id */
export function vmOrder(t: ProtectionTables, p: ProtectionSql, sort: VmSort = 'name', descending = false): SQL[] {
  const dir = (x: SQL | AnyColumn) => (descending ? desc(x) : asc(x));
  const tail = [asc(t.vms.name), asc(t.vms.id)];
  switch (sort) {
    case 'name': return [dir(t.vms.name), dir(t.vms.id)];
    case 'state': return [dir(t.vms.state), ...tail];
    case 'account': return [dir(t.vms.account), ...tail];
    case 'protection': return [dir(p.rank), ...tail];
    case 'lastBackup': return [sql`${p.lastPointAt} is null`, dir(p.lastPointAt), ...tail];
  }
}

/** The rows both adapters read for a page of VMs, put together in the order asked. */
export interface ProtectionRows {
  ids: string[];
  facts: { id: string; status: Protection; platform: SourcePlatform }[];
  counts: { vmId: string; n: number }[];
  lastPoints: RestorePoint[];
  lastJobs: BackupJob[];
  chains: Pick<Chain, 'id' | 'length'>[];
}

export function assembleProtection(r: ProtectionRows): VmProtection[] {
  const facts = new Map(r.facts.map((f) => [f.id, f]));
  const counts = new Map(r.counts.map((c) => [c.vmId, Number(c.n)]));
  const points = new Map(r.lastPoints.map((p) => [p.platformVmId, p]));
  const jobs = new Map(r.lastJobs.map((j) => [j.platformVmId, j]));
  const chains = new Map(r.chains.map((c) => [c.id, c.length]));
  const out: VmProtection[] = [];
  for (const id of r.ids) {
    const f = facts.get(id);
    if (!f) continue;
    const p = points.get(id);
    const j = jobs.get(id);
    out.push({
      vmId: id, status: f.status, platform: f.platform, points: counts.get(id) ?? 0,
      lastPoint: p ? { id: p.id, pointId: p.pointId, type: p.type, createdAt: p.createdAt, verificationStatus: p.verificationStatus, sizeBytes: p.sizeBytes, sourcePlatform: p.sourcePlatform, chainId: p.chainId } : null,
      chainLength: p ? chains.get(p.chainId) ?? null : null,
      lastJob: j ? { id: j.id, status: j.status, type: j.type, queuedAt: j.queuedAt, finishedAt: j.finishedAt, errorCode: j.errorCode, error: j.error, sourcePlatform: j.sourcePlatform } : null,
    });
  }
  return out;
}
