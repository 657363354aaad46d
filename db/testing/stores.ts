/**
 * @layer entry
 * The Store adapters the one contract suite runs against (db/store.test.ts,
 * db/maintenance.test.ts): SQLite on a file, and PostgreSQL 15 in a cluster the test lab starts
 * (test/lab/postgres.ts) — which fails, never skips, when PostgreSQL cannot start. Each test gets
 * a fresh, migrated, empty database: for PostgreSQL a copy of a template database migrated once.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSqliteStore, openDatabase } from '../open.ts';
import { openPgDatabase, openPgStore } from '../pg/open.ts';
import type { Store } from '../store.ts';
import pg from 'pg';
import { startPostgres, type PostgresCluster } from '../../test/lab/postgres.ts';

export interface FreshStore {
  store: Store;
  /** closes the store and opens the same database again */
  reopen(): Promise<Store>;
}

export interface StoreLab {
  fresh(): Promise<FreshStore>;
  stop(): Promise<void>;
}

export interface StoreAdapter {
  name: 'SQLite' | 'PostgreSQL';
  start(): Promise<StoreLab>;
}

const sqlite: StoreAdapter = {
  name: 'SQLite',
  async start() {
    const dir = mkdtempSync(path.join(tmpdir(), 'sendense-db-'));
    let n = 0;
    return {
      async fresh() {
        const file = path.join(dir, `t${++n}`, 'cp.db');
        let store = createSqliteStore(openDatabase(file));
        return { store, async reopen() { await store.close(); store = createSqliteStore(openDatabase(file)); return store; } };
      },
      async stop() { rmSync(dir, { recursive: true, force: true }); },
    };
  },
};

/** a started cluster with a migrated template database; `database(name)` copies it */
export async function pgLab(): Promise<{ cluster: PostgresCluster; database(name?: string): Promise<string> }> {
  const cluster = await startPostgres();
  try {
    const tmpl = await cluster.createDatabase('sendense_template');
    const h = await openPgDatabase(tmpl, { migrate: true });
    await h.close();
  } catch (e) { cluster.destroy(); throw e; }
  let n = 0;
  return {
    cluster,
    async database(name = `t${++n}_${process.pid}`) {
      const c = new pg.Client({ connectionString: cluster.url() });
      await c.connect();
      try { await c.query(`CREATE DATABASE "${name}" TEMPLATE sendense_template`); } finally { await c.end(); }
      return cluster.url(name);
    },
  };
}

const postgres: StoreAdapter = {
  name: 'PostgreSQL',
  async start() {
    const lab = await pgLab();
    const open: Store[] = [];
    const track = (s: Store) => { open.push(s); return s; };
    return {
      async fresh() {
        const url = await lab.database();
        let store = track(await openPgStore(url, { max: 4 }));
        return { store, async reopen() { await store.close(); store = track(await openPgStore(url, { max: 4 })); return store; } };
      },
      async stop() {
        for (const s of open) await s.close();
        lab.cluster.destroy();
      },
    };
  },
};

export const STORE_ADAPTERS: StoreAdapter[] = [sqlite, postgres];
