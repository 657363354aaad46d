/**
 * @layer adapter
 * AuditStore over SQLite: an append-only log of every change and every refused attempt.
 */
import { and, desc, eq, type SQL } from 'drizzle-orm';
import { auditLog } from '../schema.ts';
import type { AuditStore } from '../store.ts';
import { page, type Db } from './db.ts';

export function createAuditStore(db: Db): AuditStore {
  return {
    async append(entry) {
      db.insert(auditLog).values(entry).run();
    },
    async list(f = {}) {
      const p = page(f);
      const conds: SQL[] = [];
      if (f.targetType) conds.push(eq(auditLog.targetType, f.targetType));
      if (f.targetId) conds.push(eq(auditLog.targetId, f.targetId));
      if (f.action) conds.push(eq(auditLog.action, f.action));
      return db.select().from(auditLog).where(and(...conds)).orderBy(desc(auditLog.seq)).limit(p.limit).offset(p.offset).all();
    },
  };
}
