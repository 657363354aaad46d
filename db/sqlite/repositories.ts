/**
 * @layer adapter
 * RepositoryStore over SQLite: the backup repositories the configuration names, kept by name.
 */
import { randomUUID } from 'node:crypto';
import { asc, eq } from 'drizzle-orm';
import { repositories } from '../schema.ts';
import type { RepositoryStore } from '../store.ts';
import type { Db } from './db.ts';

export function createRepositoryStore(db: Db): RepositoryStore {
  return {
    async list() {
      return db.select().from(repositories).orderBy(asc(repositories.name)).all();
    },
    async get(id) {
      return db.select().from(repositories).where(eq(repositories.id, id)).get();
    },
    async getDefault() {
      return db.select().from(repositories).orderBy(asc(repositories.name)).all().find((r) => r.isDefault)
        ?? db.select().from(repositories).orderBy(asc(repositories.createdAt), asc(repositories.name)).limit(1).get();
    },
    async sync(repos) {
      const now = new Date();
      db.transaction((tx) => {
        for (const r of repos) {
          tx.insert(repositories).values({ id: randomUUID(), ...r, createdAt: now, updatedAt: now })
            .onConflictDoUpdate({
              target: repositories.name,
              set: { url: r.url, kind: r.kind, capacityBytes: r.capacityBytes ?? null, isDefault: r.isDefault ?? false, updatedAt: now },
            }).run();
        }
      });
      return db.select().from(repositories).orderBy(asc(repositories.name)).all();
    },
  };
}
