/**
 * @layer adapter
 * The catalogue stores over PostgreSQL: VMs and their disks, hosts, agents, policies and their
 * assignments, repositories, the audit log (the same behaviour as db/sqlite/{vms,hosts,policies,
 * repositories,audit}.ts, one transaction per multi-row change).
 */
import { randomUUID } from 'node:crypto';
import { and, asc, count, desc, eq, inArray, isNull, notInArray, or, sql, type SQL } from 'drizzle-orm';
import type { NewCloudStackVm } from '../schema.ts';
import { PROTECTIONS, type AgentStore, type AuditStore, type HostStore, type PolicyStore, type Protection, type RepositoryStore, type VmFilter, type VmStore } from '../store.ts';
import { assembleProtection, protectionSql, vmOrder } from '../sqlite/vm-protection.ts';
import { auditLog, backupJobs, chains, cloudstackAgents, cloudstackHosts, cloudstackVms, disks, policies, policyAssignments, repositories, restorePoints } from './schema.ts';
import { changed, guard, page, scopeCondition, type PgDb } from './db.ts';

const TABLES = { vms: cloudstackVms, jobs: backupJobs, points: restorePoints };
const P = protectionSql(TABLES);

function vmWhere(f: VmFilter = {}): SQL | undefined {
  const conds: (SQL | undefined)[] = [scopeCondition(f.scope)];
  if (!f.includeRemoved) conds.push(isNull(cloudstackVms.removedAt));
  if (f.hostId) conds.push(eq(cloudstackVms.hostId, f.hostId));
  if (f.zoneId) conds.push(eq(cloudstackVms.zoneId, f.zoneId));
  if (f.account) conds.push(eq(cloudstackVms.account, f.account));
  if (f.domainId) conds.push(eq(cloudstackVms.domainId, f.domainId));
  if (f.protection) conds.push(sql`${P.status} = ${f.protection}`);
  if (f.platform) conds.push(sql`${P.platform} = ${f.platform}`);
  if (f.search) {
    const pat = `%${f.search.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    conds.push(or(
      sql`lower(${cloudstackVms.name}) like ${pat} escape '\\'`,
      sql`lower(coalesce(${cloudstackVms.displayName}, '')) like ${pat} escape '\\'`,
    ));
  }
  return and(...conds);
}

function vmUpdateSet(row: NewCloudStackVm) {
  const { id: _id, createdAt: _c, ...rest } = row;
  return { ...rest, removedAt: null, updatedAt: new Date() };
}

export function createVmStore(db: PgDb): VmStore {
  return {
    async list(f = {}) {
      const p = page(f);
      return db.select().from(cloudstackVms).where(vmWhere(f)).orderBy(...vmOrder(TABLES, P, f.sort, f.descending)).limit(p.limit).offset(p.offset);
    },
    async count(f = {}) {
      return (await db.select({ n: count() }).from(cloudstackVms).where(vmWhere(f)))[0]?.n ?? 0;
    },
    async all() {
      return db.select().from(cloudstackVms).orderBy(asc(cloudstackVms.id));
    },
    async get(id) {
      return (await db.select().from(cloudstackVms).where(eq(cloudstackVms.id, id)))[0];
    },
    async upsert(rows) {
      await db.transaction(async (tx) => {
        for (const row of rows) await tx.insert(cloudstackVms).values(row).onConflictDoUpdate({ target: cloudstackVms.id, set: vmUpdateSet(row) });
      });
    },
    async markRemoved(ids, at) {
      if (ids.length === 0) return;
      await db.update(cloudstackVms).set({ removedAt: at, updatedAt: at }).where(and(inArray(cloudstackVms.id, ids), isNull(cloudstackVms.removedAt)));
    },
    async disks(vmId) {
      return db.select().from(disks).where(and(eq(disks.vmId, vmId), isNull(disks.removedAt))).orderBy(asc(disks.deviceId));
    },
    async replaceDisks(vmId, rows, at) {
      await guard(`disks of VM ${vmId}`, () => db.transaction(async (tx) => {
        for (const row of rows) {
          const { id: _id, ...rest } = row;
          await tx.insert(disks).values({ ...row, vmId }).onConflictDoUpdate({ target: disks.id, set: { ...rest, vmId, removedAt: null } });
        }
        const keep = rows.map((r) => r.id);
        await tx.update(disks).set({ removedAt: at })
          .where(and(eq(disks.vmId, vmId), isNull(disks.removedAt), keep.length ? notInArray(disks.id, keep) : undefined));
      }));
    },
    async protection(ids) {
      if (ids.length === 0) return [];
      const rp = restorePoints;
      const live = and(inArray(rp.platformVmId, ids), isNull(rp.deletedAt));
      const newestPoint = db.select({ id: rp.id, rn: sql<number>`row_number() over (partition by ${rp.platformVmId} order by ${rp.createdAt} desc, ${rp.id} desc)`.as('rn') })
        .from(rp).where(live).as('newest_point');
      const newestJob = db.select({ id: backupJobs.id, rn: sql<number>`row_number() over (partition by ${backupJobs.platformVmId} order by ${backupJobs.queuedAt} desc, ${backupJobs.id} desc)`.as('rn') })
        .from(backupJobs).where(inArray(backupJobs.platformVmId, ids)).as('newest_job');
      const [lastPoints, facts, counts, lastJobs] = await Promise.all([
        db.select().from(rp).where(inArray(rp.id, db.select({ id: newestPoint.id }).from(newestPoint).where(eq(newestPoint.rn, 1)))),
        db.select({ id: cloudstackVms.id, status: P.status, platform: P.platform }).from(cloudstackVms).where(inArray(cloudstackVms.id, ids)),
        db.select({ vmId: rp.platformVmId, n: count() }).from(rp).where(live).groupBy(rp.platformVmId),
        db.select().from(backupJobs).where(inArray(backupJobs.id, db.select({ id: newestJob.id }).from(newestJob).where(eq(newestJob.rn, 1)))),
      ]);
      const chainIds = [...new Set(lastPoints.map((x) => x.chainId))];
      const cs = chainIds.length ? await db.select({ id: chains.id, length: chains.length }).from(chains).where(inArray(chains.id, chainIds)) : [];
      return assembleProtection({ ids, facts, counts, lastPoints, lastJobs, chains: cs });
    },
    async protectionCounts(scope) {
      const each = db.select({ status: sql<Protection>`${P.status}`.as('status') }).from(cloudstackVms)
        .where(and(scopeCondition(scope), isNull(cloudstackVms.removedAt))).as('each_vm');
      const rows = await db.select({ status: each.status, n: count() }).from(each).groupBy(sql`${each.status}`);
      const out = { vms: 0, ...Object.fromEntries(PROTECTIONS.map((x) => [x, 0])) } as Record<Protection | 'vms', number>;
      for (const r of rows) { out[r.status] += r.n; out.vms += r.n; }
      return out;
    },
  };
}

export function createHostStore(db: PgDb): HostStore {
  return {
    async list(opts = {}) {
      return db.select().from(cloudstackHosts).where(opts.includeRemoved ? undefined : isNull(cloudstackHosts.removedAt)).orderBy(asc(cloudstackHosts.name));
    },
    async get(id) {
      return (await db.select().from(cloudstackHosts).where(eq(cloudstackHosts.id, id)))[0];
    },
    async upsert(rows) {
      await db.transaction(async (tx) => {
        for (const row of rows) {
          const { id: _id, ...rest } = row;
          await tx.insert(cloudstackHosts).values(row).onConflictDoUpdate({ target: cloudstackHosts.id, set: { ...rest, removedAt: null } });
        }
      });
    },
    async markRemoved(ids, at) {
      if (ids.length === 0) return;
      await db.update(cloudstackHosts).set({ removedAt: at }).where(and(inArray(cloudstackHosts.id, ids), isNull(cloudstackHosts.removedAt)));
    },
  };
}

export function createAgentStore(db: PgDb): AgentStore {
  const byHost = async (hostId: string) => (await db.select().from(cloudstackAgents).where(eq(cloudstackAgents.hostId, hostId)))[0];
  return {
    async list() {
      return db.select().from(cloudstackAgents).orderBy(asc(cloudstackAgents.hostname));
    },
    getByHost: byHost,
    async ensure(h) {
      const now = new Date();
      await db.insert(cloudstackAgents).values({ id: randomUUID(), ...h, status: 'inactive', createdAt: now, updatedAt: now })
        .onConflictDoUpdate({ target: cloudstackAgents.hostId, set: { hostIp: h.hostIp, hostname: h.hostname, updatedAt: now } });
      return (await byHost(h.hostId))!;
    },
    async heartbeat(hostId, beat) {
      const set: Partial<typeof cloudstackAgents.$inferInsert> = { status: beat.status, statusMessage: beat.message ?? null, updatedAt: beat.at };
      if (beat.status === 'active') set.lastHeartbeatAt = beat.at;
      if (beat.version !== undefined) set.agentVersion = beat.version;
      if (beat.hostname !== undefined) set.hostname = beat.hostname;
      if (beat.capabilities !== undefined) set.capabilities = beat.capabilities;
      if (beat.sshKeyFingerprint !== undefined) set.sshKeyFingerprint = beat.sshKeyFingerprint;
      await db.update(cloudstackAgents).set(set).where(eq(cloudstackAgents.hostId, hostId));
    },
  };
}

export function createPolicyStore(db: PgDb): PolicyStore {
  const get = async (id: string) => (await db.select().from(policies).where(eq(policies.id, id)))[0];
  const getAssignment = async (id: string) => (await db.select().from(policyAssignments).where(eq(policyAssignments.id, id)))[0];
  return {
    async list() {
      return db.select().from(policies).orderBy(asc(policies.name));
    },
    get,
    async create(p) {
      await guard(`policy ${p.name}`, () => db.insert(policies).values(p));
      return (await get(p.id))!;
    },
    async update(id, patch) {
      const r = await guard(`policy ${id}`, () => db.update(policies).set({ ...patch, updatedAt: new Date() }).where(eq(policies.id, id)));
      return changed(r) ? get(id) : undefined;
    },
    async delete(id) {
      return changed(await db.delete(policies).where(eq(policies.id, id)));
    },
    async assignments(policyId) {
      return db.select().from(policyAssignments).where(policyId ? eq(policyAssignments.policyId, policyId) : undefined)
        .orderBy(asc(policyAssignments.kind), asc(policyAssignments.target));
    },
    async assign(a) {
      const rows = await guard(`assignment of ${a.kind} ${a.target}`, () => db.insert(policyAssignments)
        .values({ id: randomUUID(), policyId: a.policyId, kind: a.kind, target: a.target, createdBy: a.createdBy ?? null, createdByRole: a.createdByRole ?? null, createdAt: new Date() })
        .onConflictDoUpdate({
          target: [policyAssignments.kind, policyAssignments.target],
          set: { policyId: a.policyId, createdBy: a.createdBy ?? null, createdByRole: a.createdByRole ?? null, createdAt: new Date() },
        }).returning());
      return rows[0]!;
    },
    async unassign(id) {
      return changed(await db.delete(policyAssignments).where(eq(policyAssignments.id, id)));
    },
    getAssignment,
    async markRun(id, at) {
      await db.update(policies).set({ lastRunAt: at }).where(eq(policies.id, id));
    },
    async claimRun(id, field, seen, at) {
      const col = policies[field];
      return changed(await db.update(policies).set({ [field]: at }).where(and(eq(policies.id, id), seen ? eq(col, seen) : isNull(col))));
    },
  };
}

export function createRepositoryStore(db: PgDb): RepositoryStore {
  const all = () => db.select().from(repositories).orderBy(asc(repositories.name));
  return {
    list: all,
    async get(id) {
      return (await db.select().from(repositories).where(eq(repositories.id, id)))[0];
    },
    async getDefault() {
      return (await all()).find((r) => r.isDefault)
        ?? (await db.select().from(repositories).orderBy(asc(repositories.createdAt), asc(repositories.name)).limit(1))[0];
    },
    async sync(repos) {
      const now = new Date();
      await db.transaction(async (tx) => {
        for (const r of repos) {
          await tx.insert(repositories).values({ id: randomUUID(), ...r, createdAt: now, updatedAt: now })
            .onConflictDoUpdate({
              target: repositories.name,
              set: { url: r.url, kind: r.kind, capacityBytes: r.capacityBytes ?? null, isDefault: r.isDefault ?? false, updatedAt: now },
            });
        }
      });
      return all();
    },
  };
}

export function createAuditStore(db: PgDb): AuditStore {
  return {
    async append(entry) {
      await db.insert(auditLog).values(entry);
    },
    async list(f = {}) {
      const p = page(f);
      const conds: SQL[] = [];
      if (f.targetType) conds.push(eq(auditLog.targetType, f.targetType));
      if (f.targetId) conds.push(eq(auditLog.targetId, f.targetId));
      if (f.action) conds.push(eq(auditLog.action, f.action));
      return db.select().from(auditLog).where(and(...conds)).orderBy(desc(auditLog.seq)).limit(p.limit).offset(p.offset);
    },
  };
}
