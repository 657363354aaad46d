/**
 * The VM list's Store queries, on every adapter (SQLite, PostgreSQL 15): protection decided by
 * the database (protected / unprotected / failing), filters (protection, platform, account,
 * domain, search, scope), sorts (name, state, account, last backup, protection), the protection
 * facts of a page of VMs in one call, exact counts, backup activity by status and day — and a
 * catalogue of 10,000 VMs whose first page and a filtered, sorted page answer quickly.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PointManifest } from '../agent/repository/manifest.ts';
import type { NewBackupJob, NewCloudStackVm, SourcePlatform } from './schema.ts';
import type { Store } from './store.ts';
import { STORE_ADAPTERS, type StoreLab } from './testing/stores.ts';

const hex = (c: string) => c.repeat(64);
const uuid = (n: number) => `c0000000-0000-4000-8000-${String(n).padStart(12, '0')}`;

function manifest(vm: string, day: number, type: 'full' | 'incremental' = 'full', parent: string | null = null): PointManifest {
  const id = `202501${String(day).padStart(2, '0')}-020000`;
  const t = `2025-01-${String(day).padStart(2, '0')}T02:00:00.000Z`;
  return {
    format: 'sendense-point', version: 1, id, vm_uuid: vm, type, reason: type, parent, created_at: t, started_at: t, finished_at: t,
    duration_ms: 5, consistency: 'crash', vm_state: 'running', agent: { host: 'kvm1', version: 't' },
    disks: [{
      index: 0, target: 'vda', type, reason: type, image: `${type}-${id}.qcow2`, backing: parent ? `full-${parent}.qcow2` : null, checkpoint: `sendense-${id}`,
      virtual_size: 1 << 20, file_size: 1000 + day, bytes_read: 1, bytes_written: 1000 + day, bytes_sent: 1, data_clusters: 1, zero_clusters: 0,
      sums: 's', block_size: 1 << 20, content_sha256: hex('a'), file_sha256: { header: hex('b'), body: hex('c') },
    }],
  };
}

describe.each(STORE_ADAPTERS)('VM protection queries on $name', (adapter) => {
  let lab: StoreLab;
  let store: Store;
  let repoId: string;
  const lastSeenAt = new Date('2025-01-01T00:00:00Z');
  const vm = (n: number, name: string, over: Partial<NewCloudStackVm> = {}): NewCloudStackVm =>
    ({ id: uuid(n), name, state: 'Running', account: 'alice', domainId: 'd1', lastSeenAt, ...over });
  const job = (vmId: string, over: Partial<NewBackupJob> = {}): NewBackupJob => ({
    id: crypto.randomUUID(), platformVmId: vmId, type: 'full', typeReason: 't', trigger: 'manual', repositoryId: repoId,
    status: 'running', queuedAt: new Date('2025-01-01T01:00:00Z'), ...over,
  });
  /** a succeeded backup of the VM on that January day: its job and its point (a full, or an incremental on `parent`) */
  async function backup(vmId: string, day: number, o: { platform?: SourcePlatform; parent?: { day: number; chainId: string; id: string } } = {}) {
    const queuedAt = new Date(`2025-01-${String(day).padStart(2, '0')}T01:00:00Z`);
    const j = await store.jobs.create(job(vmId, { queuedAt, sourcePlatform: o.platform ?? 'cloudstack' }));
    const pid = (d: number) => `202501${String(d).padStart(2, '0')}-020000`;
    return store.points.record({
      jobId: j.id, jobPatch: { status: 'succeeded', finishedAt: new Date(queuedAt.getTime() + 3_600_000), bytesWritten: 1000 + day },
      manifest: manifest(vmId, day, o.parent ? 'incremental' : 'full', o.parent ? pid(o.parent.day) : null),
      platformVmId: vmId, sourcePlatform: o.platform ?? 'cloudstack', repositoryId: repoId,
      chain: o.parent ? { kind: 'extend', chainId: o.parent.chainId, parentId: o.parent.id } : { kind: 'new' },
    });
  }

  beforeAll(async () => { lab = await adapter.start(); });
  afterAll(async () => { await lab?.stop(); });
  beforeEach(async () => {
    store = (await lab.fresh()).store;
    [{ id: repoId }] = await store.repositories.sync([{ name: 'r1', url: 'ssh://u@h/p', kind: 'ssh', isDefault: true }]);
  });
  afterEach(async () => { await store.close(); });

  it('protected, unprotected and failing come from the jobs and points; filters, sorts, counts and a page\'s facts agree', async () => {
    const [web, db, app, idle, cancelled, vmw, bob, gone] = [1, 2, 3, 4, 5, 6, 7, 8].map(uuid);
    await store.vms.upsert([
      vm(1, 'web-1'), vm(2, 'db-1', { state: 'Stopped' }), vm(3, 'app-1'), vm(4, 'idle-1'), vm(5, 'cancelled-1'), vm(6, 'imported-1'),
      vm(7, 'bob-1', { account: 'bob', domainId: 'd2' }), vm(8, 'gone-1'),
    ]);
    await store.vms.markRemoved([gone], lastSeenAt);
    // web-1: two points (full + incremental), then a backup still running: protected, its newest job the running one
    const w1 = await backup(web, 2);
    const w2 = await backup(web, 5, { parent: { day: 2, chainId: w1.chainId, id: w1.id } });
    const running = await store.jobs.create(job(web, { queuedAt: new Date('2025-01-09T00:00:00Z') }));
    // db-1: a point, then a failed backup: failing (its point does not make it protected)
    await backup(db, 3);
    await store.jobs.create(job(db, { status: 'failed', errorCode: 'libvirt', error: 'disk busy', queuedAt: new Date('2025-01-04T00:00:00Z'), finishedAt: new Date('2025-01-04T00:10:00Z') }));
    // app-1: a failed backup, then a succeeded one: protected
    await store.jobs.create(job(app, { status: 'failed', queuedAt: new Date('2025-01-01T00:00:00Z'), finishedAt: new Date('2025-01-01T00:01:00Z') }));
    await backup(app, 4);
    // cancelled-1: only a cancelled job, no point: unprotected (a cancel is not a failure)
    await store.jobs.create(job(cancelled, { status: 'cancelled', finishedAt: new Date('2025-01-02T00:00:00Z') }));
    // imported-1: a point from VMware: platform vmware
    await backup(vmw, 6, { platform: 'vmware' });
    // bob-1: failing, another account
    await store.jobs.create(job(bob, { status: 'failed', finishedAt: new Date('2025-01-03T00:00:00Z') }));

    const names = async (f: Parameters<Store['vms']['list']>[0]) => (await store.vms.list(f)).map((v) => v.name);
    expect(await names({ protection: 'protected' })).toEqual(['app-1', 'imported-1', 'web-1']);
    expect(await names({ protection: 'failing' })).toEqual(['bob-1', 'db-1']);
    expect(await names({ protection: 'unprotected' })).toEqual(['cancelled-1', 'idle-1']);
    expect(await store.vms.count({ protection: 'failing' })).toBe(2);
    expect(await names({ protection: 'failing', scope: { kind: 'account', domainId: 'd1', account: 'alice' } })).toEqual(['db-1']);
    expect(await names({ platform: 'vmware' })).toEqual(['imported-1']);
    expect(await store.vms.count({ platform: 'cloudstack' })).toBe(6);
    expect(await names({ account: 'bob' })).toEqual(['bob-1']);
    expect(await names({ account: 'alice', domainId: 'd2' })).toEqual([]);
    expect(await names({ domainId: 'd2' })).toEqual(['bob-1']);
    expect(await names({ protection: 'protected', search: 'WEB' })).toEqual(['web-1']);

    // sorts: newest point first, VMs without a point last in both directions; ties by name
    expect(await names({ sort: 'lastBackup', descending: true })).toEqual(['imported-1', 'web-1', 'app-1', 'db-1', 'bob-1', 'cancelled-1', 'idle-1']);
    expect(await names({ sort: 'lastBackup' })).toEqual(['db-1', 'app-1', 'web-1', 'imported-1', 'bob-1', 'cancelled-1', 'idle-1']);
    expect(await names({ sort: 'protection' })).toEqual(['bob-1', 'db-1', 'cancelled-1', 'idle-1', 'app-1', 'imported-1', 'web-1']);
    expect(await names({ sort: 'name', descending: true, limit: 2 })).toEqual(['web-1', 'imported-1']);
    expect(await names({ sort: 'state', limit: 1 })).toEqual(['app-1']);
    expect(await names({ sort: 'state', descending: true, limit: 1 })).toEqual(['db-1']);
    expect(await names({ sort: 'account', descending: true, limit: 1 })).toEqual(['bob-1']);
    expect(await names({ sort: 'lastBackup', descending: true, protection: 'protected', limit: 2, offset: 1 })).toEqual(['web-1', 'app-1']);

    // a page's facts in one call, in the order asked; unknown ids left out
    const facts = await store.vms.protection([web, db, idle, uuid(99), vmw]);
    expect(facts.map((x) => [x.vmId, x.status, x.platform, x.points])).toEqual([
      [web, 'protected', 'cloudstack', 2], [db, 'failing', 'cloudstack', 1], [idle, 'unprotected', 'cloudstack', 0], [vmw, 'protected', 'vmware', 1],
    ]);
    expect(facts[0].lastPoint).toMatchObject({ id: w2.id, pointId: '20250105-020000', type: 'incremental', verificationStatus: 'unverified', sizeBytes: 1005 });
    expect(facts[0].lastPoint?.createdAt.toISOString()).toBe('2025-01-05T02:00:00.000Z');
    expect(facts[0].chainLength).toBe(2);
    expect(facts[0].lastJob).toMatchObject({ id: running.id, status: 'running' });
    expect(facts[1].lastJob).toMatchObject({ status: 'failed', errorCode: 'libvirt', error: 'disk busy' });
    expect(facts[2]).toMatchObject({ lastPoint: null, chainLength: null, lastJob: null });
    expect(await store.vms.protection([])).toEqual([]);

    // exact counts, per scope (removed VMs not counted)
    expect(await store.vms.protectionCounts()).toEqual({ vms: 7, protected: 3, unprotected: 2, failing: 2 });
    expect(await store.vms.protectionCounts({ kind: 'domains', domainIds: ['d2'] })).toEqual({ vms: 1, protected: 0, unprotected: 0, failing: 1 });
    expect(await store.vms.protectionCounts({ kind: 'account', domainId: 'd1', account: 'alice' })).toEqual({ vms: 6, protected: 3, unprotected: 2, failing: 1 });
    expect(await store.vms.protectionCounts({ kind: 'domains', domainIds: [] })).toEqual({ vms: 0, protected: 0, unprotected: 0, failing: 0 });

    // activity: jobs queued since a time by status; bytes of succeeded jobs per UTC day they finished
    const act = await store.jobs.activity({ since: new Date('2025-01-04T00:00:00Z'), daysSince: new Date('2025-01-03T00:00:00Z') });
    expect(act.byStatus).toMatchObject({ succeeded: 3, failed: 1, running: 1, cancelled: 0, queued: 0 });
    expect(act.bytesPerDay).toEqual([{ day: '2025-01-03', bytes: 1003 }, { day: '2025-01-04', bytes: 1004 }, { day: '2025-01-05', bytes: 1005 }, { day: '2025-01-06', bytes: 1006 }]);
    const bobs = await store.jobs.activity({ scope: { kind: 'domains', domainIds: ['d2'] }, since: new Date(0), daysSince: new Date(0) });
    expect(bobs.byStatus).toMatchObject({ failed: 1, succeeded: 0 });
    expect(bobs.bytesPerDay).toEqual([]);
  });

  it('10,000 VMs: the first page and a filtered, sorted page answer quickly', async () => {
    const N = 10_000;
    const rows: NewCloudStackVm[] = [];
    for (let i = 0; i < N; i++) {
      rows.push(vm(1000 + i, `vm-${String(i).padStart(5, '0')}`, { account: `acct-${i % 50}`, domainId: `d${i % 5}`, state: i % 7 ? 'Running' : 'Stopped' }));
    }
    for (let i = 0; i < N; i += 1000) await store.vms.upsert(rows.slice(i, i + 1000));
    // 150 VMs backed up (days 1..28), 60 of them failing since; 40 more VMs failing without a point
    for (let i = 0; i < 150; i++) {
      const id = uuid(1000 + i * 61);
      await backup(id, 1 + (i % 28));
      if (i % 5 === 0) await store.jobs.create(job(id, { status: 'failed', queuedAt: new Date('2025-02-01T00:00:00Z'), finishedAt: new Date('2025-02-01T00:01:00Z') }));
    }
    for (let i = 0; i < 40; i++) await store.jobs.create(job(uuid(1000 + i * 61 + 30), { status: 'failed', finishedAt: new Date('2025-02-01T00:00:00Z') }));

    const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
      const t0 = performance.now();
      const out = await fn();
      const ms = performance.now() - t0;
      console.log(`[${adapter.name}] ${what}: ${ms.toFixed(1)} ms`);
      times.push(ms);
      return out;
    };
    const times: number[] = [];
    const scope = { kind: 'domains' as const, domainIds: ['d0', 'd1', 'd2', 'd3', 'd4'] };
    // the first page as the API asks for it: the page, the total and the page's protection
    const first = await timed('first page (20 by name) + total + protection', async () => {
      const [items, total] = await Promise.all([store.vms.list({ scope, limit: 20 }), store.vms.count({ scope })]);
      return { items, total, facts: await store.vms.protection(items.map((v) => v.id)) };
    });
    expect(first.total).toBe(N);
    expect(first.items.map((v) => v.name)).toEqual(Array.from({ length: 20 }, (_, i) => `vm-${String(i).padStart(5, '0')}`));
    expect(first.facts).toHaveLength(20);
    // protected VMs of one account, newest backup first, second page
    const filtered = await timed('protected of one account by last backup, page 2', async () => {
      const f = { scope, protection: 'protected' as const, account: 'acct-1', sort: 'lastBackup' as const, descending: true };
      const [items, total] = await Promise.all([store.vms.list({ ...f, limit: 2, offset: 2 }), store.vms.count(f)]);
      return { items, total, facts: await store.vms.protection(items.map((v) => v.id)) };
    });
    // backed-up VM i is row i*61, of account (i*61) % 50 = 1 for i = 41, 91, 141 (none failing: i % 5 !== 0)
    expect(filtered.total).toBe(3);
    expect(filtered.items.map((v) => v.account)).toEqual(['acct-1']);
    expect(filtered.facts[0].status).toBe('protected');
    const failing = await timed('failing, sorted by name, page 1', () => store.vms.list({ scope, protection: 'failing', limit: 20 }));
    expect(failing).toHaveLength(20);
    expect(await timed('count failing', () => store.vms.count({ scope, protection: 'failing' }))).toBe(30 + 40);
    expect(await timed('protection counts', () => store.vms.protectionCounts(scope))).toEqual({ vms: N, protected: 120, failing: 70, unprotected: N - 190 });
    // "quickly": each well under a second on this shared 2-core machine (the measured times are printed above)
    for (const ms of times) expect(ms).toBeLessThan(1500);
  }, 300_000);
});
