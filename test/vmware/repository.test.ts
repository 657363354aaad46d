/**
 * VMware points are chains like any other in a shared repository: a VMware VM's history (three
 * exports: a full and two digest incrementals) pruned with merge-forward keeps every remaining
 * point's content (qemu-img compare with the exports); the repository scan names the platform
 * per VM; a VMware export cannot continue a CloudStack VM's folder.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../agent/system/run.ts';
import { LocalTarget } from '../../agent/target/local.ts';
import { Repository } from '../../agent/repository/repository.ts';
import { prunePoints } from '../../agent/retention/prune.ts';
import { scanRepository } from '../../agent/retention/scan.ts';
import { importVmware } from '../../agent/vmware/import.ts';
import { qemuVmdkOpener } from '../../agent/vmware/qemu-disk.ts';
import { readVmwareExport } from '../../agent/vmware/read-export.ts';
import { makeOvfExport } from './fixture.ts';

const root = mkdtempSync(path.join(os.tmpdir(), 'sendense-vmware-repo-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('VMware and CloudStack VMs in one repository', () => {
  it('a VMware chain prunes with merge-forward, the scan names each VM\'s platform, a CloudStack VM id is not continued', async () => {
    const repoDir = path.join(root, 'repo');
    const work = path.join(root, 'work');
    mkdirSync(repoDir, { recursive: true });
    mkdirSync(work, { recursive: true });
    const target = new LocalTarget(repoDir);
    const vm = { name: 'hist', instanceUuid: '50bbbbbb-0000-4000-8000-000000000003', osType: 'centos8_64Guest', cpus: 1, memoryMiB: 1024, firmware: 'bios' as const, nics: [] };
    const raws: string[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const dir = path.join(root, `e${i}`);
      mkdirSync(dir, { recursive: true });
      const writes = [{ atMiB: 0, lenMiB: 2, pattern: 0x10 }, ...Array.from({ length: i }, (_, k) => ({ atMiB: 4 + k * 2, lenMiB: 1, pattern: 0x20 + k }))];
      const ex = await makeOvfExport(dir, { ...vm, disks: [{ id: 'd', sizeMiB: 12, controller: 'scsi', unit: 0, writes }] }, { ova: 'hist.ova' });
      raws.push(ex.raws[0]);
      if (i) await new Promise((r) => setTimeout(r, 1100));
      const r = await importVmware({ target, openDisk: qemuVmdkOpener(work) }, { export: await readVmwareExport(ex.ova!) });
      ids.push(r.pointId);
      expect(r.type).toBe(i === 0 ? 'full' : 'incremental');
      if (i) expect(r.disks[0].changed_blocks).toBe(1);
    }
    // a CloudStack VM of the same repository (its metadata as the agent writes it)
    const csVm = '7a7a7a7a-0000-4000-8000-00000000cccc';
    mkdirSync(path.join(repoDir, csVm, 'points'), { recursive: true });
    writeFileSync(path.join(repoDir, csVm, 'metadata.json'), JSON.stringify({
      format: 'sendense-repository-vm', version: 1, vm_uuid: csVm, vm_name: 'i-2-10-VM', source_platform: 'cloudstack',
      platform_metadata: { cloudstack: { vm_id: csVm } }, disks: [], updated_at: new Date().toISOString(),
    }));
    const scan = await scanRepository(target);
    expect(scan.vms.map((v) => [v.vmId, v.metadata?.source_platform, v.points.length])).toEqual([
      [vm.instanceUuid, 'vmware', 3], [csVm, 'cloudstack', 0],
    ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))));

    // prune the first two VMware points: the newest is merged forward into a full with the same content
    const pr = await prunePoints(target, vm.instanceUuid, [ids[0], ids[1]]);
    expect(pr.removed.sort()).toEqual([ids[0], ids[1]].sort());
    expect(pr.merged.map((m) => m.pointId)).toEqual([ids[2]]);
    const repo = new Repository(target);
    const left = await repo.points(vm.instanceUuid);
    expect(left.map((p) => [p.id, p.type])).toEqual([[ids[2], 'full']]);
    const img = path.join(repoDir, vm.instanceUuid, left[0].disks[0].image);
    expect((await run('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', img, raws[2]], { okCodes: [1] })).code).toBe(0);

    // the next export continues from the merged point
    const dir = path.join(root, 'e3');
    mkdirSync(dir, { recursive: true });
    const ex = await makeOvfExport(dir, { ...vm, disks: [{ id: 'd', sizeMiB: 12, controller: 'scsi', unit: 0, writes: [{ atMiB: 0, lenMiB: 2, pattern: 0x10 }, { atMiB: 4, lenMiB: 1, pattern: 0x20 }, { atMiB: 6, lenMiB: 1, pattern: 0x21 }, { atMiB: 11, lenMiB: 1, pattern: 0x77 }] }] }, { ova: 'hist.ova' });
    await new Promise((r) => setTimeout(r, 1100));
    const r4 = await importVmware({ target, openDisk: qemuVmdkOpener(work) }, { export: await readVmwareExport(ex.ova!) });
    expect([r4.type, r4.parent, r4.disks[0].changed_blocks]).toEqual(['incremental', ids[2], 1]);

    // the CloudStack VM's folder is not continued by a VMware export
    await expect(importVmware({ target, openDisk: qemuVmdkOpener(work) }, { export: await readVmwareExport(ex.ova!), vmId: csVm }))
      .rejects.toThrow(/the repository's VM 7a7a7a7a-0000-4000-8000-00000000cccc is a cloudstack VM \(i-2-10-VM\); a VMware export cannot continue its history/);
  });
});
