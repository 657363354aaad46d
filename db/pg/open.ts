/**
 * @layer adapter
 * Opens the control plane's PostgreSQL database (node-postgres pool, drizzle's node-postgres
 * driver) and returns the Store over it. Before anything else it checks what it reached:
 * - a URL that is not `postgres://…` / `postgresql://…`, nothing listening, refused
 *   credentials, a database that does not exist: StoreError 'invalid' saying what to fix;
 * - the schema: the migrations recorded in `drizzle.__drizzle_migrations` must be exactly the
 *   ones in db/migrations-pg/ (same order, same hashes). Fewer (an older or empty schema): the
 *   store is not opened — `sendense db migrate` brings it up (or `migrate: true`); more, or other
 *   hashes (a newer Sendense wrote it): refused, upgrade this instance. Migrations run in one
 *   transaction under an advisory lock, so several instances starting at once migrate once and
 *   a failed migration leaves nothing half-applied.
 * A database that goes away mid-run: every Store call then fails with StoreError 'unavailable'
 * naming the server and what to do; the pool reconnects by itself once it is back.
 */
import { createAuthStore } from './auth.ts';
import path from 'node:path';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import pg from 'pg';
import { MIGRATIONS_DIR } from '../open.ts';
import { StoreError, type Store } from '../store.ts';
import { createAgentStore, createAuditStore, createHostStore, createPolicyStore, createRepositoryStore, createVmStore } from './catalogue.ts';
import { pgCode, schema, type PgDb } from './db.ts';
import { createJobStore, createRestoreStore } from './jobs.ts';
import { createLeaseStore } from './leases.ts';
import { createMaintenanceStore } from './maintenance.ts';
import { createPointStore } from './points.ts';

/** beside db/migrations (in the source tree and in a package: packaging/stage.ts copies both) */
export const PG_MIGRATIONS_DIR = path.join(path.dirname(MIGRATIONS_DIR), 'migrations-pg');
/** the advisory lock key migrations run under (any constant the application does not use otherwise) */
const MIGRATION_LOCK = 0x5e4d0001;

export interface PgOpenOptions {
  /** apply pending migrations (sendense db migrate); default false: an older schema is refused */
  migrate?: boolean;
  /** pool size (default 10) */
  max?: number;
  connectTimeoutMs?: number;
}

export interface PgDatabase {
  db: PgDb;
  pool: pg.Pool;
  /** where it is, without the password */
  where: string;
  close(): Promise<void>;
}

export interface SchemaState {
  applied: number;
  known: number;
  state: 'current' | 'older' | 'newer';
  detail: string;
}

/** postgres://user@host:port/db with the password left out */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch { return '(unparseable URL)'; }
}

export function parsePgUrl(url: string): URL {
  let u: URL;
  try { u = new URL(url); } catch (e) {
    throw new StoreError('invalid', `database.url ${JSON.stringify(redact(url))} is not a URL: write postgres://USER:PASSWORD@HOST:PORT/DATABASE`, { cause: e });
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new StoreError('invalid', `database.url must start with postgres:// (got ${u.protocol}//…): write postgres://USER:PASSWORD@HOST:PORT/DATABASE, or set database.path for SQLite`);
  }
  if (!u.hostname) throw new StoreError('invalid', 'database.url names no host: write postgres://USER:PASSWORD@HOST:PORT/DATABASE');
  if (u.pathname.length <= 1) throw new StoreError('invalid', `database.url ${redact(url)} names no database: add /DATABASE at the end`);
  return u;
}

/** a connection-level failure (refused, reset, server shut down) as a StoreError that says what to do */
export function describePgError(e: unknown, where: string): StoreError | undefined {
  const code = pgCode(e);
  const sys = (e as { code?: string; cause?: { code?: string } }).code ?? (e as { cause?: { code?: string } }).cause?.code ?? '';
  const msg = ((e as { cause?: Error }).cause ?? (e as Error))?.message ?? String(e);
  if (code === '28P01' || code === '28000') {
    return new StoreError('invalid', `PostgreSQL at ${where} refused the credentials (${msg}): check the user and password in database.url`, { cause: e });
  }
  if (code === '3D000') return new StoreError('invalid', `${msg} at ${where}: create it (createdb, or CREATE DATABASE) or fix the name in database.url`, { cause: e });
  if (code === '57P01' || code === '57P02' || code === '57P03' || code.startsWith('08')
    || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN'].includes(sys)
    || /Connection terminated|connection timeout|Client has encountered a connection error|terminating connection/i.test(msg)) {
    return new StoreError('unavailable', `PostgreSQL at ${where} cannot be reached (${msg}): check that the server is running and reachable; this instance keeps retrying`, { cause: e });
  }
  return undefined;
}

function known() {
  return readMigrationFiles({ migrationsFolder: PG_MIGRATIONS_DIR });
}

