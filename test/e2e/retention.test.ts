/**
 * Retention, verification and import end to end (issue 6): the CloudStack simulator, the control
 * plane on SQLite, the real agent daemon over SSH, an SSH repository and lab VMs (test/e2e/world.ts).
 *
 * - 15 backups through the API with guest writes in between (a full every 5th), each point's truth
 *   kept; the policy's retention (keepLast 6) previewed and applied: the first chain goes whole,
 *   the second loses its first four points and its fifth is merged forward into a full; then the
 *   policy's maxChainLength lowered to 3: the third chain's two oldest go, the next is merged.
 *   Every remaining point restores (agent CLI, straight from the repository) to exactly its truth
 *   (qemu-img compare), and the next backup builds on the re-rooted chain as the policy says.
 * - A verification job passes; a byte flipped in a repository image makes the next one fail,
 *   and the point, the job, the VM's protection view and /metrics say so.
 * - A chain written by the agent CLI for a VM id the database does not know is imported from a
 *   scan: its points are recorded (source platform kvm), counted in usage, verifiable and restorable.
 */
import { closeSync, existsSync, openSync, readdirSync, readSync, rmSync, writeSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../agent/system/run.ts';
import { RestorePointList } from '../../api/http/schemas.ts';
import { RetentionPreviewDto } from '../../api/retention/schemas.ts';
import { cli, sameContent, sshArgs } from '../agent/fixture.ts';
import { labDir, runId } from '../lab/paths.ts';
import { startWorld, type E2eWorld } from './world.ts';

const M = 1 << 20;
const FOREIGN = 'imported-vm-1';

describe('retention, verification and import end to end', () => {
  let w: E2eWorld;
  let vmId: string;
  let policyId: string;
  let repoUrl: string;
  /** repository point id → the raw truth of vda at that point */
  const truth = new Map<string, string>();
  const order: string[] = [];
  const out = labDir('runs', runId(), 'e2e-retention-restores');

  const api = async (method: string, p: string, body?: unknown, status = 200) => {
    const res = await w.api(method, p, body);
    const text = await res.text();
    expect(res.status, `${method} ${p}: ${text}`).toBe(status);
    return text ? JSON.parse(text) : undefined;
  };
  const backup = async (mode: 'full' | 'auto' = 'auto') => {
    const job = await w.cp.runner.settled((await api('POST', `/api/v1/vms/${vmId}/backups`, { mode }, 202)).id);
    expect(job.status, job.error ?? '').toBe('succeeded');
    const [point] = await w.cp.store.points.listForVm(vmId, { limit: 1 });
    truth.set(point.pointId, await w.vms.app.lab.truth('vda'));
    order.push(point.pointId);
    return point;
  };
  const listed = async () => RestorePointList.parse(await api('GET', `/api/v1/vms/${vmId}/restore-points?limit=100`)).items;
  const restoresToTruth = async (vm: string, pointId: string, t: string) => {
    const to = path.join(out, `${vm}-${pointId}.raw`);
    const r = await cli(['restore', '--repo', repoUrl, ...sshArgs(w.repo), '--vm-id', vm, '--disk', 'vda', '--point', pointId, '--to', to, '--format', 'raw', '--overwrite', '--json']);
    expect(r.code, r.stderr).toBe(0);
    try { return await sameContent(to, 'raw', t); } finally { rmSync(to, { force: true }); }
  };
  const applyRetention = async () => {
    const { items } = await api('POST', `/api/v1/vms/${vmId}/retention/apply`, undefined, 202) as { items: { id: string }[] };
    expect(items).toHaveLength(1);
    const done = await w.cp.maintenance.settled(items[0].id);
    expect(done.status, done.error ?? '').toBe('succeeded');
    return done;
  };

  beforeAll(async () => {
    w = await startWorld('e2e-retention', {
      app: [{ size: 16 * M, randomPrefix: 4 * M }],
      ext: [{ size: 16 * M, randomPrefix: 2 * M }],
    });
    vmId = w.vms.app.vmId;
    repoUrl = w.repo.url('backups');
    const policy = await api('POST', '/api/v1/policies', {
      name: 'keep6', schedule: '0 2 * * *', fullEvery: 5, maxChainLength: 100, retention: { keepLast: 6 },
    }, 201);
    policyId = policy.id;
    await api('POST', `/api/v1/policies/${policyId}/assignments`, { kind: 'vm', vmId }, 201);
    const app = w.vms.app.lab;
    for (let i = 0; i < 15; i++) {
      if (i > 0) {
        await app.write('vda', (i % 14) * M + (i % 3) * 64 * 1024, 192 * 1024, 0x10 + i);
        if (i % 4 === 0) await app.zero('vda', (i % 5) * M, 128 * 1024);
      }
      await backup();
    }
    await run('mkdir', ['-p', out]);
  }, 900_000);

  afterAll(async () => { await w?.close(); });

  it('retention merges forward: what the preview says is what happens, and every remaining point restores bit-exactly', async () => {
    const before = await listed();
    expect(before.map((p) => p.type)).toEqual([...Array(15)].map((_, i) => ((14 - i) % 5 === 0 ? 'full' : 'incremental')));
    const ids = [...order]; // oldest first: chains 0–4, 5–9, 10–14

    const pv = RetentionPreviewDto.parse(await api('GET', `/api/v1/vms/${vmId}/retention/preview`));
    const [repo] = pv.repositories;
    expect(repo.delete).toEqual(ids.slice(0, 9));
    // the full of the second chain names the point before it (as the agent writes fulls): the merge walks on through it
    expect(repo.merge).toEqual([{ pointId: ids[9], from: ids.slice(0, 9).reverse() }]);
    expect(repo.bytesFreedEstimate).toBeGreaterThan(0);
    const done = await applyRetention();
    expect(done.result).toMatchObject({ removed: ids.slice(0, 9), merged: [{ pointId: ids[9], from: ids.slice(0, 9).reverse() }] });

    let now = await listed();
    expect(now.map((p) => p.pointId)).toEqual(ids.slice(9).reverse());
    expect(now.map((p) => p.type)).toEqual(['incremental', 'incremental', 'incremental', 'incremental', 'full', 'full']);
    expect(now[5].parentId).toBeNull();
    expect(now[5].chainId).not.toBe(now[0].chainId);

    // a shorter maximum chain length: the third chain's oldest two go, the next is merged forward
    await api('PATCH', `/api/v1/policies/${policyId}`, { maxChainLength: 3 });
    const pv2 = RetentionPreviewDto.parse(await api('GET', `/api/v1/vms/${vmId}/retention/preview`));
    expect(pv2.repositories[0].delete).toEqual([ids[10], ids[11]]);
    expect(pv2.repositories[0].merge).toEqual([{ pointId: ids[12], from: [ids[11], ids[10]] }]);
    expect(pv2.repositories[0].points.find((p) => p.pointId === ids[10])!.reasons[0]).toMatch(/maximum is 3/);
    await applyRetention();
    now = await listed();
    expect(now.map((p) => [p.pointId, p.type])).toEqual([[ids[14], 'incremental'], [ids[13], 'incremental'], [ids[12], 'full'], [ids[9], 'full']]);
    const head = (await w.cp.store.points.chainHead(vmId, now[0].repositoryId))!;
    expect(head.chain).toMatchObject({ length: 3, state: 'open' });
    expect(head.point.pointId).toBe(ids[14]);

    // the repository holds exactly what the database says
    const files = readdirSync(vmDirOf(w, vmId, 'disk-0')).filter((f) => f.endsWith('.qcow2')).map((f) => f.replace(/^(full|incr)-/, '').replace(/\.qcow2$/, '')).sort();
    expect(files).toEqual([ids[9], ids[12], ids[13], ids[14]]);

    for (const p of now) expect(await restoresToTruth(vmId, p.pointId, truth.get(p.pointId)!), `point ${p.pointId}`).toBe(true);

    // the next backup: the chain is at the policy's maximum (3), so a full; and it restores too
    const next = await backup();
    expect(next.type).toBe('full');
    expect(await restoresToTruth(vmId, next.pointId, truth.get(next.pointId)!)).toBe(true);
  }, 600_000);

  it('a corrupted byte in a repository image is caught by a verification job and shown as failed', async () => {
    const [newest] = await listed();
    const ok = await api('POST', `/api/v1/restore-points/${newest.id}/verify`, { restoreTest: true }, 202);
    const good = await w.cp.maintenance.settled(ok.id);
    expect(good.status, good.error ?? '').toBe('succeeded');
    expect((await listed())[0]).toMatchObject({ verificationStatus: 'verified', verificationProblems: [] });

    const dir = vmDirOf(w, vmId, 'disk-0');
    const image = path.join(dir, readdirSync(dir).find((f) => f.endsWith(`-${newest.pointId}.qcow2`))!);
    const map = JSON.parse((await run('qemu-img', ['map', '--output=json', '-f', 'qcow2', image])).stdout) as { start: number; length: number; data: boolean; offset?: number }[];
    const ext = map.find((e) => e.data && e.offset !== undefined)!;
    const at = ext.offset! + 4321;
    const fd = openSync(image, 'r+');
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    writeSync(fd, Buffer.from([b[0] ^ 0xff]), 0, 1, at);
    closeSync(fd);

    const bad = await api('POST', `/api/v1/restore-points/${newest.id}/verify`, {}, 202);
    const failed = await w.cp.maintenance.settled(bad.id);
    expect(failed).toMatchObject({ status: 'failed', errorCode: 'verification_failed' });
    expect(failed.error).toContain(newest.pointId);
    const point = (await listed())[0];
    expect(point.verificationStatus).toBe('failed');
    expect(point.verificationProblems.join(' ')).toMatch(/digest/);
    expect(point.verifiedAt).not.toBeNull();
    const prot = await api('GET', `/api/v1/vms/${vmId}/protection`);
    expect(prot.verification).toMatchObject({ status: 'failed', failed: [{ id: newest.id }] });
    const metrics = await (await w.cp.app.request('http://sendense.test/metrics')).text();
    expect(metrics).toMatch(/^sendense_verification_failures_total 1$/m);
    expect(metrics).toMatch(/^sendense_points_verification_failed 1$/m);
  }, 300_000);

  it('a chain the agent CLI wrote for a VM the database does not know is imported, counted and restorable', async () => {
    const ext = w.vms.ext.lab;
    const extTruth: string[] = [];
    const ptIds: string[] = [];
    for (let i = 0; i < 2; i++) {
      if (i) await ext.write('vda', 5 * M, 256 * 1024, 0x6b);
      const r = await cli(['backup', '--domain', ext.name, '--repo', repoUrl, ...sshArgs(w.repo), '--vm-id', FOREIGN, '--json']);
      expect(r.code, r.stderr).toBe(0);
      ptIds.push(r.json.point_id);
      extTruth.push(await ext.truth('vda'));
    }
    const repositoryId = (await w.cp.store.repositories.list())[0].id;
    const job = await api('POST', `/api/v1/repositories/${repositoryId}/import`, undefined, 202);
    const done = await w.cp.maintenance.settled(job.id);
    expect(done.status, done.error ?? '').toBe('succeeded');
    expect(done.result).toMatchObject({ imported: [{ vmId: FOREIGN, sourcePlatform: 'kvm', points: 2, chains: 1 }] });

    const pts = await w.cp.store.points.allForVm(FOREIGN);
    expect(pts.map((p) => [p.pointId, p.type, p.sourcePlatform])).toEqual([[ptIds[0], 'full', 'kvm'], [ptIds[1], 'incremental', 'kvm']]);
    const usage = await api('GET', `/api/v1/repositories/${repositoryId}/usage`);
    expect(usage.bySourcePlatform.kvm).toMatchObject({ vms: 1, points: 2 });
    expect(usage.bySourcePlatform.cloudstack).toMatchObject({ vms: 1, points: 5 });
    expect(usage.usedBytes).toBeGreaterThan(usage.total.bytes / 2);
    const repos = await api('GET', '/api/v1/repositories');
    expect(repos.items[0].usage.bySourcePlatform.kvm.points).toBe(2);

    const v = await w.cp.maintenance.settled((await api('POST', `/api/v1/restore-points/${pts[1].id}/verify`, {}, 202)).id);
    expect(v.status, v.error ?? '').toBe('succeeded');
    for (let i = 0; i < 2; i++) expect(await restoresToTruth(FOREIGN, ptIds[i], extTruth[i])).toBe(true);
  }, 300_000);
});

/** the VM's disk folder in the repository host's file system */
function vmDirOf(w: E2eWorld, vm: string, disk: string): string {
  const base = path.join(w.repo.root, 'backups');
  const dir = existsSync(path.join(base, 'vms')) ? path.join(base, 'vms', vm) : path.join(base, vm);
  return path.join(dir, disk);
}
