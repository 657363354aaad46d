/**
 * Opening PostgreSQL: each way it can go wrong gives a StoreError that says what to do, an
 * older or newer schema is refused, a failed migration leaves nothing behind, several instances
 * migrating at once migrate once, and a server that goes away mid-run gives 'unavailable' until
 * it is back (then the same Store works again). Runs a real PostgreSQL 15 (test/lab/postgres.ts).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgLab } from '../testing/stores.ts';
import { StoreError } from '../store.ts';
import { migratePg, openPgDatabase, openPgStore, schemaState } from './open.ts';

describe('PostgreSQL open', () => {
  let lab: Awaited<ReturnType<typeof pgLab>>;
  beforeAll(async () => { lab = await pgLab(); });
  afterAll(() => lab?.cluster.destroy());

  const sqlOn = async (url: string, q: string) => {
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try { return (await c.query(q)).rows; } finally { await c.end(); }
  };
  const refusal = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a refusal'); }, (e: unknown) => {
    expect(e).toBeInstanceOf(StoreError);
    return e as StoreError;
  });

  it('a URL that is not postgres://, nothing listening, refused credentials, a missing database', async () => {
    expect((await refusal(openPgStore('mysql://u:p@127.0.0.1/x'))).message).toMatch(/must start with postgres:\/\/.*database\.path/);
    expect((await refusal(openPgStore('postgres://u:p@127.0.0.1:5432'))).message).toMatch(/names no database/);
    // port 1: nothing listens there
    const closed = lab.cluster.url().replace(`:${lab.cluster.port}/`, ':1/');
    const down = await refusal(openPgStore(closed, { connectTimeoutMs: 3000 }));
    expect(down.code).toBe('unavailable');
    expect(down.message).toMatch(/cannot be reached .*ECONNREFUSED|cannot be reached/);
    const bad = lab.cluster.url().replace(`:${encodeURIComponent(lab.cluster.password)}@`, ':wrong@');
    const creds = await refusal(openPgStore(bad));
    expect(creds.message).toMatch(/refused the credentials .*check the user and password in database\.url/);
    expect(creds.message).not.toContain(lab.cluster.password);
    expect((await refusal(openPgStore(lab.cluster.url('nosuchdb')))).message).toMatch(/does not exist.*create it/);
  });

  it('an empty or older schema is refused until `sendense db migrate`; a newer one is refused', async () => {
    const empty = await lab.cluster.createDatabase('empty1');
    expect((await refusal(openPgStore(empty))).message).toMatch(/0 of this Sendense's \d+ migrations: run `sendense db migrate`/);
    // nothing was created by the refused open
    expect(await sqlOn(empty, "select count(*)::int as n from information_schema.tables where table_schema = 'public'")).toEqual([{ n: 0 }]);

    const older = await lab.database();
    await sqlOn(older, 'delete from drizzle.__drizzle_migrations where id = (select max(id) from drizzle.__drizzle_migrations)');
    expect((await refusal(openPgStore(older))).message).toMatch(/run `sendense db migrate`/);

    const newer = await lab.database();
    await sqlOn(newer, `insert into drizzle.__drizzle_migrations (hash, created_at) values ('f00', ${Date.now() + 86_400_000})`);
    const e = await refusal(openPgStore(newer, { migrate: true }));
    expect(e.message).toMatch(/newer \(or different\) Sendense; upgrade this instance/);
  });

  it('a migration that fails leaves nothing half-applied; three instances migrating at once migrate once', async () => {
    const url = await lab.cluster.createDatabase('clash');
    await sqlOn(url, 'create table restores (x int)'); // a table in the way: the migration fails part-way
    const e = await refusal(openPgStore(url, { migrate: true }));
    expect(e.message).toMatch(/nothing was applied/);
    expect(await sqlOn(url, "select table_name from information_schema.tables where table_schema = 'public' order by 1")).toEqual([{ table_name: 'restores' }]);

    const fresh = await lab.cluster.createDatabase('race');
    const pools = [0, 1, 2].map(() => new pg.Pool({ connectionString: fresh, max: 2 }));
    try {
      const applied = await Promise.all(pools.map((p) => migratePg(p)));
      const s = await schemaState(pools[0]);
      expect(applied.reduce((a, n) => a + n, 0)).toBe(s.known);
      expect(s.state).toBe('current');
    } finally { await Promise.all(pools.map((p) => p.end())); }
    const h = await openPgDatabase(fresh);
    await h.close();
  });

  it('the server going away mid-run: calls fail "unavailable" naming what to do; back again, the same Store works', async () => {
    const store = await openPgStore(await lab.database(), { max: 2, connectTimeoutMs: 3000 });
    try {
      await store.repositories.sync([{ name: 'r1', url: '/srv/r1', kind: 'local', isDefault: true }]);
      lab.cluster.stop('fast');
      const e = await refusal(store.repositories.list());
      expect(e.code).toBe('unavailable');
      expect(e.message).toMatch(/PostgreSQL at 127\.0\.0\.1:\d+\/\S+ cannot be reached .*check that the server is running/);
      lab.cluster.start();
      expect((await store.repositories.list()).map((r) => r.name)).toEqual(['r1']);
    } finally {
      lab.cluster.start();
      await store.close();
    }
  });
});