/** Compares the migrations the database records with the ones this build carries. */
export async function schemaState(pool: pg.Pool): Promise<SchemaState> {
  const mine = known();
  const has = await pool.query<{ t: string | null }>(`select to_regclass('drizzle.__drizzle_migrations') as t`);
  const rows = has.rows[0]?.t ? (await pool.query<{ hash: string; created_at: string }>('select hash, created_at from drizzle.__drizzle_migrations order by created_at, id')).rows : [];
  for (let i = 0; i < rows.length; i++) {
    const m = mine[i];
    if (!m || Number(rows[i].created_at) !== m.folderMillis || rows[i].hash !== m.hash) {
      return {
        applied: rows.length, known: mine.length, state: 'newer',
        detail: `the database has migration ${i + 1} (created ${new Date(Number(rows[i].created_at)).toISOString()}) which this Sendense does not carry: it was written by a newer (or different) Sendense; upgrade this instance`,
      };
    }
  }
  if (rows.length < mine.length) {
    return {
      applied: rows.length, known: mine.length, state: 'older',
      detail: `the database schema has ${rows.length} of this Sendense's ${mine.length} migrations: run \`sendense db migrate\` (with the same database.url) first`,
    };
  }
  return { applied: rows.length, known: mine.length, state: 'current', detail: `schema current (${rows.length} migrations)` };
}

/** Applies pending migrations in one transaction under an advisory lock; returns how many were applied. */
export async function migratePg(pool: pg.Pool): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const before = await schemaState(pool);
    if (before.state === 'newer') throw new StoreError('invalid', before.detail);
    if (before.state === 'current') return 0;
    const mine = known();
    await client.query('begin');
    try {
      await client.query('create schema if not exists drizzle');
      await client.query('create table if not exists drizzle.__drizzle_migrations (id serial primary key, hash text not null, created_at bigint)');
      for (const m of mine.slice(before.applied)) {
        for (const stmt of m.sql) if (stmt.trim()) await client.query(stmt);
        await client.query('insert into drizzle.__drizzle_migrations (hash, created_at) values ($1, $2)', [m.hash, m.folderMillis]);
      }
      await client.query('commit');
    } catch (e) {
      await client.query('rollback').catch(() => undefined);
      throw new StoreError('invalid', `migrating the PostgreSQL schema failed, nothing was applied: ${(e as Error).message}`, { cause: e });
    }
    return mine.length - before.applied;
  } finally {
    await client.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => undefined);
    client.release();
  }
}

/** Connects, checks (or migrates) the schema; the pool is closed again on any failure. */
export async function openPgDatabase(url: string, opts: PgOpenOptions = {}): Promise<PgDatabase> {
  const u = parsePgUrl(url);
  const where = `${u.hostname}:${u.port || 5432}${u.pathname}`;
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10, connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000 });
  // an idle client losing its connection must not crash the process: the next query reports it
  pool.on('error', () => undefined);
  try {
    await pool.query('select 1');
    if (opts.migrate) await migratePg(pool);
    const s = await schemaState(pool);
    if (s.state !== 'current') throw new StoreError('invalid', `PostgreSQL at ${where}: ${s.detail}`);
  } catch (e) {
    await pool.end().catch(() => undefined);
    if (e instanceof StoreError) throw e;
    throw describePgError(e, where) ?? new StoreError('invalid', `cannot open PostgreSQL at ${where}: ${(e as Error).message}`, { cause: e });
  }
  const db = drizzle({ client: pool, schema });
  let closing: Promise<void> | undefined;
  return { db, pool, where, close: () => (closing ??= pool.end()) };
}

/** Every method of every sub-store: connection failures become StoreError 'unavailable'. */
function translated<T extends object>(store: T, where: string): T {
  const out: Record<string, unknown> = {};
  for (const [k, fn] of Object.entries(store)) {
    out[k] = typeof fn !== 'function' ? fn : async (...args: unknown[]) => {
      try {
        return await (fn as (...a: unknown[]) => Promise<unknown>).apply(store, args);
      } catch (e) {
        throw (e instanceof StoreError ? e : describePgError(e, where)) ?? e;
      }
    };
  }
  return out as T;
}

/** The Store over an open PostgreSQL database. */
export function createPgStore(h: PgDatabase): Store {
  const { db, where } = h;
  const t = <T extends object>(s: T) => translated(s, where);
  return {
    vms: t(createVmStore(db)),
    hosts: t(createHostStore(db)),
    agents: t(createAgentStore(db)),
    jobs: t(createJobStore(db)),
    points: t(createPointStore(db)),
    policies: t(createPolicyStore(db)),
    repositories: t(createRepositoryStore(db)),
    audit: t(createAuditStore(db)),
    restores: t(createRestoreStore(db)),
    maintenance: t(createMaintenanceStore(db)),
    leases: t(createLeaseStore(db)),
    auth: t(createAuthStore(db)),
    close: () => h.close(),
  };
}

export async function openPgStore(url: string, opts: PgOpenOptions = {}): Promise<Store> {
  return createPgStore(await openPgDatabase(url, opts));
}

