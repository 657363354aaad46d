/**
 * Restores end to end (issue 6): the CloudStack simulator, the control plane on SQLite, the real
 * agent daemon over SSH, an SSH repository and lab VMs. A full backup, guest writes, an
 * incremental, more writes; then every mode through the API, each result compared with
 * `qemu-img compare` against the disk as it was at that point (truth()):
 * - new-volume of the incremental (both disks), uploaded to the simulator's SSVM URL: the stored
 *   uploads equal the truth; attached to the VM;
 * - download of the full's vda as raw and vdb as qcow2: equal the truth;
 * - in-place on a running VM: 409; with stopVm: the volume files equal the incremental's truth;
 * - in-place cancelled half-way (a VM with a large disk): the volume is exactly as it was.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../../agent/system/run.ts';
import { RestoreDto } from '../../api/http/restore-schemas.ts';
import { startWorld, type E2eWorld } from './world.ts';

const M = 1 << 20;

async function same(a: string, b: string): Promise<void> {
  const r = await run('qemu-img', ['compare', '-U', a, b], { okCodes: [0, 1] });
  expect(r.code, `${a} vs ${b}: ${r.stdout}${r.stderr}`).toBe(0);
}

async function sha(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
}

describe('restore end to end', () => {
  let w: E2eWorld;
  const truth: Record<string, Record<string, string>> = {};
  const points: Record<string, string> = {};

  const backup = async (vm: string, mode: 'full' | 'auto') => {
    const res = await w.api('POST', `/api/v1/vms/${w.vms[vm].vmId}/backups`, { mode });
    expect(res.status).toBe(202);
    const job = await w.cp.runner.settled(((await res.json()) as { id: string }).id);
    expect(job.status, job.error ?? '').toBe('succeeded');
    const [point] = await w.cp.store.points.listForVm(w.vms[vm].vmId, { limit: 1 });
    return point;
  };

  const restore = async (pointId: string, body: unknown) => {
    const res = await w.api('POST', `/api/v1/restore-points/${pointId}/restore`, body);
    return { status: res.status, body: (await res.json()) as Record<string, any> };
  };

  const finished = async (id: string) => {
    await w.cp.restores.settled(id);
    return RestoreDto.parse(await (await w.api('GET', `/api/v1/restores/${id}`)).json());
  };

  beforeAll(async () => {
    w = await startWorld('e2e-restore', {
      app: [{ size: 48 * M, randomPrefix: 12 * M }, { size: 16 * M, init: [{ offset: 0, length: 2 * M, pattern: 0x42 }] }],
      big: [{ size: 512 * M, randomPrefix: 320 * M }],
    });
    const app = w.vms.app.lab;
    const full = await backup('app', 'full');
    points.full = full.id;
    truth.full = { vda: await app.truth('vda'), vdb: await app.truth('vdb') };
    await app.write('vda', 20 * M, 3 * M, 0x5e);
    await app.zero('vda', 0, M);
    await app.write('vdb', 8 * M, M, 0x77);
    const inc = await backup('app', 'auto');
    expect(inc.type).toBe('incremental');
    points.inc = inc.id;
    truth.inc = { vda: await app.truth('vda'), vdb: await app.truth('vdb') };
    // the disks move on after the point
    await app.write('vda', 30 * M, 2 * M, 0x99);
    points.big = (await backup('big', 'full')).id;
  }, 600_000);

  afterAll(async () => { await w?.close(); });

  it('new-volume: both disks of the incremental uploaded to CloudStack equal the disks at that point, and are attached', async () => {
    const r = await restore(points.inc, { mode: 'new-volume', attachToVmId: w.vms.app.vmId, name: 'app-restored' });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    const done = await finished(r.body.id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.volumeIds).toHaveLength(2);
    for (const [i, dev] of ['vda', 'vdb'].entries()) {
      const vol = w.sim.state.volumes.find((v) => v.id === done.volumeIds[i])!;
      expect(vol).toMatchObject({ name: `app-restored-${dev}`, vmId: w.vms.app.vmId, format: 'QCOW2' });
      await same(path.join(w.uploadDir, `${vol.id}.qcow2`), truth.inc[dev]);
    }
  }, 300_000);

  it('download: the full\'s vda as raw and vdb as qcow2 equal the disks at the full', async () => {
    for (const [dev, format] of [['vda', 'raw'], ['vdb', 'qcow2']] as const) {
      const res = await w.api('GET', `/api/v1/restore-points/${points.full}/download?disk=${dev}&format=${format}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-disposition')).toMatch(new RegExp(`filename="app-${dev}-\\d{8}-\\d{6}\\.${format}"`));
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(bytes.byteLength).toBe(Number(res.headers.get('content-length')));
      const file = path.join(path.dirname(truth.full[dev]), `download-${dev}.${format}`);
      await writeFile(file, bytes);
      await same(file, truth.full[dev]);
      const rec = RestoreDto.parse(await (await w.api('GET', `/api/v1/restores/${res.headers.get('x-sendense-restore-id')}`)).json());
      expect(rec).toMatchObject({ kind: 'download', status: 'succeeded', bytesSent: bytes.byteLength });
    }
  }, 300_000);

  it('in-place: refused while the VM runs; with stopVm the volume files equal the disks at the incremental', async () => {
    const refused = await restore(points.inc, { mode: 'in-place' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/is Running: an in-place restore needs it Stopped/);
    const r = await restore(points.inc, { mode: 'in-place', stopVm: true });
    expect(r.status).toBe(202);
    const done = await finished(r.body.id);
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.vmStopped).toBe(true);
    expect(w.sim.state.vms.find((v) => v.id === w.vms.app.vmId)!.state).toBe('Stopped');
    for (const d of w.vms.app.lab.disks) await same(d.path, truth.inc[d.dev]);
    expect(done.disks.map((d) => d.contentSha256)).toEqual((await w.cp.store.points.get(points.inc))!.disks.map((d) => d.contentSha256));
  }, 300_000);

  it('in-place cancelled half-way: the volume is exactly as it was', async () => {
    const big = w.vms.big;
    // stop the VM (through CloudStack) and change the disk, so the restore has something to change back
    await w.cp.cloudstack.stopVirtualMachine(big.vmId);
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x3c 0 64M', big.lab.disks[0].path]);
    const before = await sha(big.lab.disks[0].path);
    const r = await restore(points.big, { mode: 'in-place' });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    await expect.poll(async () => {
      const x = RestoreDto.parse(await (await w.api('GET', `/api/v1/restores/${r.body.id}`)).json());
      return x.disks[0].agentJobId && x.progress > 0 ? 'writing' : x.status;
    }, { timeout: 60_000, interval: 50 }).toBe('writing');
    const c = await w.api('POST', `/api/v1/restores/${r.body.id}/cancel`);
    expect(c.status).toBe(202);
    const done = await finished(r.body.id);
    expect(done.status, JSON.stringify(done)).toBe('cancelled');
    expect(await sha(big.lab.disks[0].path)).toBe(before);
  }, 300_000);
});
