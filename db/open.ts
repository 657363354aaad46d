/**
 * @layer adapter
 * Opens the control plane's SQLite database (better-sqlite3 12, drizzle): WAL journal, foreign
 * keys on, a busy timeout, and drizzle-kit's migrations (db/migrations/) applied before anything
 * else touches it. `openStore` returns the Store port over it (db/store.ts).
 *
 * `path` ':memory:' gives a private in-memory database (tests, the in-memory Store).
 */
import { createAuthStore } from './sqlite/auth.ts';
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import * as schema from './schema.ts';
import { StoreError, type Store } from './store.ts';
import { createAgentStore, createHostStore } from './sqlite/hosts.ts';
import { createAuditStore } from './sqlite/audit.ts';
import { createJobStore } from './sqlite/jobs.ts';
import { createLeaseStore } from './sqlite/leases.ts';
import { createMaintenanceStore } from './sqlite/maintenance.ts';
import { createPointStore } from './sqlite/points.ts';
import { createPolicyStore } from './sqlite/policies.ts';
import { createRepositoryStore } from './sqlite/repositories.ts';
import { createRestoreStore } from './sqlite/restores.ts';
import { createVmStore } from './sqlite/vms.ts';
import type { Db } from './sqlite/db.ts';

export type { Db };

export const MIGRATIONS_DIR = path.join(import.meta.dirname, 'migrations');

export interface OpenOptions {
  /** ms a writer waits for another connection's lock (default 5000) */
  busyTimeoutMs?: number;
  readonly?: boolean;
}

export interface OpenDatabase {
  db: Db;
  sqlite: Database.Database;
  close(): void;
}

/**
 * The catalogue names every tenant's VMs and volumes: its folder is made 0700 and the file is
 * 0600 before SQLite opens it (SQLite gives its -wal and -shm files the database file's mode).
 */
function makePrivate(file: string): void {
  const dir = path.dirname(path.resolve(file));
  if (mkdirSync(dir, { recursive: true, mode: 0o700 }) !== undefined) chmodSync(dir, 0o700);
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
}

export function openDatabase(file: string, opts: OpenOptions = {}): OpenDatabase {
  if (file !== ':memory:' && !opts.readonly) makePrivate(file);
  let sqlite: Database.Database;
  try {
    sqlite = new Database(file, { readonly: opts.readonly ?? false });
  } catch (e) {
    throw new StoreError('invalid', `cannot open ${file}: ${(e as Error).message}`, { cause: e });
  }
  try {
    sqlite.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
    if (file !== ':memory:') sqlite.pragma('journal_mode = WAL');
    // FULL: a committed job or point record survives a power loss, not only a crash of the process
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('foreign_keys = ON');
    const db = drizzle({ client: sqlite, schema });
    if (!opts.readonly) migrate(db, { migrationsFolder: MIGRATIONS_DIR });
    return { db, sqlite, close: () => { if (sqlite.open) sqlite.close(); } };
  } catch (e) {
    sqlite.close();
    throw new StoreError('invalid', `cannot prepare ${file}: ${(e as Error).message}`, { cause: e });
  }
}

/** The Store over an open database. */
export function createSqliteStore(handle: OpenDatabase): Store {
  const { db } = handle;
  return {
    vms: createVmStore(db),
    hosts: createHostStore(db),
    agents: createAgentStore(db),
    jobs: createJobStore(db),
    points: createPointStore(db),
    policies: createPolicyStore(db),
    repositories: createRepositoryStore(db),
    audit: createAuditStore(db),
    restores: createRestoreStore(db),
    maintenance: createMaintenanceStore(db),
    leases: createLeaseStore(db),
    auth: createAuthStore(db),
    close: handle.close,
  };
}

/** Opens (and migrates) the database file and returns the Store over it. */
export function openStore(file: string, opts: OpenOptions = {}): Store {
  return createSqliteStore(openDatabase(file, opts));
}
