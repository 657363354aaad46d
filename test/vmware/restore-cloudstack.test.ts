/**
 * A VMware point restored into CloudStack (the simulator) as a new VM: an OVA imported twice
 * (full, then a changed re-export as an incremental), its plan asked, the latest point restored
 * — root disk as an uploaded template the VM is deployed from, the data disk as an uploaded
 * volume attached to it — and what CloudStack stored compared with the VMDKs by qemu-img compare.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../agent/system/run.ts';
import { LocalTarget } from '../../agent/target/local.ts';
import { Repository } from '../../agent/repository/repository.ts';
import { importVmware } from '../../agent/vmware/import.ts';
import { VmwareVm } from '../../agent/vmware/metadata.ts';
import { qemuVmdkOpener } from '../../agent/vmware/qemu-disk.ts';
import { readVmwareExport } from '../../agent/vmware/read-export.ts';
import { createSimulator } from '../../api/cloudstack-sim/app.ts';
import { CloudStackClient } from '../../api/cloudstack/client.ts';
import { localChainImage } from '../../api/vmware/chain-image.ts';
import { restorePlan } from '../../api/vmware/restore-plan.ts';
import { restoreVmwareAsNewVm } from '../../api/vmware/restore-vm.ts';
import { makeOvfExport } from './fixture.ts';

const root = mkdtempSync(path.join(os.tmpdir(), 'sendense-vmware-cs-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const VM = {
  name: 'app-02', instanceUuid: '50aaaaaa-0000-4000-8000-000000000002', osType: 'ubuntu64Guest', cpus: 2, memoryMiB: 2048, firmware: 'efi' as const,
  nics: [{ network: 'VM Network', type: 'VmxNet3', mac: '00:50:56:00:00:02' }],
};
const disks = (extra: { atMiB: number; lenMiB: number; pattern: number }[]) => [
  { id: 'root', sizeMiB: 16, controller: 'scsi' as const, unit: 0, writes: [{ atMiB: 0, lenMiB: 4, pattern: 0x61 }, ...extra] },
  { id: 'data', sizeMiB: 8, controller: 'scsi' as const, unit: 1, writes: [{ atMiB: 1, lenMiB: 2, pattern: 0x62 }] },
];

describe('VMware point → new CloudStack VM', () => {
  it('plans, then restores root as a template + deployVirtualMachine and the data disk as an attached volume, bit-exact', async () => {
    const repoDir = path.join(root, 'repo');
    const work = path.join(root, 'work');
    const uploads = path.join(root, 'uploads');
    for (const d of [repoDir, work, uploads, path.join(root, 'e1'), path.join(root, 'e2')]) mkdirSync(d, { recursive: true });
    const target = new LocalTarget(repoDir);
    const imp = async (p: string) => importVmware({ target, openDisk: qemuVmdkOpener(work) }, { export: await readVmwareExport(p) });
    const e1 = await makeOvfExport(path.join(root, 'e1'), { ...VM, disks: disks([]) }, { ova: 'app-02.ova' });
    const first = await imp(e1.ova!);
    await new Promise((r) => setTimeout(r, 1100));
    const e2 = await makeOvfExport(path.join(root, 'e2'), { ...VM, disks: disks([{ atMiB: 9, lenMiB: 2, pattern: 0x63 }]) }, { ova: 'app-02.ova' });
    const second = await imp(e2.ova!);
    expect([first.type, second.type]).toEqual(['full', 'incremental']);

    const repo = new Repository(target);
    const meta = (await repo.readMetadata(second.vmId))!;
    const vm = VmwareVm.parse(meta.platform_metadata.vmware);
    const point = await repo.readPoint(second.vmId, second.pointId);

    const sim = createSimulator({ asyncDelayMs: 20, uploadDir: uploads });
    const cs = new CloudStackClient({ endpoint: 'http://cs.test/client/api', fetch: sim.fetch, credentials: sim.adminKeys, job: { initialMs: 10, maxMs: 50 }, retry: { retries: 0 } });
    const zones = (await cs.listZones()).map((z) => ({ id: String(z.id), name: String(z.name) }));
    const offerings = (await cs.listAll('listServiceOfferings')).map((o) => ({ id: String(o.id), name: String(o.name), cpuNumber: Number(o.cpunumber), memory: Number(o.memory) }));
    const networks = (await cs.listAll('listNetworks')).map((n) => ({ id: String(n.id), name: String(n.name), zoneId: String(n.zoneid) }));
    const plan = restorePlan({ vm, disks: meta.disks.map((d) => ({ index: d.index, target: d.target, virtual_size: d.virtual_size, vmware_device: d.vmware_device as string })), zones, offerings, networks });
    // the simulator has no guest networks: the plan says so and what to do
    expect(plan.blockers).toEqual([`choose the CloudStack network for VMware network 'VM Network' (NIC 1, 00:50:56:00:00:02): zone ${zones[0].name} has no network: create one first`]);
    expect(plan.serviceOffering).toMatchObject({ name: 'Medium Instance', fit: 'exact' });
    expect(plan.boot.type).toBe('UEFI');
    expect(plan.disks.map((d) => [d.target, d.role, d.via, d.kvmController])).toEqual([['vda', 'root', 'template', 'virtio'], ['vdb', 'data', 'volume', 'virtio']]);
    await expect(restoreVmwareAsNewVm({ cloudstack: cs, diskImage: async () => { throw new Error('not reached'); } }, { vm, plan })).rejects.toThrow(/the plan is not ready: choose the CloudStack network/);

    const r = await restoreVmwareAsNewVm({
      cloudstack: cs,
      diskImage: localChainImage({ repoRoot: repoDir, vmId: second.vmId, disks: point.disks, workDir: work }),
    }, { vm, plan, withoutNetworks: true });
    expect(r.notes[0]).toMatch(/deployed without NICs as asked/);
    const [deployed] = await cs.listVirtualMachines({ id: r.virtualMachineId });
    expect(deployed).toMatchObject({ name: 'app-02', state: 'Stopped', serviceofferingname: 'Medium Instance', templateid: r.templateId });
    const vols = await cs.listVolumes({ virtualmachineid: r.virtualMachineId });
    expect(vols.map((v) => [v.type, v.deviceid]).sort()).toEqual([['DATADISK', 1], ['ROOT', 0]]);
    // what CloudStack holds is the VMware disks' content
    const cmp = async (file: string, raw: string) => (await run('qemu-img', ['compare', '-f', 'qcow2', '-F', 'raw', file, raw], { okCodes: [1] })).code;
    expect(await cmp(path.join(uploads, `${r.templateId}.qcow2`), e2.raws[0])).toBe(0);
    expect(await cmp(path.join(uploads, `${r.dataVolumes[0].volumeId}.qcow2`), e2.raws[1])).toBe(0);
    expect(await cmp(path.join(uploads, `${r.templateId}.qcow2`), e1.raws[0])).toBe(1);
    // a template is deployed only once uploaded; its one-time URL is used
    const again = await cs.call('getUploadParamsForTemplate', { name: 'x', displaytext: 'x', format: 'QCOW2', hypervisor: 'KVM', zoneid: zones[0].id, ostypeid: '7f3a0001-0000-4000-8000-000000000001' });
    const tid = String((again.getuploadparams as { id: string }).id);
    await expect(cs.callAsync('deployVirtualMachine', { zoneid: zones[0].id, serviceofferingid: offerings[0].id, templateid: tid, startvm: false })).rejects.toThrow(/has not been completely downloaded to zone/);
    await sim.idle();
  });
});
