import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PointManifest } from '../agent/repository/manifest.ts';
import { MIGRATIONS_DIR, openDatabase, createSqliteStore } from './open.ts';
import type { NewBackupJob } from './schema.ts';
import { StoreError, type Store } from './store.ts';
import { STORE_ADAPTERS, type FreshStore, type StoreLab } from './testing/stores.ts';

const VM = 'a1b2c3d4-0000-4000-8000-000000000001';
const sha = (c: string) => c.repeat(64);

function manifest(id: string, type: 'full' | 'incremental', parent: string | null, vm = VM): PointManifest {
  const t = `${id.slice(0, 4)}-${id.slice(4, 6)}-${id.slice(6, 8)}T${id.slice(9, 11)}:${id.slice(11, 13)}:${id.slice(13, 15)}.000Z`;
  return {
    format: 'sendense-point', version: 1, id, vm_uuid: vm, type, reason: type, parent, created_at: t, started_at: t, finished_at: t,
    duration_ms: 10, consistency: 'crash', vm_state: 'running', agent: { host: 'kvm1', version: 'test' },
    disks: [{
      index: 0, target: 'vda', type, reason: type, image: `${type === 'full' ? 'full' : 'incr'}-${id}.qcow2`, backing: null, checkpoint: `sendense-${id}`,
      virtual_size: 1000, file_size: 300, bytes_read: 400, bytes_written: 250, bytes_sent: 310, data_clusters: 4, zero_clusters: 0,
      sums: 'x.sums', block_size: 1_048_576, content_sha256: sha('a'), file_sha256: { header: sha('b'), body: sha('c') },
    }],
  };
}

describe('SQLite database', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'sendense-db-'));
    file = path.join(dir, 'sub', 'cp.db');
    createSqliteStore(openDatabase(file)).close();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('opens with WAL, foreign keys and a busy timeout, migrations applied once', () => {
    const h = openDatabase(file);
    try {
      expect(h.sqlite.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(h.sqlite.pragma('foreign_keys', { simple: true })).toBe(1);
      expect(h.sqlite.pragma('busy_timeout', { simple: true })).toBe(5000);
      const tables = h.sqlite.prepare("select name from sqlite_master where type='table' order by name").all().map((r) => (r as { name: string }).name);
      expect(tables).toEqual(expect.arrayContaining([
        'audit_log', 'backup_jobs', 'chains', 'cloudstack_agents', 'cloudstack_hosts', 'cloudstack_vms', 'disks', 'policies',
        'policy_assignments', 'repositories', 'restore_point_disks', 'restore_points', 'restores', '__drizzle_migrations',
      ]));
      const journal = JSON.parse(readFileSync(path.join(MIGRATIONS_DIR, 'meta/_journal.json'), 'utf8')) as { entries: unknown[] };
      expect(h.sqlite.prepare('select count(*) as n from __drizzle_migrations').get()).toEqual({ n: journal.entries.length });
      const cols = h.sqlite.prepare('pragma table_info(backup_jobs)').all().map((r) => (r as { name: string }).name);
      expect(cols).toEqual(expect.arrayContaining(['source_platform', 'platform_vm_id', 'kvm_host_id', 'agent_job_id']));
    } finally { h.close(); }
  });
});

