/**
 * @layer adapter
 * `sendense db copy --from … --to …`: moves a whole catalogue between databases — SQLite to
 * PostgreSQL (the way past one machine), or back. The destination is migrated to the current
 * schema and must be empty; every table is copied in foreign-key order inside one destination
 * transaction (a failure leaves the destination as empty as it was), restore points parents
 * first, the audit log's sequence carried over (and PostgreSQL's identity moved past it); then
 * the row count of every table is compared. The source is only read (a SQLite source is first
 * brought to the current schema, as `sendense serve` would; a PostgreSQL one must be current). Stop the control plane
 * while copying: writes made during the copy are not carried over.
 */
import { existsSync } from 'node:fs';
import { asc, count, getTableColumns, getTableName, sql } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import type { SQLiteTable } from 'drizzle-orm/sqlite-core';
import * as lite from './schema.ts';
import * as pgs from './pg/schema.ts';
import { openDatabase, type OpenDatabase } from './open.ts';
import { openPgDatabase, redact, type PgDatabase } from './pg/open.ts';
import { StoreError } from './store.ts';

/** every table, parents before children (the foreign keys' order) */
export const COPY_ORDER = [
  'repositories', 'cloudstackHosts', 'cloudstackAgents', 'cloudstackVms', 'disks', 'policies', 'policyAssignments', 'backupJobs',
  'chains', 'restorePoints', 'restorePointDisks', 'restores', 'maintenanceJobs', 'auditLog', 'leases',
  'signInWindows', 'tokenRevocations',
] as const;
export type TableKey = (typeof COPY_ORDER)[number];

type Row = Record<string, unknown>;
const BATCH = 500;

export type Endpoint = { kind: 'sqlite'; h: OpenDatabase; where: string } | { kind: 'pg'; h: PgDatabase; where: string };

export async function openEndpoint(spec: string, opts: { migrate: boolean }): Promise<Endpoint> {
  if (/^postgres(ql)?:\/\//.test(spec)) return { kind: 'pg', h: await openPgDatabase(spec, { migrate: opts.migrate }), where: redact(spec) };
  if (/^[a-z]+:\/\//i.test(spec)) throw new StoreError('invalid', `${spec}: a database is a postgres:// URL or a SQLite file path`);
  // SQLite is brought to the current schema on open, as `sendense serve` does
  return { kind: 'sqlite', h: openDatabase(spec), where: spec };
}

export async function closeEndpoint(e: Endpoint): Promise<void> {
  if (e.kind === 'sqlite') e.h.close(); else await e.h.close();
}

const primaryKey = (k: TableKey) => (k === 'auditLog' ? 'seq' : k === 'leases' ? 'name' : k === 'signInWindows' ? 'key' : 'id');

/** every row of a table, by primary key (restore points: parents first) */
export async function readTable(e: Endpoint, k: TableKey): Promise<Row[]> {
  let rows: Row[];
  if (e.kind === 'sqlite') {
    const t = lite[k] as SQLiteTable;
    const cols = getTableColumns(t);
    rows = e.h.db.select().from(t).orderBy(asc(cols[primaryKey(k)])).all() as Row[];
  } else {
    const t = pgs[k] as unknown as PgTable;
    const cols = getTableColumns(t);
    rows = (await e.h.db.select().from(t).orderBy(asc(cols[primaryKey(k)]))) as Row[];
  }
  return k === 'restorePoints' ? parentsFirst(rows) : rows;
}

function parentsFirst(rows: Row[]): Row[] {
  const byId = new Map(rows.map((r) => [r.id as string, r]));
  const out: Row[] = [];
  const done = new Set<string>();
  const visit = (r: Row, depth = 0) => {
    if (done.has(r.id as string) || depth > rows.length) return;
    const parent = r.parentId ? byId.get(r.parentId as string) : undefined;
    if (parent) visit(parent, depth + 1);
    done.add(r.id as string);
    out.push(r);
  };
  for (const r of rows) visit(r);
  return out;
}

export async function countTable(e: Endpoint, k: TableKey): Promise<number> {
  if (e.kind === 'sqlite') return e.h.db.select({ n: count() }).from(lite[k] as SQLiteTable).get()?.n ?? 0;
  return (await e.h.db.select({ n: count() }).from(pgs[k] as unknown as PgTable))[0]?.n ?? 0;
}

export interface CopyReport {
  from: string;
  to: string;
  tables: { table: string; rows: number }[];
  ms: number;
}

export async function copyDatabase(from: string, to: string, opts: { onTable?: (table: string, rows: number) => void } = {}): Promise<CopyReport> {
  const t0 = Date.now();
  if (!/^[a-z]+:\/\//i.test(from) && !existsSync(from)) throw new StoreError('invalid', `${from} does not exist: --from names the SQLite file (or postgres:// URL) to copy from`);
  const src = await openEndpoint(from, { migrate: false });
  let dst: Endpoint | undefined;
  try {
    dst = await openEndpoint(to, { migrate: true });
    for (const k of COPY_ORDER) {
      const n = await countTable(dst, k);
      if (n > 0) throw new StoreError('invalid', `${dst.where} is not empty (${n} row(s) in ${tableName(k)}): copy into a new, empty database`);
    }
    const data: [TableKey, Row[]][] = [];
    for (const k of COPY_ORDER) data.push([k, await readTable(src, k)]);
    if (dst.kind === 'sqlite') {
      const { db } = dst.h;
      db.transaction((tx) => {
        for (const [k, rows] of data) {
          for (let i = 0; i < rows.length; i += BATCH) tx.insert(lite[k] as SQLiteTable).values(rows.slice(i, i + BATCH) as never).run();
        }
      });
    } else {
      await dst.h.db.transaction(async (tx) => {
        for (const [k, rows] of data) {
          for (let i = 0; i < rows.length; i += BATCH) await tx.insert(pgs[k] as unknown as PgTable).values(rows.slice(i, i + BATCH) as never);
        }
        await tx.execute(sql`select setval(pg_get_serial_sequence('audit_log', 'seq'), greatest((select max(seq) from audit_log), 1), (select count(*) > 0 from audit_log))`);
      });
    }
    const tables: CopyReport['tables'] = [];
    for (const [k, rows] of data) {
      const n = await countTable(dst, k);
      if (n !== rows.length) throw new StoreError('invalid', `after the copy ${tableName(k)} has ${n} row(s) in ${dst.where}, ${rows.length} in ${src.where}`);
      tables.push({ table: tableName(k), rows: n });
      opts.onTable?.(tableName(k), n);
    }
    return { from: src.where, to: dst.where, tables, ms: Date.now() - t0 };
  } finally {
    await closeEndpoint(src);
    if (dst) await closeEndpoint(dst);
  }
}

export const tableName = (k: TableKey) => getTableName(lite[k]);
