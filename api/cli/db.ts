/**
 * @layer entry
 * `sendense db …`: the control plane's database.
 *   sendense db migrate [--config FILE] [--db PATH|URL]   bring the schema up to date (SQLite or PostgreSQL)
 *   sendense db status  [--config FILE] [--db PATH|URL]   where the schema stands (exit 1 unless current)
 *   sendense db copy --from PATH|URL --to PATH|URL         copy a whole catalogue into a new, empty database
 * The database is `--db`, else the config's database.url / database.path (and SENDENSE_DB).
 * Exit codes: 0 done, 1 failed (the error says what to do), 2 usage or config error.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { copyDatabase } from '../../db/copy.ts';
import { openDatabase } from '../../db/open.ts';
import { migratePg, openPgDatabase, parsePgUrl, schemaState } from '../../db/pg/open.ts';
import { StoreError } from '../../db/store.ts';
import { applyEnv, ConfigError } from '../config.ts';

const DEFAULT_DB = '/var/lib/sendense/sendense.db';
import type { Command } from './main.ts';
import pg from 'pg';

export const DB_USAGE = `Usage:
  sendense db migrate [--config FILE] [--db PATH|URL]   apply pending migrations (one transaction; several instances: once)
  sendense db status  [--config FILE] [--db PATH|URL]   say whether the schema is current, older or newer
  sendense db copy --from PATH|URL --to PATH|URL         copy every table into a new, empty database and compare the counts

PATH is a SQLite file, URL postgres://USER:PASSWORD@HOST:PORT/DATABASE. Without --db the database is the
config's database.url or database.path (SENDENSE_DB overrides both). Stop the control plane before a copy.
`;

function target(values: { db?: string; config?: string }): string {
  if (values.db) return values.db;
  const text = values.config === undefined ? undefined : readFileSync(values.config, 'utf8');
  let json: unknown = {};
  try { json = text === undefined ? {} : JSON.parse(text); } catch (e) { throw new ConfigError(`[config] ${values.config} is not JSON: ${(e as Error).message}`, { cause: e }); }
  // only the database section matters here (the rest of the config may be for another machine)
  const db = (applyEnv(json, process.env).database ?? {}) as { path?: unknown; url?: unknown };
  if (typeof db.url === 'string') return db.url;
  return typeof db.path === 'string' ? db.path : DEFAULT_DB;
}

const isPg = (spec: string) => /^postgres(ql)?:\/\//.test(spec);

async function migrate(spec: string, out: (s: string) => void): Promise<void> {
  if (!isPg(spec)) {
    openDatabase(spec).close();
    out(`sendense db: SQLite ${spec}: schema current\n`);
    return;
  }
  parsePgUrl(spec);
  const pool = new pg.Pool({ connectionString: spec, max: 2 });
  pool.on('error', () => undefined);
  try {
    const n = await migratePg(pool);
    const s = await schemaState(pool);
    out(`sendense db: applied ${n} migration(s); ${s.detail}\n`);
  } finally { await pool.end(); }
}

async function status(spec: string, out: (s: string) => void): Promise<number> {
  if (!isPg(spec)) {
    out(`sendense db: SQLite ${spec}: migrated on open by sendense serve\n`);
    return 0;
  }
  const h = await openPgDatabase(spec, { migrate: false }).catch((e: unknown) => e as Error);
  if (h instanceof Error) { out(`sendense db: ${h.message}\n`); return 1; }
  const s = await schemaState(h.pool);
  await h.close();
  out(`sendense db: ${s.detail}\n`);
  return s.state === 'current' ? 0 : 1;
}

export const dbCommand: Command = async (argv) => {
  const [sub, ...rest] = argv;
  let values;
  try {
    ({ values } = parseArgs({
      args: rest, strict: true,
      options: { config: { type: 'string', short: 'c' }, db: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }));
  } catch (e) {
    process.stderr.write(`sendense db: ${(e as Error).message}\n${DB_USAGE}`);
    return 2;
  }
  if (values.help || sub === undefined || sub === '--help' || sub === '-h') { process.stdout.write(DB_USAGE); return sub === undefined ? 2 : 0; }
  const out = (s: string) => process.stdout.write(s);
  try {
    if (sub === 'copy') {
      if (!values.from || !values.to) { process.stderr.write(`sendense db copy: --from and --to are both needed\n${DB_USAGE}`); return 2; }
      const r = await copyDatabase(values.from, values.to, { onTable: (t, n) => out(`  ${t}: ${n} row(s)\n`) });
      out(`sendense db: copied ${r.tables.reduce((a, t) => a + t.rows, 0)} row(s) of ${r.tables.length} tables from ${r.from} to ${r.to} in ${r.ms} ms; every table's count matches\n`);
      return 0;
    }
    if (sub === 'migrate') { await migrate(target(values), out); return 0; }
    if (sub === 'status') return await status(target(values), out);
    process.stderr.write(`sendense db: unknown subcommand ${sub}\n${DB_USAGE}`);
    return 2;
  } catch (e) {
    if (e instanceof ConfigError || e instanceof SyntaxError || (e as NodeJS.ErrnoException).code === 'ENOENT') {
      process.stderr.write(`sendense db: ${(e as Error).message}\n`);
      return 2;
    }
    if (e instanceof StoreError) { process.stderr.write(`sendense db: ${e.message}\n`); return 1; }
    throw e;
  }
};
