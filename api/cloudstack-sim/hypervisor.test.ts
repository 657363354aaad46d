/**
 * The SimHypervisor contract, run against the in-memory adapter and the virsh adapter on a real
 * transient lab VM; then a simulator VM mapped onto a real lab libvirt domain, stopped and started
 * through the CloudStack API.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLabVm, type LabVm } from '../../test/lab/vm.ts';
import { CloudStackClient } from '../cloudstack/client.ts';
import { resolveVmForAgent } from '../cloudstack/resolve.ts';
import { createSimulator } from './app.ts';
import { MemoryHypervisor, SimHypervisorError, type DomainRef, type SimHypervisor } from './hypervisor.ts';
import { addMappedVm, defaultState } from './state.ts';
import { createVirshHypervisor } from './virsh-hypervisor.ts';

const labVms: LabVm[] = [];
afterAll(async () => { for (const vm of labVms) await vm.remove(); });

async function transientLabVm(label: string, start: boolean): Promise<{ vm: LabVm; ref: DomainRef }> {
  const vm = await createLabVm({ label, disks: [{ size: 16 << 20 }], transient: true, start });
  labVms.push(vm);
  const xml = path.join(vm.dir, 'domain.xml');
  writeFileSync(xml, vm.xml);
  return { vm, ref: { libvirtDomain: vm.name, domainXmlPath: xml } };
}

function contract(name: string, make: () => Promise<{ hv: SimHypervisor; ref: DomainRef }>) {
  describe(`SimHypervisor contract: ${name}`, () => {
    it('creates a transient domain from its XML, stops it (gone), and is idempotent both ways', async () => {
      const { hv, ref } = await make();
      expect(await hv.state(ref.libvirtDomain)).toBe('absent');
      await hv.start(ref);
      expect(await hv.state(ref.libvirtDomain)).toBe('running');
      await hv.start(ref);
      expect(await hv.state(ref.libvirtDomain)).toBe('running');
      await hv.stop(ref, { forced: true });
      expect(await hv.state(ref.libvirtDomain)).toBe('absent');
      await hv.stop(ref);
      await hv.start(ref);
      expect(await hv.state(ref.libvirtDomain)).toBe('running');
      await hv.stop(ref);
    });

    it('fails with a SimHypervisorError naming the domain it cannot start', async () => {
      const { hv, ref } = await make();
      const e = await hv.start({ libvirtDomain: `${ref.libvirtDomain}-missing` }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SimHypervisorError);
      expect(String((e as Error).message)).toContain(`${ref.libvirtDomain}-missing`);
    });
  });
}

contract('memory', async () => ({ hv: new MemoryHypervisor(), ref: { libvirtDomain: `mem-${Math.random().toString(36).slice(2)}`, domainXmlPath: '/dev/null' } }));
contract('virsh (real libvirt)', async () => ({ hv: createVirshHypervisor(), ref: (await transientLabVm('hvc', false)).ref }));

describe('a simulator VM mapped onto a real lab libvirt domain', () => {
  it('stopVirtualMachine destroys the domain, startVirtualMachine creates it again; resolution gives the real disk', async () => {
    const { vm, ref } = await transientLabVm('csvm', true);
    expect(await vm.state()).toBe('running');
    const state = defaultState();
    const { vmId, volumeIds } = addMappedVm(state, {
      name: 'lab-vm', libvirtDomain: ref.libvirtDomain, domainXmlPath: ref.domainXmlPath,
      disks: vm.disks.map((d) => ({ file: d.path, size: d.size, format: d.format })), running: true,
    });
    const sim = createSimulator({ state, hypervisor: createVirshHypervisor(), asyncDelayMs: 50 });
    const cs = new CloudStackClient({ endpoint: 'http://cs.test/client/api', fetch: sim.fetch, credentials: sim.adminKeys, job: { initialMs: 50 } });

    const stopped = await cs.stopVirtualMachine(vmId);
    expect(stopped.state).toBe('Stopped');
    expect(await vm.state()).toBe('absent'); // transient: gone, as CloudStack's stopped VMs are
    const started = await cs.startVirtualMachine(vmId);
    expect(started).toMatchObject({ state: 'Running', instancename: vm.name });
    expect(await vm.state()).toBe('running');

    const r = await resolveVmForAgent(cs, vmId);
    expect(r).toMatchObject({ instanceName: vm.name, host: { ip: '127.0.0.1' }, hostIsCurrent: true });
    expect(r.disks).toEqual([expect.objectContaining({ deviceId: 0, volumeId: volumeIds[0], path: vm.disks[0].path, format: 'qcow2', kind: 'file' })]);
    await sim.idle();
  });

  it('a hypervisor failure fails the start job with 530 and leaves the VM stopped', async () => {
    const state = defaultState();
    const { vmId } = addMappedVm(state, { name: 'flaky', libvirtDomain: 'flaky-domain', domainXmlPath: '/nonexistent.xml', disks: [{ file: '/nonexistent/vda.qcow2', size: 1 << 20 }], running: false });
    const hv = new MemoryHypervisor();
    const sim = createSimulator({ state, hypervisor: hv, asyncDelayMs: 10 });
    const cs = new CloudStackClient({ endpoint: 'http://cs.test/client/api', fetch: sim.fetch, credentials: sim.adminKeys, job: { initialMs: 10 } });
    hv.failNext('flaky-domain', 'internal error: qemu unexpectedly closed the monitor');
    const e = await cs.startVirtualMachine(vmId).catch((x: unknown) => x);
    expect(e).toMatchObject({ kind: 'job', errorcode: 530 });
    expect((e as Error).message).toMatch(/Unable to start VM instance flaky-domain due to error: .*qemu unexpectedly closed the monitor/);
    expect((await cs.getVirtualMachine(vmId)).state).toBe('Stopped');
    expect((await cs.startVirtualMachine(vmId)).state).toBe('Running');
    expect(hv.running.has('flaky-domain')).toBe(true);
  });
});
