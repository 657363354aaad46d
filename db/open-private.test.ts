/**
 * Issue 12 item 4: the catalogue (every tenant's VMs, volumes and points) is private to its
 * owner — folder 0700, database and WAL files 0600, whatever the umask — and synchronous=FULL.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from './open.ts';

const base = mkdtempSync(path.join(os.tmpdir(), 'sendense-db-private-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);

describe('openDatabase: private files', () => {
  it('a new database: folder 0700, file, -wal and -shm 0600 under umask 0; synchronous FULL', () => {
    const old = process.umask(0);
    try {
      const file = path.join(base, 'new', 'state', 'sendense.db');
      const h = openDatabase(file);
      h.sqlite.exec('CREATE TABLE IF NOT EXISTS t (x)');
      h.sqlite.prepare('INSERT INTO t VALUES (1)').run();
      expect(h.sqlite.pragma('synchronous', { simple: true })).toBe(2);
      expect(mode(path.dirname(file))).toBe('700');
      for (const n of readdirSync(path.dirname(file))) expect(mode(path.join(path.dirname(file), n)), n).toBe('600');
      expect(readdirSync(path.dirname(file)).sort()).toEqual(['sendense.db', 'sendense.db-shm', 'sendense.db-wal']);
      h.close();
    } finally {
      process.umask(old);
    }
  });

  it('an existing world-readable database file is made 0600', () => {
    const file = path.join(base, 'old.db');
    writeFileSync(file, '', { mode: 0o644 });
    openDatabase(file).close();
    expect(mode(file)).toBe('600');
  });
});
