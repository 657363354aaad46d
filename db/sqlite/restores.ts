/**
 * @layer adapter
 * RestoreStore over SQLite (restores). A scoped list joins the restore's VM (cloudstack_vms) to
 * see whose it is; `update` with `expect` is a compare-and-set on the status.
 */
import { and, asc, count, desc, eq, getTableColumns, inArray, type SQL } from 'drizzle-orm';
import { cloudstackVms, restores, type RestoreStatus } from '../schema.ts';
import type { RestoreFilter, RestoreStore } from '../store.ts';
import { guard, page, scopeCondition, type Db } from './db.ts';

export const UNFINISHED_RESTORES: RestoreStatus[] = ['queued', 'running', 'cancelling'];

function where(f: RestoreFilter): SQL | undefined {
  const conds: (SQL | undefined)[] = [scopeCondition(f.scope)];
  if (f.vmId) conds.push(eq(restores.platformVmId, f.vmId));
  if (f.status?.length) conds.push(inArray(restores.status, f.status));
  return and(...conds.filter((c): c is SQL => c !== undefined));
}

export function createRestoreStore(db: Db): RestoreStore {
  const get = (id: string) => db.select().from(restores).where(eq(restores.id, id)).get();
  const joined = <Q extends { innerJoin: (...a: never[]) => unknown }>(q: Q, f: RestoreFilter) =>
    (f.scope && f.scope.kind !== 'all' ? (q as unknown as { innerJoin: (t: typeof cloudstackVms, on: SQL) => Q }).innerJoin(cloudstackVms, eq(cloudstackVms.id, restores.platformVmId)) : q);
  return {
    async create(r) {
      guard(`restore ${r.id}`, () => db.insert(restores).values({ updatedAt: new Date(), ...r }).run());
      return get(r.id)!;
    },
    async get(id) {
      return get(id);
    },
    async list(f = {}) {
      const p = page(f);
      return joined(db.select(getTableColumns(restores)).from(restores), f).where(where(f))
        .orderBy(desc(restores.createdAt), desc(restores.id)).limit(p.limit).offset(p.offset).all();
    },
    async count(f = {}) {
      return joined(db.select({ n: count() }).from(restores), f).where(where(f)).get()?.n ?? 0;
    },
    async unfinished() {
      return db.select().from(restores).where(inArray(restores.status, UNFINISHED_RESTORES)).orderBy(asc(restores.createdAt), asc(restores.id)).all();
    },
    async update(id, patch, expect) {
      const cond = expect ? and(eq(restores.id, id), inArray(restores.status, expect)) : eq(restores.id, id);
      const { changes } = db.update(restores).set({ ...patch, updatedAt: patch.updatedAt ?? new Date() }).where(cond).run();
      return changes ? get(id) : undefined;
    },
  };
}
