/**
 * `sendense db copy`: a SQLite catalogue with something in every table, copied into PostgreSQL
 * and from there into a new SQLite file: every table equal row by row both times; the copied
 * PostgreSQL catalogue goes on working (an incremental on the copied chain head, audit entries
 * numbered after the copied ones); a destination that is not empty is refused, unchanged.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifest } from '../test/bench/api.ts';
import { closeEndpoint, copyDatabase, COPY_ORDER, openEndpoint, readTable, tableName } from './copy.ts';
import { openStore } from './open.ts';
import { openPgStore } from './pg/open.ts';
import * as lite from './schema.ts';
import type { Store } from './store.ts';
import { pgLab } from './testing/stores.ts';
import { getTableName, is } from 'drizzle-orm';
import { SQLiteTable } from 'drizzle-orm/sqlite-core';

const VM = 'c1b2c3d4-0000-4000-8000-000000000001';

async function fill(store: Store): Promise<void> {
  const at = new Date('2025-02-01T00:00:00Z');
  const [repo] = await store.repositories.sync([{ name: 'r1', url: '/srv/r1', kind: 'local', isDefault: true, capacityBytes: 1 << 30 }]);
  await store.hosts.upsert([{ id: 'h1', name: 'kvm1', ip: '10.0.0.1', lastSeenAt: at }]);
  await store.agents.ensure({ hostId: 'h1', hostIp: '10.0.0.1', hostname: 'kvm1' });
  await store.agents.heartbeat('h1', { status: 'active', at, capabilities: { backup: true, nested: { a: [1, 2] } } });
  await store.vms.upsert([{ id: VM, name: 'web', state: 'Running', account: 'alice', domainId: 'd1', lastSeenAt: at, tags: [{ key: 'tier', value: 'web' }] }]);
  await store.vms.replaceDisks(VM, [{ id: 'vol1', vmId: VM, deviceId: 0, name: 'ROOT', type: 'ROOT', sizeBytes: 2 ** 40 + 7, lastSeenAt: at }], at);
  await store.policies.create({ id: 'p1', name: 'nightly', schedule: '0 2 * * *', fullEvery: 7, maxChainLength: 30, retention: { keepLast: 3, keepDaily: 7 }, createdAt: at, updatedAt: at });
  await store.policies.assign({ policyId: 'p1', kind: 'vm', target: VM });
  let parent: { chainId: string; id: string } | undefined;
  for (let i = 0; i < 4; i++) {
    const id = `2025020${i + 1}-020000`;
    const jobId = crypto.randomUUID();
    await store.jobs.create({ id: jobId, platformVmId: VM, type: parent ? 'incremental' : 'full', typeReason: 't', trigger: 'schedule', policyId: 'p1', repositoryId: repo.id, status: 'running', queuedAt: at, progress: 0.5 });
    const m = manifest(id, parent ? 'incremental' : 'full', parent ? `2025020${i}-020000` : null, VM);
    const p = await store.points.record({
      jobId, jobPatch: { status: 'succeeded', finishedAt: at, bytesDone: 12345 }, manifest: m, platformVmId: VM, sourcePlatform: 'cloudstack', repositoryId: repo.id,
      chain: parent ? { kind: 'extend', chainId: parent.chainId, parentId: parent.id } : { kind: 'new' },
    });
    parent = { chainId: p.chainId, id: p.id };
  }
  await store.jobs.create({ id: crypto.randomUUID(), platformVmId: VM, type: 'full', typeReason: 't', trigger: 'manual', repositoryId: repo.id, status: 'failed', error: 'boom', errorCode: 'x', queuedAt: at });
  await store.restores.create({ id: 'rs1', restorePointId: parent!.id, platformVmId: VM, kind: 'download', target: { disk: 'vda' }, status: 'succeeded', result: { ok: true } });
  await store.maintenance.create({ id: 'mj1', kind: 'verify', trigger: 'manual', status: 'queued', repositoryId: repo.id, platformVmId: VM, request: { points: ['x'] }, queuedAt: at });
  await store.leases.acquire('round:scheduler', 'cp-1', 60_000, at);
  await store.auth.hit('user:alice', 60_000, at);
  await store.auth.revoke('user:u1', at);
  for (let i = 0; i < 3; i++) await store.audit.append({ at, actor: 'alice', via: 'token', action: `a.${i}`, outcome: 'ok', details: { i } });
}

describe('sendense db copy', () => {
  let lab: Awaited<ReturnType<typeof pgLab>>;
  let dir: string;
  beforeAll(async () => { lab = await pgLab(); dir = mkdtempSync(path.join(tmpdir(), 'sendense-copy-')); });
  afterAll(() => { lab?.cluster.destroy(); rmSync(dir, { recursive: true, force: true }); });

  const tables = async (spec: string) => {
    const e = await openEndpoint(spec, { migrate: false });
    try {
      const out: Record<string, unknown[]> = {};
      for (const k of COPY_ORDER) out[tableName(k)] = await readTable(e, k);
      return out;
    } finally { await closeEndpoint(e); }
  };

  it('copies every table from SQLite to PostgreSQL and back, row for row', async () => {
    // the copy knows every table of the schema
    expect(COPY_ORDER.map(tableName).sort()).toEqual(Object.values(lite).filter((t) => is(t, SQLiteTable)).map((t) => getTableName(t as SQLiteTable)).sort());
    const src = path.join(dir, 'src.db');
    const s = openStore(src);
    await fill(s);
    await s.close();
    const pgUrl = await lab.cluster.createDatabase('copied');
    const r = await copyDatabase(src, pgUrl);
    expect(r.tables.every((t) => t.rows > 0)).toBe(true);
    const a = await tables(src);
    const b = await tables(pgUrl);
    for (const name of Object.keys(a)) expect({ table: name, rows: b[name] }).toEqual({ table: name, rows: a[name] });
    const back = path.join(dir, 'back.db');
    await copyDatabase(pgUrl, back);
    const c = await tables(back);
    for (const name of Object.keys(a)) expect({ table: name, rows: c[name] }).toEqual({ table: name, rows: a[name] });

    // the copy is a working catalogue: the chain head continues, audit numbers follow on
    const store = await openPgStore(pgUrl);
    try {
      const repo = (await store.repositories.getDefault())!;
      const head = (await store.points.chainHead(VM, repo.id))!;
      expect(head.point.pointId).toBe('20250204-020000');
      const jobId = crypto.randomUUID();
      await store.jobs.create({ id: jobId, platformVmId: VM, type: 'incremental', typeReason: 't', trigger: 'manual', repositoryId: repo.id, status: 'running', queuedAt: new Date() });
      await store.points.record({
        jobId, jobPatch: { status: 'succeeded' }, manifest: manifest('20250205-020000', 'incremental', '20250204-020000', VM),
        platformVmId: VM, sourcePlatform: 'cloudstack', repositoryId: repo.id, chain: { kind: 'extend', chainId: head.chain.id, parentId: head.point.id },
      });
      expect((await store.points.chainHead(VM, repo.id))?.chain.length).toBe(5);
      await store.audit.append({ at: new Date(), actor: 'bob', via: 'token', action: 'after.copy', outcome: 'ok' });
      expect((await store.audit.list({ limit: 1 }))[0]).toMatchObject({ action: 'after.copy', seq: 4 });
    } finally { await store.close(); }
  });

  it('refuses a destination that is not empty, and leaves it as it was', async () => {
    const src = path.join(dir, 'src2.db');
    const s = openStore(src);
    await fill(s);
    await s.close();
    const pgUrl = await lab.database();
    const t = await openPgStore(pgUrl);
    await t.repositories.sync([{ name: 'other', url: '/srv/o', kind: 'local' }]);
    await t.close();
    await expect(copyDatabase(src, pgUrl)).rejects.toThrow(/is not empty \(1 row\(s\) in repositories\): copy into a new, empty database/);
    expect((await tables(pgUrl)).repositories).toHaveLength(1);
    await expect(copyDatabase(src, 'mysql://x/y')).rejects.toThrow(/postgres:\/\/ URL or a SQLite file path/);
    await expect(copyDatabase(path.join(dir, 'missing.db'), pgUrl)).rejects.toThrow(/missing\.db does not exist: --from names the SQLite file/);
  });
});
