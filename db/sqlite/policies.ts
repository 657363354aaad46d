/**
 * @layer adapter
 * PolicyStore over SQLite: backup policies and their assignments (one per kind and target:
 * assigning a target again moves it to the new policy).
 */
import { randomUUID } from 'node:crypto';
import { and, asc, eq, isNull } from 'drizzle-orm';
import { policies, policyAssignments } from '../schema.ts';
import type { PolicyStore } from '../store.ts';
import { guard, type Db } from './db.ts';

export function createPolicyStore(db: Db): PolicyStore {
  const get = (id: string) => db.select().from(policies).where(eq(policies.id, id)).get();
  const getAssignment = (id: string) => db.select().from(policyAssignments).where(eq(policyAssignments.id, id)).get();
  return {
    async list() {
      return db.select().from(policies).orderBy(asc(policies.name)).all();
    },
    async get(id) {
      return get(id);
    },
    async create(p) {
      guard(`policy ${p.name}`, () => db.insert(policies).values(p).run());
      return get(p.id)!;
    },
    async update(id, patch) {
      const { changes } = guard(`policy ${id}`, () => db.update(policies).set({ ...patch, updatedAt: new Date() }).where(eq(policies.id, id)).run());
      return changes ? get(id) : undefined;
    },
    async delete(id) {
      return db.delete(policies).where(eq(policies.id, id)).run().changes > 0;
    },
    async assignments(policyId) {
      return db.select().from(policyAssignments).where(policyId ? eq(policyAssignments.policyId, policyId) : undefined)
        .orderBy(asc(policyAssignments.kind), asc(policyAssignments.target)).all();
    },
    async assign(a) {
      const id = randomUUID();
      guard(`assignment of ${a.kind} ${a.target}`, () => db.insert(policyAssignments)
        .values({ id, policyId: a.policyId, kind: a.kind, target: a.target, createdBy: a.createdBy ?? null, createdByRole: a.createdByRole ?? null, createdAt: new Date() })
        .onConflictDoUpdate({
          target: [policyAssignments.kind, policyAssignments.target],
          set: { policyId: a.policyId, createdBy: a.createdBy ?? null, createdByRole: a.createdByRole ?? null, createdAt: new Date() },
        }).run());
      return db.select().from(policyAssignments).where(eq(policyAssignments.kind, a.kind)).all().find((r) => r.target === a.target)!;
    },
    async unassign(id) {
      return db.delete(policyAssignments).where(eq(policyAssignments.id, id)).run().changes > 0;
    },
    async getAssignment(id) {
      return getAssignment(id);
    },
    async markRun(id, at) {
      db.update(policies).set({ lastRunAt: at }).where(eq(policies.id, id)).run();
    },
    async claimRun(id, field, seen, at) {
      const col = policies[field];
      const { changes } = db.update(policies).set({ [field]: at }).where(and(eq(policies.id, id), seen ? eq(col, seen) : isNull(col))).run();
      return changes > 0;
    },
  };
}
