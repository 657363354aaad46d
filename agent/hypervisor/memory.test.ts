import { hypervisorContract, type FixtureVm, type HypervisorFixture } from './contract.ts';
import { MemoryHypervisor } from './memory.ts';

hypervisorContract('memory', async (): Promise<HypervisorFixture> => {
  const hv = new MemoryHypervisor();
  let n = 0;
  return {
    hv,
    restartedAgent: () => hv, // the memory adapter is the host: it keeps no per-agent state
    async vm(spec) {
      n++;
      const name = `mem-vm-${n}`;
      const info = hv.createDomain({
        name, transient: spec.transient, start: spec.start, guestAgent: spec.guestAgentChannel ? 'silent' : 'none',
        disks: spec.disks.map((d) => ({ size: d.size, format: d.format ?? 'qcow2' })),
      });
      const disks = (await hv.disks(name)).map((d) => ({ target: d.target, image: d.source, format: d.format as 'qcow2' | 'raw' }));
      const vm: FixtureVm = {
        name, uuid: info.uuid, transient: spec.transient, disks,
        write: async (t, o, l, p) => hv.write(name, t, o, l, p),
        zero: async (t, o, l) => hv.zero(name, t, o, l),
        destroy: async () => hv.destroy(name),
        start: async () => {
          if (spec.transient) hv.createDomain({ name, uuid: info.uuid, transient: true, disks: disks.map((d) => ({ target: d.target, image: d.image })) });
          else hv.start(name);
        },
        kill: async () => hv.crash(name),
        pause: async () => hv.pause(name),
      };
      return vm;
    },
    dir: (label) => `/memory/jobs/${label}-${++n}`,
    exists: (p) => hv.pathExists(p),
    list: (d) => hv.listFiles(d),
    async map(exp, context) {
      const src = hv.exportSource(exp.socketPath, exp.exportName);
      try {
        return await src.blockStatus(context, 0, src.size);
      } finally {
        await src.close();
      }
    },
    foreignBitmap: async (image, name) => hv.injectBitmap(image, name),
    foreignJob: async (vm) => {
      hv.setForeignJob(vm.name, "Backup (not Sendense's)");
      return async () => hv.setForeignJob(vm.name, undefined);
    },
    cleanup: async () => {},
  };
});
