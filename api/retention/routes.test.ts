/**
 * Retention, verification, storage usage and import through the REST API (app.request) on a real
 * SQLite file, with the CloudStack simulator and the in-memory agent (which prunes, verifies and
 * scans its points as the real agent plans it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { MemoryAgentGateway } from '../agents/memory.ts';
import { ErrorBody, PolicyDto, RestorePointDto, RestorePointList } from '../http/schemas.ts';
import { makeFixture, REPO_URL, type Fixture } from '../testing/fixture.ts';
import { MaintenanceJobDto, MaintenanceJobList, ProtectionDto, RepositoryUsageDto, RetentionPreviewDto } from './schemas.ts';

describe('retention, verification and import API', () => {
  let f: Fixture;
  let mem: MemoryAgentGateway;
  let admin: string;
  let alice: string;
  let carol: string;
  let vm: string;
  let policyId: string;

  const json = async <T extends z.ZodType>(res: Response, status: number, schema: T): Promise<z.infer<T>> => {
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(status);
    return schema.parse(body);
  };
  const backup = async (trigger: 'manual' | 'schedule' = 'manual') => {
    const job = await f.cp.runner.enqueue({ vmId: vm, trigger, requestedBy: 'test', ...(trigger === 'schedule' ? { policyId } : {}) });
    const done = await f.cp.runner.settled(job.id);
    expect(done.status, done.error ?? '').toBe('succeeded');
    return done;
  };
  const points = async () => (await json(await f.req('GET', `/api/v1/vms/${vm}/restore-points?limit=100`, { token: admin }), 200, RestorePointList)).items;

  beforeAll(async () => {
    f = await makeFixture();
    mem = f.memory!;
    await f.store.agents.ensure({ hostId: f.sim.state.hosts[0].id, hostIp: '127.0.0.1', hostname: 'kvm1' });
    admin = await f.login('admin');
    alice = await f.login('alice');
    carol = await f.login('carol');
    vm = f.vmId('web-1');
    const p = await json(await f.req('POST', '/api/v1/policies', {
      token: admin, body: { name: 'keep3', schedule: '0 2 * * *', retention: { keepLast: 3 }, fullEvery: 100, maxChainLength: 100, verifySchedule: '0 4 * * 0' },
    }), 201, PolicyDto);
    policyId = p.id;
    expect(p).toMatchObject({ verifySchedule: '0 4 * * 0', verifyRestoreTest: false, verifyLastRunAt: null });
    expect((await f.req('POST', `/api/v1/policies/${policyId}/assignments`, { token: admin, body: { kind: 'vm', vmId: vm } })).status).toBe(201);
    for (let i = 0; i < 6; i++) await backup();
  }, 60_000);
  afterAll(async () => { await f.close(); });

  it('the preview says what goes, what is merged forward into a full, and why each point stays', async () => {
    const before = await points();
    expect(before.map((p) => p.type)).toEqual(['incremental', 'incremental', 'incremental', 'incremental', 'incremental', 'full']);
    const pv = await json(await f.req('GET', `/api/v1/vms/${vm}/retention/preview`, { token: alice }), 200, RetentionPreviewDto);
    expect(pv.policy).toMatchObject({ id: policyId, retention: { keepLast: 3 } });
    const [repo] = pv.repositories;
    const ids = before.map((p) => p.pointId); // newest first
    expect(repo.delete).toEqual([ids[5], ids[4], ids[3]]);
    expect(repo.merge).toEqual([{ pointId: ids[2], from: [ids[3], ids[4], ids[5]] }]);
    expect(repo.points.map((p) => [p.pointId, p.action])).toEqual([[ids[0], 'keep'], [ids[1], 'keep'], [ids[2], 'merge'], [ids[3], 'delete'], [ids[4], 'delete'], [ids[5], 'delete']]);
    expect(repo.points[0].reasons).toEqual(['last']);
    expect(repo.points[5].reasons).toEqual(['kept by no rule']);
    expect(repo.points[2].mergedFrom).toEqual([ids[3], ids[4], ids[5]]);
    expect(repo.bytesFreedEstimate).toBeGreaterThan(0);
    // someone else's VM: as if it did not exist
    expect((await f.req('GET', `/api/v1/vms/${vm}/retention/preview`, { token: carol })).status).toBe(404);
  });

  it('apply: admins only; the agent prunes, the database follows in one go, the next backup builds on the re-rooted chain', async () => {
    const err = await json(await f.req('POST', `/api/v1/vms/${vm}/retention/apply`, { token: alice }), 403, ErrorBody);
    expect(err.error.code).toBe('forbidden');
    const before = await points();
    const res = await json(await f.req('POST', `/api/v1/vms/${vm}/retention/apply`, { token: admin }), 202, z.object({ items: z.array(MaintenanceJobDto) }));
    expect(res.items).toHaveLength(1);
    expect(res.items[0]).toMatchObject({ kind: 'prune', trigger: 'manual', status: 'queued', vmId: vm, requestedBy: 'admin' });
    const done = await f.cp.maintenance.settled(res.items[0].id);
    expect(done.status, done.error ?? '').toBe('succeeded');
    expect(done.kvmHostId).toBe(f.sim.state.hosts[0].id);
    expect(done.result).toMatchObject({ removed: before.slice(3).map((p) => p.pointId).reverse() });

    const after = await points();
    expect(after.map((p) => p.pointId)).toEqual(before.slice(0, 3).map((p) => p.pointId));
    expect(after.map((p) => p.type)).toEqual(['incremental', 'incremental', 'full']);
    expect(after[2].parentId).toBeNull();
    expect(after[1].parentId).toBe(after[2].id);
    expect(new Set(after.map((p) => p.chainId)).size).toBe(1);
    // the agent's repository and the database agree
    expect(mem.points(REPO_URL, vm).map((p) => p.id).reverse()).toEqual(after.map((p) => p.pointId));
    expect((await f.store.points.chainHead(vm, after[0].repositoryId))!.chain.length).toBe(3);

    // audited: who asked, and the job's end
    const audit = await f.store.audit.list({ targetId: vm });
    expect(audit.map((a) => [a.action, a.actor, a.outcome])).toEqual(expect.arrayContaining([
      ['retention.apply', 'admin', 'ok'], ['retention.apply', 'alice', 'denied'], ['prune.finish', 'system:maintenance', 'ok'],
    ]));
    // nothing more to expire: no job
    expect((await json(await f.req('POST', `/api/v1/vms/${vm}/retention/apply`, { token: admin }), 202, z.object({ items: z.array(MaintenanceJobDto) }))).items).toEqual([]);

    const next = await backup();
    expect(next.type).toBe('incremental');
    const grown = await points();
    expect(grown[0].parentId).toBe(after[0].id);
    expect((await f.store.points.chainHead(vm, after[0].repositoryId))!.chain.length).toBe(4);
  });

  it('a failed prune changes nothing in the database', async () => {
    const before = await points();
    const ctl = { fail: true };
    const orig = mem.startPrune.bind(mem);
    mem.startPrune = async () => { if (ctl.fail) throw Object.assign(new Error('[agent] repository unreachable'), { code: 'unreachable' }); return orig as never; };
    try {
      const { items: [job] } = await json(await f.req('POST', `/api/v1/vms/${vm}/retention/apply`, { token: admin }), 202, z.object({ items: z.array(MaintenanceJobDto) }));
      const done = await f.cp.maintenance.settled(job.id);
      expect(done).toMatchObject({ status: 'failed', errorCode: 'agent_failed' });
      expect(done.error).toContain('repository unreachable');
    } finally { mem.startPrune = orig; }
    expect((await points()).map((p) => [p.pointId, p.type, p.parentId])).toEqual(before.map((p) => [p.pointId, p.type, p.parentId]));
    const list = await json(await f.req('GET', `/api/v1/maintenance-jobs?vmId=${vm}&kind=prune`, { token: alice }), 200, MaintenanceJobList);
    expect(list.items.map((j) => j.status)).toEqual(['failed', 'succeeded']);
    expect((await f.req('GET', '/api/v1/maintenance-jobs', { token: alice })).status).toBe(403);
  });

  it('retention runs by itself after a scheduled backup, once', async () => {
    await backup('schedule');
    const before = await points();
    expect(before).toHaveLength(5);
    await f.cp.maintenanceTick();
    const [job] = await f.store.maintenance.list({ vmId: vm, kind: 'prune', limit: 1 });
    expect(job).toMatchObject({ trigger: 'backup', requestedBy: 'system:retention' });
    expect((await f.cp.maintenance.settled(job.id)).status).toBe('succeeded');
    expect((await points()).map((p) => p.pointId)).toEqual(before.slice(0, 3).map((p) => p.pointId));
    await f.cp.maintenanceTick();
    expect(await f.store.maintenance.count({ vmId: vm, kind: 'prune' })).toBe(3);
  });

  // before any corruption: the memory agent marks corruption by point id, and ids of two VMs may coincide
  it('import: chains in the repository that the database does not know are recorded, and show in usage', async () => {
    const foreign = 'imported-vm-7';
    for (const mode of ['full', 'auto', 'auto'] as const) {
      const { agentJobId } = await mem.startBackup(f.sim.state.hosts[0].id, { requestId: `imp-${mode}-${Math.random()}`, vmId: foreign, domain: 'x', mode, repository: REPO_URL });
      for (let s = await mem.jobStatus(f.sim.state.hosts[0].id, agentJobId); s.state !== 'succeeded'; s = await mem.jobStatus(f.sim.state.hosts[0].id, agentJobId)) {
        expect(s.state).not.toBe('failed');
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    const repoId = (await f.store.repositories.list())[0].id;
    expect((await f.req('POST', `/api/v1/repositories/${repoId}/import`, { token: alice })).status).toBe(403);
    const job = await json(await f.req('POST', `/api/v1/repositories/${repoId}/import`, { token: admin }), 202, MaintenanceJobDto);
    const done = await f.cp.maintenance.settled(job.id);
    expect(done.status, done.error ?? '').toBe('succeeded');
    expect(done.result).toMatchObject({ imported: [{ vmId: foreign, sourcePlatform: 'kvm', points: 3, chains: 1 }] });
    const imported = await f.store.points.allForVm(foreign);
    expect(imported.map((p) => [p.type, p.sourcePlatform])).toEqual([['full', 'kvm'], ['incremental', 'kvm'], ['incremental', 'kvm']]);
    expect(imported.map((p) => p.pointId)).toEqual(mem.points(REPO_URL, foreign).map((p) => p.id));

    const usage = await json(await f.req('GET', `/api/v1/repositories/${repoId}/usage`, { token: admin }), 200, RepositoryUsageDto);
    expect(usage.bySourcePlatform.kvm).toMatchObject({ vms: 1, points: 3 });
    expect(usage.bySourcePlatform.cloudstack.vms).toBe(1);
    expect(usage.vms.map((v) => v.vmId).sort()).toEqual([foreign, vm].sort());
    expect(usage.usedBytes).toBeGreaterThan(0);
    // a second import finds nothing new
    const again = await f.cp.maintenance.settled((await json(await f.req('POST', `/api/v1/repositories/${repoId}/import`, { token: admin }), 202, MaintenanceJobDto)).id);
    expect(again.result).toMatchObject({ imported: [] });
    // the imported chain can be verified like any other
    const v = await f.cp.maintenance.settled((await json(await f.req('POST', `/api/v1/restore-points/${imported[2].id}/verify`, { token: admin, body: {} }), 202, MaintenanceJobDto)).id);
    expect(v.status, v.error ?? '').toBe('succeeded');
  });
  it('verification: on demand by the owner, recorded per point; a corrupted point fails loudly', async () => {
    const [newest, second] = await points();
    const ok = await json(await f.req('POST', `/api/v1/restore-points/${second.id}/verify`, { token: alice, body: { restoreTest: true } }), 202, MaintenanceJobDto);
    expect((await f.cp.maintenance.settled(ok.id)).status).toBe('succeeded');
    expect(mem.otherRequests.at(-1)).toMatchObject({ kind: 'verify', req: { point: second.pointId, restoreTest: true, vmId: vm } });
    expect((await f.req('POST', `/api/v1/restore-points/${second.id}/verify`, { token: carol, body: {} })).status).toBe(404);

    mem.corrupt(vm, newest.pointId);
    const bad = await json(await f.req('POST', `/api/v1/restore-points/${newest.id}/verify`, { token: admin, body: {} }), 202, MaintenanceJobDto);
    const failed = await f.cp.maintenance.settled(bad.id);
    expect(failed).toMatchObject({ status: 'failed', errorCode: 'verification_failed' });
    expect(failed.error).toContain(newest.pointId);

    const listed = await points();
    expect(listed[1]).toMatchObject({ verificationStatus: 'verified', verificationProblems: [] });
    expect(listed[1].verifiedAt).not.toBeNull();
    expect(listed[0].verificationStatus).toBe('failed');
    expect(listed[0].verificationProblems.length).toBeGreaterThan(0);
    expect(listed[0].verificationProblems[0]).toMatch(/^vda: /);

    const one = await json(await f.req('GET', `/api/v1/restore-points/${newest.id}`, { token: alice }), 200, RestorePointDto);
    expect(one).toMatchObject({ id: newest.id, verificationStatus: 'failed' });
    expect(one.disks[0].target).toBe('vda');
    expect(one.verificationProblems).toEqual(listed[0].verificationProblems);
    expect((await f.req('GET', `/api/v1/restore-points/${newest.id}`, { token: carol })).status).toBe(404);
    const prot = await json(await f.req('GET', `/api/v1/vms/${vm}/protection`, { token: alice }), 200, ProtectionDto);
    expect(prot.verification).toMatchObject({ status: 'failed', verified: 1, failed: [{ id: newest.id }] });
    expect(prot.verification.lastJob).toMatchObject({ id: bad.id, status: 'failed' });

    const metrics = await (await f.req('GET', '/metrics')).text();
    expect(metrics).toMatch(/^sendense_verification_failures_total 1$/m);
    expect(metrics).toMatch(/^sendense_points_verification_failed 1$/m);
    expect(metrics).toMatch(/^sendense_points_unverified 3$/m); // web-1's third point, and two of the imported ones
    expect(metrics).toMatch(/^sendense_maintenance_jobs_total\{kind="verify",status="failed"\} 1$/m);

    // a head that failed verification: the next backup is a full
    const next = await backup();
    expect(next.type).toBe('full');
    expect(next.typeReason).toMatch(/failed verification/);
  });

  it('the verify schedule verifies the newest point of each VM of the policy, once per schedule time', async () => {
    const now = new Date(Date.now() + 8 * 86_400_000);
    await f.cp.maintenanceTick(now);
    const jobs = await f.store.maintenance.list({ vmId: vm, kind: 'verify', limit: 1 });
    expect(jobs[0]).toMatchObject({ trigger: 'schedule', requestedBy: 'policy:keep3' });
    expect(jobs[0].restorePointId).toBe((await points())[0].id);
    const verified = await f.cp.maintenance.settled(jobs[0].id);
    expect(verified.status, verified.error ?? '').toBe('succeeded');
    const count = await f.store.maintenance.count({ kind: 'verify' });
    await f.cp.maintenanceTick(now);
    expect(await f.store.maintenance.count({ kind: 'verify' })).toBe(count);
    expect((await f.store.policies.get(policyId))!.verifyLastRunAt?.getTime()).toBe(now.getTime());
  });

});
