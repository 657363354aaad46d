/**
 * @layer adapter
 * The Store a configuration names: PostgreSQL when `database.url` is set (postgres://…), SQLite
 * at `database.path` otherwise. SQLite migrates on open (one process owns the file); PostgreSQL,
 * which several instances share, is only opened at the current schema — an older one is
 * refused with "run `sendense db migrate`" unless `migrate` is asked for (db/pg/open.ts).
 */
import { openStore } from './open.ts';
import { openPgStore, redact } from './pg/open.ts';
import type { Store } from './store.ts';

export interface DatabaseConfig {
  path: string;
  url?: string;
  poolSize?: number;
}

export function describeDatabase(c: DatabaseConfig): string {
  return c.url ? `PostgreSQL ${redact(c.url)}` : `SQLite ${c.path}`;
}

export async function openConfiguredStore(c: DatabaseConfig, opts: { migrate?: boolean } = {}): Promise<Store> {
  if (c.url) return openPgStore(c.url, { migrate: opts.migrate ?? false, max: c.poolSize });
  return openStore(c.path);
}
