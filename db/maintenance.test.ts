import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PointManifest } from '../agent/repository/manifest.ts';
import type { MaintenanceKind } from './schema.ts';
import { StoreError, type Store } from './store.ts';
import { STORE_ADAPTERS, type StoreLab } from './testing/stores.ts';

const VM = 'b1b2c3d4-0000-4000-8000-00000000000a';
const FOREIGN = 'vmware-vm-42';
const hex = (c: string) => c.repeat(64);

/** point i of a VM: day i of January 2025, 02:00 */
const pid = (i: number) => `202501${String(i + 1).padStart(2, '0')}-020000`;
function point(i: number, parent: number | null, vm = VM, fileSize = parent === null ? 20_000 : 1_000): PointManifest {
  const t = `2025-01-${String(i + 1).padStart(2, '0')}T02:00:00.000Z`;
  const type = parent === null ? 'full' : 'incremental';
  return {
    format: 'sendense-point', version: 1, id: pid(i), vm_uuid: vm, type, reason: type, parent: parent === null ? null : pid(parent),
    created_at: t, started_at: t, finished_at: t, duration_ms: 5, consistency: 'crash', vm_state: 'running', agent: { host: 'kvm1', version: 't' },
    disks: [{
      index: 0, target: 'vda', type, reason: type, image: `${type}-${pid(i)}.qcow2`, backing: parent === null ? null : `x-${pid(parent)}.qcow2`,
      checkpoint: `sendense-${pid(i)}`, virtual_size: 32 << 20, file_size: fileSize, bytes_read: 1, bytes_written: fileSize, bytes_sent: 1,
      data_clusters: 1, zero_clusters: 0, sums: 's', block_size: 1 << 20, content_sha256: hex('a'), file_sha256: { header: hex('b'), body: hex('c') },
    }],
  };
}