/** The Store contract: the same tests on every adapter (SQLite, and PostgreSQL 15 started by the lab). */
describe.each(STORE_ADAPTERS)('$name Store', (adapter) => {
  let lab: StoreLab;
  let fresh: FreshStore;
  let store: Store;
  let repoId: string;

  const job = (over: Partial<NewBackupJob> = {}): NewBackupJob => ({
    id: crypto.randomUUID(), platformVmId: VM, type: 'full', typeReason: 'test', trigger: 'manual', repositoryId: repoId,
    status: 'running', queuedAt: new Date(), ...over,
  });

  beforeAll(async () => { lab = await adapter.start(); });
  afterAll(async () => { await lab?.stop(); });
  beforeEach(async () => {
    fresh = await lab.fresh();
    store = fresh.store;
    [{ id: repoId }] = await store.repositories.sync([{ name: 'r1', url: 'ssh://u@h/p', kind: 'ssh', isDefault: true }]);
  });
  afterEach(async () => { await store.close(); });

  it('a foreign key is enforced: a job needs its repository', async () => {
    await expect(store.jobs.create(job({ repositoryId: 'nope' }))).rejects.toBeInstanceOf(StoreError);
  });

  it('VMs: upsert, rename, scope filters, removal and return, disks replaced', async () => {
    const at = new Date('2025-01-01T00:00:00Z');
    const base = { state: 'Running', account: 'alice', domainId: 'd1', lastSeenAt: at };
    await store.vms.upsert([{ id: VM, name: 'web-1', ...base }, { id: 'vm-2', name: 'db-1', ...base, account: 'bob' }, { id: 'vm-3', name: 'x', ...base, domainId: 'd2' }]);
    await store.vms.upsert([{ id: VM, name: 'web-renamed', ...base }]);
    expect((await store.vms.get(VM))?.name).toBe('web-renamed');
    expect((await store.vms.list({ scope: { kind: 'account', domainId: 'd1', account: 'alice' } })).map((v) => v.id)).toEqual([VM]);
    expect(await store.vms.count({ scope: { kind: 'domains', domainIds: ['d1'] } })).toBe(2);
    expect(await store.vms.count({ scope: { kind: 'domains', domainIds: [] } })).toBe(0);
    expect((await store.vms.list({ search: 'RENAM' })).map((v) => v.id)).toEqual([VM]);
    expect(await store.vms.list({ search: '%' })).toEqual([]);
    await store.vms.markRemoved(['vm-2'], at);
    expect(await store.vms.count()).toBe(2);
    expect(await store.vms.count({ includeRemoved: true })).toBe(3);
    await store.vms.upsert([{ id: 'vm-2', name: 'db-1', ...base }]);
    expect((await store.vms.get('vm-2'))?.removedAt).toBeNull();

    const disk = (id: string, deviceId: number) => ({ id, vmId: VM, deviceId, name: id, type: 'DATADISK', sizeBytes: 10, lastSeenAt: at });
    await store.vms.replaceDisks(VM, [disk('v1', 0), disk('v2', 1)], at);
    await store.vms.replaceDisks(VM, [disk('v1', 0)], at);
    expect((await store.vms.disks(VM)).map((d) => d.id)).toEqual(['v1']);
  });

  it('jobs: compare-and-set on the status', async () => {
    const j = await store.jobs.create(job({ status: 'queued' }));
    expect(await store.jobs.update(j.id, { status: 'running' }, ['dispatching'])).toBeUndefined();
    expect((await store.jobs.get(j.id))?.status).toBe('queued');
    expect((await store.jobs.update(j.id, { status: 'dispatching' }, ['queued']))?.status).toBe('dispatching');
    expect((await store.jobs.unfinished()).map((x) => x.id)).toEqual([j.id]);
    expect((await store.jobs.countByStatus()).dispatching).toBe(1);
  });

  it('points: a full opens a chain, an incremental must build on its head, a dead job records nothing', async () => {
    const j1 = await store.jobs.create(job());
    const p1 = await store.points.record({
      jobId: j1.id, jobPatch: { status: 'succeeded' }, manifest: manifest('20250101-000000', 'full', null),
      platformVmId: VM, sourcePlatform: 'cloudstack', repositoryId: repoId, chain: { kind: 'new' },
    });
    expect((await store.jobs.get(j1.id))?.status).toBe('succeeded');
    let head = await store.points.chainHead(VM, repoId);
    expect(head?.point.id).toBe(p1.id);
    expect(head?.chain.length).toBe(1);

    // an incremental whose parent is not the head: refused, nothing written, the job untouched
    const j2 = await store.jobs.create(job());
    await expect(store.points.record({
      jobId: j2.id, jobPatch: { status: 'succeeded' }, manifest: manifest('20250101-010000', 'incremental', '20250101-000000'),
      platformVmId: VM, sourcePlatform: 'cloudstack', repositoryId: repoId, chain: { kind: 'extend', chainId: head!.chain.id, parentId: 'someone-else' },
    })).rejects.toMatchObject({ code: 'conflict' });
    expect((await store.jobs.get(j2.id))?.status).toBe('running');
    expect(await store.points.countForVm(VM)).toBe(1);

    const p2 = await store.points.record({
      jobId: j2.id, jobPatch: { status: 'succeeded' }, manifest: manifest('20250101-010000', 'incremental', '20250101-000000'),
      platformVmId: VM, sourcePlatform: 'cloudstack', repositoryId: repoId, chain: { kind: 'extend', chainId: head!.chain.id, parentId: p1.id }, volumeIds: { 0: 'vol-1' },
    });
    expect(p2.parentId).toBe(p1.id);
    head = await store.points.chainHead(VM, repoId);
    expect(head?.chain.length).toBe(2);
    expect(head?.disks[0].volumeId).toBe('vol-1');

    // a failed job cannot get a point
    const j3 = await store.jobs.create(job({ status: 'failed' }));
    await expect(store.points.record({
      jobId: j3.id, jobPatch: { status: 'succeeded' }, manifest: manifest('20250101-020000', 'full', null),
      platformVmId: VM, sourcePlatform: 'cloudstack', repositoryId: repoId, chain: { kind: 'new' },
    })).rejects.toMatchObject({ code: 'conflict' });

    // a new full closes the old chain
    const j4 = await store.jobs.create(job());
    await store.points.record({
      jobId: j4.id, jobPatch: { status: 'succeeded' }, manifest: manifest('20250102-000000', 'full', null),
      platformVmId: VM, sourcePlatform: 'cloudstack', repositoryId: repoId, chain: { kind: 'new' },
    });
    head = await store.points.chainHead(VM, repoId);
    expect(head?.chain.length).toBe(1);
    expect(head?.chain.id).not.toBe(p1.chainId);
    expect((await store.points.listForVm(VM)).map((p) => p.pointId)).toEqual(['20250102-000000', '20250101-010000', '20250101-000000']);
    expect(await store.points.usage()).toEqual([{ repositoryId: repoId, sourcePlatform: 'cloudstack', points: 3, bytes: 900 }]);
    expect(await store.points.total()).toEqual({ points: 3, bytes: 900 });
    // the same point id twice in a repository: refused
    const j5 = await store.jobs.create(job());
    await expect(store.points.record({
      jobId: j5.id, jobPatch: { status: 'succeeded' }, manifest: manifest('20250102-000000', 'full', null),
      platformVmId: VM, sourcePlatform: 'cloudstack', repositoryId: repoId, chain: { kind: 'new' },
    })).rejects.toMatchObject({ code: 'conflict' });
    expect((await store.points.chainHead(VM, repoId))?.point.pointId).toBe('20250102-000000');
  });

  it('concurrent writers: one compare-and-set wins, two increments on one head give one point', async () => {
    const j = await store.jobs.create(job({ status: 'queued' }));
    const tries = await Promise.all(Array.from({ length: 8 }, (_, i) => store.jobs.update(j.id, { status: 'dispatching', agentJobId: `a${i}` }, ['queued'])));
    expect(tries.filter((x) => x !== undefined)).toHaveLength(1);
    const j1 = await store.jobs.create(job());
    const p1 = await store.points.record({
      jobId: j1.id, jobPatch: { status: 'succeeded' }, manifest: manifest('20250101-000000', 'full', null),
      platformVmId: VM, sourcePlatform: 'cloudstack', repositoryId: repoId, chain: { kind: 'new' },
    });
    const racers = await Promise.all([0, 1, 2].map(async (i) => {
      const jx = await store.jobs.create(job());
      return store.points.record({
        jobId: jx.id, jobPatch: { status: 'succeeded' }, manifest: manifest(`20250101-0${i + 1}0000`, 'incremental', '20250101-000000'),
        platformVmId: VM, sourcePlatform: 'cloudstack', repositoryId: repoId, chain: { kind: 'extend', chainId: p1.chainId, parentId: p1.id },
      }).then(() => 'ok', (e: StoreError) => e.code);
    }));
    expect(racers.sort()).toEqual(['conflict', 'conflict', 'ok']);
    expect((await store.points.chainHead(VM, repoId))?.chain.length).toBe(2);
  });

  it('points list newest first; equal times: the later recorded first; pages are slices', async () => {
    const at = '2025-03-01T00:00:00.000Z';
    const ids = ['20250301-000001', '20250301-000002', '20250301-000003', '20250301-000004', '20250301-000005'];
    for (const id of ids) {
      const j = await store.jobs.create(job());
      await store.points.record({
        jobId: j.id, jobPatch: { status: 'succeeded' }, manifest: { ...manifest(id, 'full', null), created_at: id === ids[4] ? '2025-03-02T00:00:00.000Z' : at },
        platformVmId: VM, sourcePlatform: 'cloudstack', repositoryId: repoId, chain: { kind: 'new' },
      });
    }
    const all = (await store.points.listForVm(VM)).map((p) => p.pointId);
    expect(all).toEqual([ids[4], ids[3], ids[2], ids[1], ids[0]]);
    expect((await store.points.listForVm(VM, { limit: 2, offset: 1 })).map((p) => p.pointId)).toEqual(all.slice(1, 3));
    expect(await store.points.countForVm(VM)).toBe(5);
    expect((await store.points.allForVm(VM)).map((p) => p.pointId)).toEqual(ids);
  });

  it('leases: of several instances asking at once exactly one gets it; it is kept by asking again, taken over once expired', async () => {
    const t0 = new Date('2026-01-01T00:00:00Z');
    const got = await Promise.all(['a', 'b', 'c', 'd'].map((h) => store.leases.acquire('round:x', h, 10_000, t0)));
    expect(got.filter(Boolean)).toHaveLength(1);
    const holder = ['a', 'b', 'c', 'd'][got.indexOf(true)];
    const other = holder === 'a' ? 'b' : 'a';
    const t1 = new Date(t0.getTime() + 5_000);
    expect(await store.leases.acquire('round:x', other, 10_000, t1)).toBe(false);
    expect(await store.leases.acquire('round:x', holder, 10_000, t1)).toBe(true); // renewed: now until t1 + 10 s
    expect((await store.leases.get('round:x'))).toMatchObject({ holder, acquiredAt: t0, expiresAt: new Date(t1.getTime() + 10_000) });
    const t2 = new Date(t0.getTime() + 14_000);
    expect(await store.leases.acquire('round:x', other, 10_000, t2)).toBe(false); // still held
    const t3 = new Date(t1.getTime() + 10_000);
    expect(await store.leases.acquire('round:x', other, 10_000, t3)).toBe(true); // expired: taken over
    expect((await store.leases.get('round:x'))).toMatchObject({ holder: other, acquiredAt: t3 });
    await store.leases.release('round:x', holder); // not the holder's any more: nothing happens
    expect((await store.leases.get('round:x'))?.holder).toBe(other);
    await store.leases.release('round:x', other);
    expect(await store.leases.get('round:x')).toBeUndefined();
  });

  it('auth: sign-in windows count every attempt of instances asking at once, restart after the window; revocations keep the later time and are swept', async () => {
    const t0 = new Date('2026-01-01T00:00:00Z');
    const hits = await Promise.all(Array.from({ length: 8 }, () => store.auth.hit('user:alice', 60_000, t0)));
    expect(hits.map((h) => h.count).sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(await store.auth.window('user:alice')).toEqual({ count: 8, windowStart: t0 });
    expect(await store.auth.hit('user:alice', 60_000, new Date(t0.getTime() + 59_999))).toEqual({ count: 9, windowStart: t0 });
    const t1 = new Date(t0.getTime() + 60_000);
    expect(await store.auth.hit('user:alice', 60_000, t1)).toEqual({ count: 1, windowStart: t1 });
    await store.auth.reset('user:alice');
    expect(await store.auth.window('user:alice')).toBeUndefined();
    await store.auth.revoke('token:t1', new Date(t0.getTime() + 3_600_000));
    await store.auth.revoke('user:u1', t1);
    await store.auth.revoke('user:u1', t0); // earlier: the later time stays
    const r = await store.auth.revocations(['token:t1', 'user:u1', 'token:none']);
    expect(r).toEqual(new Map([['token:t1', new Date(t0.getTime() + 3_600_000)], ['user:u1', t1]]));
    await store.auth.hit('addr:10.0.0.1', 60_000, t0);
    await store.auth.sweep({ tokens: new Date(t0.getTime() + 3_600_001), users: t0, windows: t1 });
    expect(await store.auth.revocations(['token:t1', 'user:u1'])).toEqual(new Map([['user:u1', t1]]));
    expect(await store.auth.window('addr:10.0.0.1')).toBeUndefined();
  });

  it('policies: a schedule time is claimed once (compare-and-set on the last run)', async () => {
    const now = new Date('2026-01-01T02:00:00Z');
    await store.policies.create({ id: 'pc', name: 'claimed', schedule: '0 2 * * *', fullEvery: 7, maxChainLength: 30, retention: {}, createdAt: now, updatedAt: now });
    const claims = await Promise.all([0, 1, 2].map(() => store.policies.claimRun('pc', 'lastRunAt', null, now)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await store.policies.claimRun('pc', 'lastRunAt', null, now)).toBe(false);
    const next = new Date('2026-01-02T02:00:00Z');
    expect(await store.policies.claimRun('pc', 'lastRunAt', now, next)).toBe(true);
    expect(await store.policies.claimRun('pc', 'verifyLastRunAt', null, next)).toBe(true);
    expect(await store.policies.get('pc')).toMatchObject({ lastRunAt: next, verifyLastRunAt: next });
  });

  it('policies: one assignment per target (moved on re-assign), cascade on delete', async () => {
    const now = new Date();
    const mk = (id: string, name: string) => store.policies.create({ id, name, schedule: '0 2 * * *', fullEvery: 7, maxChainLength: 30, retention: { keepLast: 7 }, createdAt: now, updatedAt: now });
    await mk('p1', 'nightly');
    await mk('p2', 'hourly');
    await expect(mk('p3', 'nightly')).rejects.toMatchObject({ code: 'conflict' });
    const a = await store.policies.assign({ policyId: 'p1', kind: 'vm', target: VM });
    const b = await store.policies.assign({ policyId: 'p2', kind: 'vm', target: VM });
    expect(b.policyId).toBe('p2');
    expect(b.id).toBe(a.id);
    expect(await store.policies.assignments('p1')).toEqual([]);
    await store.policies.assign({ policyId: 'p2', kind: 'zone', target: 'z1' });
    expect(await store.policies.delete('p2')).toBe(true);
    expect(await store.policies.assignments()).toEqual([]);
  });

  it('agents: ensure keeps one row per host; heartbeats set status and time', async () => {
    await store.agents.ensure({ hostId: 'h1', hostIp: '10.0.0.1', hostname: 'kvm1' });
    await store.agents.ensure({ hostId: 'h1', hostIp: '10.0.0.2', hostname: 'kvm1' });
    const at = new Date('2025-01-01T00:00:00Z');
    await store.agents.heartbeat('h1', { status: 'active', at, version: '1.2', capabilities: { backup: true } });
    const [a] = await store.agents.list();
    expect(a).toMatchObject({ hostIp: '10.0.0.2', status: 'active', agentVersion: '1.2', capabilities: { backup: true } });
    expect(a.lastHeartbeatAt?.toISOString()).toBe(at.toISOString());
    await store.agents.heartbeat('h1', { status: 'inactive', at: new Date(), message: 'no link' });
    expect((await store.agents.getByHost('h1'))).toMatchObject({ status: 'inactive', statusMessage: 'no link', lastHeartbeatAt: at });
  });

  it('survives a reopen: the data is in the database', async () => {
    await store.audit.append({ at: new Date(), actor: 'alice', via: 'token', action: 'backup.start', outcome: 'ok', targetType: 'vm', targetId: VM });
    store = await fresh.reopen();
    expect((await store.audit.list({ targetId: VM })).map((e) => e.action)).toEqual(['backup.start']);
    expect((await store.repositories.getDefault())?.id).toBe(repoId);
  });
});
