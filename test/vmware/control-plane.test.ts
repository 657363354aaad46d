/**
 * VMware through the control plane, on the real stack (test/e2e/world.ts: the CloudStack
 * simulator, the real agent daemon over SSH on loopback, an SSH repository host, SQLite):
 * `POST /api/v1/repositories/{id}/import` with a VMware source runs an import job on the agent
 * (progress, a maintenance job row, audited), a re-export becomes an incremental recorded on the
 * newest point, the point DTO carries `platform_metadata.vmware`, `GET …/restore-plan` plans the
 * way into CloudStack, and bad input is refused saying what to do. A CloudStack VM backed up into
 * the same repository sits beside it.
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labDir } from '../lab/paths.ts';
import { startWorld, type E2eWorld } from '../e2e/world.ts';
import { makeOvfExport } from './fixture.ts';

const M = 1 << 20;
const importRoot = labDir(`vmware-import-root-${process.pid}`);
let w: E2eWorld;
let repoId: string;
const before = process.env.SENDENSE_AGENT_IMPORT_ROOT;

beforeAll(async () => {
  mkdirSync(importRoot, { recursive: true });
  // the daemon reads exports below its import root only (agent/vmware/import-job.ts)
  process.env.SENDENSE_AGENT_IMPORT_ROOT = importRoot;
  w = await startWorld('vmwcp', { cs1: [{ size: 8 * M, init: [{ offset: 0, length: M, pattern: 0x41 }] }] });
  if (before === undefined) delete process.env.SENDENSE_AGENT_IMPORT_ROOT;
  else process.env.SENDENSE_AGENT_IMPORT_ROOT = before;
  const repos = await (await w.api('GET', '/api/v1/repositories')).json() as { items: { id: string }[] };
  repoId = repos.items[0].id;
}, 240_000);

afterAll(async () => {
  await w?.close();
  rmSync(importRoot, { recursive: true, force: true });
}, 120_000);

type Job = { id: string; kind: string; status: string; vmId: string | null; request: Record<string, unknown>; result: Record<string, any> | null; error: string | null; errorCode: string | null };

async function settle(id: string, seen?: (j: Job) => void): Promise<Job> {
  for (let i = 0; i < 1200; i++) {
    const j = await (await w.api('GET', `/api/v1/maintenance-jobs/${id}`)).json() as Job;
    seen?.(j);
    if (j.status === 'succeeded' || j.status === 'failed') return j;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`maintenance job ${id} did not end`);
}

const vm = {
  name: 'web-01', instanceUuid: '50cccccc-0000-4000-8000-0000000000c1', biosUuid: '420cccc1-0000-4000-8000-0000000000c1', osType: 'ubuntu64Guest', cpus: 2, memoryMiB: 2048,
  firmware: 'bios' as const, nics: [{ network: 'VM Network', type: 'VmxNet3', mac: '00:50:56:00:00:c1' }],
};

async function exportOf(name: string, writes: { atMiB: number; lenMiB: number; pattern: number }[]) {
  const dir = path.join(importRoot, name);
  mkdirSync(dir, { recursive: true });
  return makeOvfExport(dir, { ...vm, disks: [{ id: 'd0', sizeMiB: 16, controller: 'scsi', unit: 0, writes }] }, { ova: `${name}.ova` });
}

describe('VMware import and restore plan through the control plane (real agent over SSH)', () => {
  it('imports an OVA as a vmware point with progress and a job row, then a re-export as an incremental; DTO, plan, audit, metrics, listing by platform', async () => {
    // a CloudStack VM backed up into the same repository
    const cs = w.vms.cs1.vmId;
    const b = await (await w.api('POST', `/api/v1/vms/${cs}/backups`, { mode: 'full' })).json() as { id: string };
    for (let i = 0; i < 1200; i++) {
      const j = await (await w.api('GET', `/api/v1/jobs/${b.id}`)).json() as { status: string; error: string | null };
      if (j.status === 'succeeded') break;
      if (j.status === 'failed' || j.status === 'cancelled') throw new Error(`backup of cs1 ${j.status}: ${j.error}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    const e1 = await exportOf('e1', [{ atMiB: 0, lenMiB: 3, pattern: 0x51 }]);
    const res = await w.api('POST', `/api/v1/repositories/${repoId}/import`, { source: { platform: 'vmware', path: e1.ova } });
    expect(res.status).toBe(202);
    const queued = await res.json() as Job;
    expect(queued).toMatchObject({ kind: 'import', status: 'queued', request: { source: { platform: 'vmware', path: e1.ova } } });
    const progress: number[] = [];
    const first = await settle(queued.id, (j) => { if (j.result?.progress) progress.push(j.result.progress.bytesDone); });
    expect(first.error).toBeNull();
    expect(first).toMatchObject({ status: 'succeeded', vmId: vm.instanceUuid, result: { import: { type: 'full', vmName: 'web-01' }, recorded: { imported: [{ vmId: vm.instanceUuid, sourcePlatform: 'vmware', points: 1 }] } } });
    expect(first.result!.import.checks.join(' ')).toMatch(/\.mf/);

    // a later export with one changed MiB: an incremental of one block, recorded on the newest point
    const e2 = await exportOf('e2', [{ atMiB: 0, lenMiB: 3, pattern: 0x51 }, { atMiB: 9, lenMiB: 1, pattern: 0x52 }]);
    await new Promise((r) => setTimeout(r, 1100)); // point ids are per second
    const second = await settle((await (await w.api('POST', `/api/v1/repositories/${repoId}/import`, { source: { platform: 'vmware', path: e2.ova } })).json() as Job).id);
    expect(second.error).toBeNull();
    expect(second.result).toMatchObject({ import: { type: 'incremental', disks: [{ changedBlocks: 1, blocks: 16 }] }, recorded: { imported: [{ points: 1, chains: 0 }] } });
    void progress; // progress samples are written while the agent job runs (a 16 MiB import may end between two polls)

    // the catalogue: two points of one chain (a VMware VM is no CloudStack VM: it is not in /api/v1/vms)
    const points = { items: await w.cp.store.points.listForVm(vm.instanceUuid) };
    expect(points.items.map((p) => [p.type, p.sourcePlatform])).toEqual([['incremental', 'vmware'], ['full', 'vmware']]);
    expect(points.items[0].parentId).toBe(points.items[1].id);
    expect(points.items[0].chainId).toBe(points.items[1].chainId);
    const one = await (await w.api('GET', `/api/v1/restore-points/${points.items[0].id}`)).json() as { platformMetadata: any };
    expect(one.platformMetadata.vmware).toMatchObject({ name: 'web-01', instance_uuid: vm.instanceUuid, bios_uuid: vm.biosUuid, guest_os_id: 'ubuntu64Guest', cpus: 2, memory_mib: 2048, firmware: 'bios' });
    expect(one.platformMetadata.vmware.nics).toEqual([expect.objectContaining({ network: 'VM Network', mac: '00:50:56:00:00:c1' })]);

    // the plan into CloudStack: the simulator's zone and nearest offering; the VMware network must be mapped by the admin
    const plan = await w.api('GET', `/api/v1/restore-points/${points.items[0].id}/restore-plan`);
    expect(plan.status).toBe(200);
    const p = await plan.json() as { plan: { ready: boolean; blockers: string[]; zone: { name: string }; serviceOffering: { fit: string }; boot: { type: string }; disks: { target: string; role: string; kvmController: string }[]; nics: { kvmModel: string }[] } };
    expect(p.plan.zone.name).toBe('zone1');
    expect(p.plan.boot.type).toBe('BIOS');
    expect(p.plan.disks).toEqual([expect.objectContaining({ target: 'vda', role: 'root', kvmController: 'virtio' })]);
    expect(p.plan.nics[0].kvmModel).toBe('virtio');
    expect(p.plan.ready).toBe(false);
    expect(p.plan.blockers.join('\n')).toMatch(/choose the CloudStack network for VMware network 'VM Network'/);
    // a CloudStack point has no VMware plan, and says what to do instead
    const csPoints = await (await w.api('GET', `/api/v1/vms/${cs}/restore-points`)).json() as { items: { id: string; sourcePlatform: string }[] };
    const notVmware = await w.api('GET', `/api/v1/restore-points/${csPoints.items[0].id}/restore-plan`);
    expect(notVmware.status).toBe(409);
    expect(await notVmware.text()).toMatch(/is a cloudstack point: restore it with POST/);

    // bad input: a path outside the agent's import root fails the job naming the root; a missing path is a 400 naming the field
    const outside = await settle((await (await w.api('POST', `/api/v1/repositories/${repoId}/import`, { source: { platform: 'vmware', path: '/etc/passwd' } })).json() as Job).id);
    expect(outside).toMatchObject({ status: 'failed' });
    expect(outside.error).toMatch(/is not below the agent's import root/);
    const noPath = await w.api('POST', `/api/v1/repositories/${repoId}/import`, { source: { platform: 'vmware' } });
    expect(noPath.status).toBe(400);
    expect(await noPath.text()).toMatch(/source\.path/);
    const hyperv = await w.api('POST', `/api/v1/repositories/${repoId}/import`, { source: { platform: 'hyperv', path: '/x' } });
    expect(hyperv.status).toBe(400);
    expect(await hyperv.text()).toMatch(/only 'vmware' exports are imported/);

    // audited: who asked, and the job's end
    const audit = await (await w.api('GET', '/api/v1/audit?limit=200')).json() as { items: { action: string; outcome: string; details: any }[] };
    expect(audit.items.filter((a) => a.action === 'repository.import' && a.details?.source === 'vmware').length).toBe(3);
    expect(audit.items.filter((a) => a.action === 'import.finish').map((a) => a.outcome).sort()).toEqual(['error', 'ok', 'ok']);
    expect(audit.items.some((a) => a.action === 'restore-point.restore-plan' && a.outcome === 'ok')).toBe(true);

    // metrics by source platform
    const metrics = await (await w.cp.app.request('http://sendense.test/metrics')).text();
    expect(metrics).toMatch(/sendense_imports_total\{source_platform="vmware",status="succeeded"\} 2/);
    expect(metrics).toMatch(/sendense_import_bytes_total\{source_platform="vmware"\} [1-9]/);
  }, 600_000);
});