describe.each(STORE_ADAPTERS)('MaintenanceStore on $name', (adapter) => {
  let lab: StoreLab;
  let store: Store;
  let repoId: string;

  /** records points 0..7 of VM: chain A = 0 (full) 1 2 3, chain B = 4 (full) 5 6 7 (open) */
  async function eightPoints() {
    for (let i = 0; i < 8; i++) {
      const full = i % 4 === 0;
      const jobId = crypto.randomUUID();
      await store.jobs.create({ id: jobId, platformVmId: VM, type: full ? 'full' : 'incremental', typeReason: 't', trigger: 'manual', repositoryId: repoId, status: 'running', queuedAt: new Date() });
      const head = await store.points.chainHead(VM, repoId);
      await store.points.record({
        jobId, jobPatch: { status: 'succeeded' }, manifest: point(i, full ? null : i - 1), platformVmId: VM, sourcePlatform: 'cloudstack', repositoryId: repoId,
        chain: full ? { kind: 'new' } : { kind: 'extend', chainId: head!.chain.id, parentId: head!.point.id },
      });
    }
  }
  const job = async (kind: MaintenanceKind, vmId: string | null = VM, status: 'queued' | 'running' = 'running') => store.maintenance.create({
    id: crypto.randomUUID(), kind, trigger: 'manual', status, repositoryId: repoId, platformVmId: vmId, request: {}, queuedAt: new Date(),
  });
  const byPoint = async () => new Map((await store.points.allForVm(VM, repoId)).map((p) => [p.pointId, p]));

  beforeAll(async () => { lab = await adapter.start(); });
  afterAll(async () => { await lab?.stop(); });
  beforeEach(async () => {
    store = (await lab.fresh()).store;
    [{ id: repoId }] = await store.repositories.sync([{ name: 'r1', url: 'ssh://u@h/p', kind: 'ssh', isDefault: true }]);
  });
  afterEach(async () => { await store.close(); });

  it('a prune marks removed points deleted, turns merged ones into fulls and re-roots the chains', async () => {
    await eightPoints();
    const before = await byPoint();
    const chainA = before.get(pid(0))!.chainId;
    const chainB = before.get(pid(4))!.chainId;
    const j = await job('prune');
    const done = await store.maintenance.finishPrune(j.id, {
      removed: [pid(0), pid(1), pid(5)], merged: [{ pointId: pid(2), from: [pid(1), pid(0)], bytesWritten: 20_500 }, { pointId: pid(6), from: [pid(5)], bytesWritten: 20_100 }],
      bytesFreed: 1_400, durationMs: 3,
    }, new Date('2025-02-01T00:00:00Z'));
    expect(done.status).toBe('succeeded');
    expect(done.result).toMatchObject({ removed: [pid(0), pid(1), pid(5)], chains: expect.arrayContaining([chainA, chainB]) });

    const after = await byPoint();
    expect([...after.keys()]).toEqual([pid(2), pid(3), pid(4), pid(6), pid(7)]);
    const p2 = after.get(pid(2))!;
    expect(p2).toMatchObject({ type: 'full', parentId: null, sizeBytes: 20_500, chainId: chainA });
    expect(p2.manifest).toMatchObject({ type: 'full', parent: null });
    expect(p2.manifest.disks[0]).toMatchObject({ type: 'full', backing: null });
    expect((await store.points.get(p2.id))!.disks[0]).toMatchObject({ type: 'full', backing: null, fileSizeBytes: 20_500 });
    expect(after.get(pid(3))!.parentId).toBe(p2.id);

    // chain B splits: [4] alone (closed, a chain of its own), [6 (now a full), 7] keeps B's id and stays open
    expect(after.get(pid(6))).toMatchObject({ type: 'full', parentId: null, chainId: chainB });
    expect(after.get(pid(7))!.chainId).toBe(chainB);
    const split = after.get(pid(4))!.chainId;
    expect(split).not.toBe(chainB);
    const head = (await store.points.chainHead(VM, repoId))!;
    expect(head.chain).toMatchObject({ id: chainB, length: 2, state: 'open' });
    expect(head.point.pointId).toBe(pid(7));
    expect(await store.points.countForVm(VM)).toBe(5);
    expect((await store.points.usage())[0]).toMatchObject({ points: 5, bytes: 20_500 + 1_000 + 20_000 + 20_100 + 1_000 });
  });

  it('only a running job records an outcome, and a failing transaction changes nothing', async () => {
    await eightPoints();
    const queued = await job('prune', VM, 'queued');
    await expect(store.maintenance.finishPrune(queued.id, { removed: [pid(0)], merged: [], bytesFreed: 0, durationMs: 1 }, new Date()))
      .rejects.toMatchObject({ code: 'conflict' });
    const running = await job('prune');
    // a merge of a point the database does not know: the whole outcome is refused
    await expect(store.maintenance.finishPrune(running.id, { removed: [pid(0)], merged: [{ pointId: '20990101-000000', from: [pid(0)], bytesWritten: 1 }], bytesFreed: 0, durationMs: 1 }, new Date()))
      .rejects.toBeInstanceOf(StoreError);
    expect(await store.points.countForVm(VM)).toBe(8);
    expect((await store.maintenance.get(running.id))!.status).toBe('running');
  });

  it('a prune that removes a whole chain closes it', async () => {
    await eightPoints();
    const chainA = (await byPoint()).get(pid(0))!.chainId;
    const j = await job('prune');
    await store.maintenance.finishPrune(j.id, { removed: [pid(0), pid(1), pid(2), pid(3)], merged: [], bytesFreed: 23_000, durationMs: 1 }, new Date());
    const recorded = (await store.points.allForVm(VM)).map((p) => p.chainId);
    expect(recorded).not.toContain(chainA);
    expect((await store.points.chainHead(VM, repoId))!.chain.length).toBe(4);
  });

  it('verification results are recorded per point; one failed point fails the job', async () => {
    await eightPoints();
    const ok = await job('verify');
    expect((await store.maintenance.finishVerify(ok.id, { points: [{ pointId: pid(7), ok: true, problems: [] }], durationMs: 2 }, new Date())).status).toBe('succeeded');
    const bad = await job('verify');
    const done = await store.maintenance.finishVerify(bad.id, {
      points: [{ pointId: pid(6), ok: true, problems: [] }, { pointId: pid(5), ok: false, problems: ['vda: block 3 does not match its digest'] }], durationMs: 2,
    }, new Date('2025-02-02T00:00:00Z'));
    expect(done).toMatchObject({ status: 'failed', errorCode: 'verification_failed' });
    expect(done.error).toContain('block 3 does not match');
    const pts = await byPoint();
    expect(pts.get(pid(7))).toMatchObject({ verificationStatus: 'verified', verificationJobId: ok.id });
    expect(pts.get(pid(5))).toMatchObject({ verificationStatus: 'failed', verificationProblems: ['vda: block 3 does not match its digest'], verificationJobId: bad.id });
    expect(pts.get(pid(5))!.verifiedAt?.toISOString()).toBe('2025-02-02T00:00:00.000Z');
    expect(pts.get(pid(0))!.verificationStatus).toBe('unverified');
    expect(await store.points.countByVerification()).toEqual({ unverified: 5, verified: 2, failed: 1 });
  });

  it('an import records the chains of VMs the database does not know, and leaves known VMs alone', async () => {
    await eightPoints();
    const j = await job('import', null);
    const { job: done, applied } = await store.maintenance.finishImport(j.id, {
      usedBytes: 123_456,
      vms: [
        { vmId: FOREIGN, sourcePlatform: 'vmware', bytesUsed: 100_000, points: [point(0, null, FOREIGN), point(1, 0, FOREIGN), point(2, 1, FOREIGN), point(3, null, FOREIGN), point(4, 3, FOREIGN), point(9, 8, FOREIGN)] },
        { vmId: VM, sourcePlatform: 'cloudstack', bytesUsed: 1, points: [point(0, null), point(20, 7)] },
      ],
    }, new Date());
    expect(done.status).toBe('succeeded');
    expect(applied.imported).toEqual([{ vmId: FOREIGN, sourcePlatform: 'vmware', points: 5, chains: 2 }]);
    expect(applied.skipped).toEqual([
      { vmId: FOREIGN, reason: `points not imported: ${pid(9)} (parent ${pid(8)} is not in the repository)` },
      { vmId: VM, reason: '8 of its points are recorded already; 1 unknown point(s) left alone' },
    ]);
    const pts = await store.points.allForVm(FOREIGN);
    expect(pts.map((p) => [p.pointId, p.type, p.sourcePlatform, p.jobId])).toEqual([0, 1, 2, 3, 4].map((i) => [pid(i), i === 0 || i === 3 ? 'full' : 'incremental', 'vmware', null]));
    const head = (await store.points.chainHead(FOREIGN, repoId))!;
    expect(head.point.pointId).toBe(pid(4));
    expect(head.chain).toMatchObject({ length: 2, state: 'open', sourcePlatform: 'vmware' });
    expect(pts[2].parentId).toBe(pts[1].id);
    expect((await store.repositories.get(repoId))!.usedBytes).toBe(123_456);
    const usage = await store.points.usage();
    expect(usage.find((u) => u.sourcePlatform === 'vmware')).toMatchObject({ points: 5 });
    expect((await store.points.usageByVm(repoId)).map((u) => [u.platformVmId, u.points])).toEqual([[VM, 8], [FOREIGN, 5]]);
    expect(await store.maintenance.list({ kind: 'import' })).toHaveLength(1);
  });

  it('a VMware VM\'s re-import (extend) appends its new points after the newest recorded one, with platform_metadata; an incremental on an older point is refused', async () => {
    const meta = { vmware: { name: 'web-01', cpus: 2 } };
    const first = await job('import', null);
    await store.maintenance.finishImport(first.id, { vms: [{ vmId: FOREIGN, sourcePlatform: 'vmware', bytesUsed: 1, points: [point(0, null, FOREIGN)], platformMetadata: meta, extend: true }] }, new Date());
    const again = await job('import', null);
    const { applied } = await store.maintenance.finishImport(again.id, {
      vms: [{ vmId: FOREIGN, sourcePlatform: 'vmware', bytesUsed: 1, points: [point(0, null, FOREIGN), point(1, 0, FOREIGN), point(2, 0, FOREIGN)], platformMetadata: meta, extend: true }],
    }, new Date());
    expect(applied.imported).toEqual([{ vmId: FOREIGN, sourcePlatform: 'vmware', points: 1, chains: 0 }]);
    expect(applied.skipped).toEqual([{ vmId: FOREIGN, reason: `points not imported: ${pid(2)} (parent ${pid(0)} is not the newest recorded point)` }]);
    const pts = await store.points.allForVm(FOREIGN);
    expect(pts.map((p) => [p.pointId, p.type])).toEqual([[pid(0), 'full'], [pid(1), 'incremental']]);
    expect(pts[1].parentId).toBe(pts[0].id);
    expect(pts[1].chainId).toBe(pts[0].chainId);
    expect(pts.map((p) => p.platformMetadata)).toEqual([meta, meta]);
    expect((await store.points.chainHead(FOREIGN, repoId))!).toMatchObject({ point: { pointId: pid(1) }, chain: { length: 2, state: 'open' } });
  });
});
