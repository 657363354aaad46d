/**
 * The Hypervisor contract against real libvirt 9 / QEMU 7.2 with lab VMs (TCG, no guest OS):
 * transient and persistent domains, qcow2 and raw disks, guest-like writes through HMP qemu-io,
 * QEMU killed with SIGKILL, dirty maps read for real with `nbdinfo --map`.
 */
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { run } from '../system/run.ts';
import { createLabVm, type LabVm } from '../../test/lab/vm.ts';
import { labDir, runId } from '../../test/lab/paths.ts';
import { virsh } from '../../test/lab/virsh.ts';
import { isAlive, waitFor } from '../../test/lab/proc.ts';
import type { Extent } from '../blocksource/port.ts';
import { hypervisorContract, type FixtureVm, type HypervisorFixture } from './contract.ts';
import { LibvirtHypervisor } from './libvirt.ts';
import { backupXml } from './backup-xml.ts';
import { ensureQemuWritableDir, qemuConfOwner } from './qemu-owner.ts';

hypervisorContract('libvirt', async (): Promise<HypervisorFixture> => {
  const hv = new LibvirtHypervisor();
  const vms: LabVm[] = [];
  const base = labDir('runs', runId(), `hv-${process.pid}`);
  let n = 0;
  return {
    hv,
    restartedAgent: () => new LibvirtHypervisor(),
    async vm(spec) {
      const lab = await createLabVm({
        label: 'hv', transient: spec.transient, start: spec.start !== false, guestAgentChannel: spec.guestAgentChannel ?? false,
        disks: spec.disks.map((d) => ({ size: d.size, format: d.format ?? 'qcow2' })),
      });
      vms.push(lab);
      const vm: FixtureVm = {
        name: lab.name, uuid: lab.uuid, transient: lab.transient,
        disks: lab.disks.map((d) => ({ target: d.dev, image: d.path, format: d.format })),
        write: (t, o, l, p) => lab.write(t, o, l, p),
        zero: (t, o, l) => lab.zero(t, o, l),
        destroy: () => lab.destroy(),
        start: () => lab.start(),
        async kill() {
          const pid = await lab.qemuPid();
          process.kill(pid, 'SIGKILL');
          await waitFor(`QEMU ${pid} to die`, () => !isAlive(pid), 10_000);
          await waitFor(`${lab.name} to stop`, async () => !/running|paused/.test(await lab.state()), 10_000);
        },
        pause: () => lab.pause(),
      };
      return vm;
    },
    dir: (label) => path.join(base, `${label}-${++n}`),
    exists: (p) => existsSync(p),
    list: (d) => (existsSync(d) ? readdirSync(d) : []),
    async map(exp, context) {
      const r = await run('nbdinfo', ['--json', `--map=${context}`, exp.uri]);
      return (JSON.parse(r.stdout) as { offset: number; length: number; type: number }[]).map((e): Extent => ({ offset: e.offset, length: e.length, flags: e.type }));
    },
    async foreignBitmap(image, name) {
      await run('qemu-img', ['bitmap', '--add', image, name]);
    },
    // another tool's pull backup (as virtnbdbackup would start one), on a socket of its own
    async foreignJob(vm) {
      const d = path.join(base, `other-tool-${++n}`);
      ensureQemuWritableDir(d, qemuConfOwner());
      const xml = path.join(d, 'backup.xml');
      writeFileSync(xml, backupXml(path.join(d, 'backup.sock'), vm.disks.map((x) => x.target), [{ target: vm.disks[0].target }], new Map([[vm.disks[0].target, path.join(d, 'scratch.qcow2')]])));
      await virsh(['backup-begin', vm.uuid, xml]);
      return async () => { await virsh(['domjobabort', vm.uuid]).catch(() => ''); await waitFor('the other job to end', async () => /Job type:\s+None/.test(await virsh(['domjobinfo', vm.uuid])), 10_000); };
    },
    async cleanup() {
      for (const vm of vms) await vm.remove().catch(() => {});
      await virsh(['list', '--all']).catch(() => '');
      rmSync(base, { recursive: true, force: true });
    },
  };
});
