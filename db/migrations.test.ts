/**
 * The committed migrations are what drizzle-kit generates, for both dialects: a schema change
 * without its migrations fails here (run `npx drizzle-kit generate --config db/drizzle.config.ts`
 * and `… --config db/drizzle.pg.config.ts`). The PostgreSQL schema is derived from db/schema.ts:
 * every SQLite table has its pg table with the same columns.
 */
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { is } from 'drizzle-orm';
import { getTableConfig as pgConfig, PgTable } from 'drizzle-orm/pg-core';
import { getTableConfig as liteConfig, SQLiteTable } from 'drizzle-orm/sqlite-core';
import { afterAll, expect, it } from 'vitest';
import { run } from '../agent/system/run.ts';
import * as lite from './schema.ts';
import * as pgSchema from './pg/schema.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const dir = mkdtempSync(path.join(tmpdir(), 'sendense-migrations-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

for (const [dialect, folder, schema] of [['sqlite', 'migrations', 'db/schema.ts'], ['postgresql', 'migrations-pg', 'db/pg/schema.ts']] as const) {
  it(`db/${folder} matches ${schema} (${dialect})`, async () => {
    const out = path.join(dir, folder);
    cpSync(path.join(ROOT, 'db', folder), out, { recursive: true });
    const before = readdirSync(out).sort();
    // drizzle-kit wants relative paths
    const r = await run(path.join(ROOT, 'node_modules/.bin/drizzle-kit'), [
      'generate', '--dialect', dialect, '--schema', path.relative(dir, path.join(ROOT, schema)), '--out', folder,
    ], { cwd: dir, timeoutMs: 120_000 });
    expect(r.stdout).toMatch(/No schema changes/);
    expect(readdirSync(out).sort()).toEqual(before);
  });
}

it('every SQLite table has its PostgreSQL table with the same columns, indexes and foreign keys', () => {
  const liteTables = Object.values(lite).filter((t) => is(t, SQLiteTable)).map((t) => liteConfig(t as SQLiteTable));
  const pgTables = new Map(Object.values(pgSchema).filter((t) => is(t, PgTable)).map((t) => { const c = pgConfig(t as PgTable); return [c.name, c]; }));
  expect([...pgTables.keys()].sort()).toEqual(liteTables.map((t) => t.name).sort());
  for (const t of liteTables) {
    const p = pgTables.get(t.name)!;
    expect(p.columns.map((c) => [c.name, c.notNull, c.primary])).toEqual(t.columns.map((c) => [c.name, c.notNull, c.primary]));
    expect(p.indexes.map((i) => i.config.name).sort()).toEqual(t.indexes.map((i) => i.config.name).sort());
    expect(p.foreignKeys.map((f) => f.getName()).sort()).toEqual(t.foreignKeys.map((f) => f.getName()).sort());
  }
});
