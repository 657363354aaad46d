/**
 * `npm run bench -- scale [--disks N] [--repo local|ssh] [--mib M]`: N running VMs of one disk
 * each (M MiB of random data, default 512) backed up full AT ONCE by one agent process (as the
 * daemon runs them), then the same N one after the other. Prints aggregate MiB/s, busy cores (CPU-s
 * of the process tree ÷ wall s), MiB/s per busy core, CPU-s per GiB, the agent's peak RSS, and what
 * limited it: other processes (a loaded machine), CPU (the machine's cores busy), the agent's
 * event loop (its one thread's CPU near 100 % of the wall time), or neither (disk, SSH or NBD waits). Every image is checked bit-exact
 * against its VM's disk (qemu-img compare). Nothing depends on the core count: it runs unchanged
 * on a 16-core host, where `--disks 16` checks the seed's 3 GiB/s.
 */
import { cpus, loadavg } from 'node:os';
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createLabVm, type LabVm } from '../lab/vm.ts';
import { startRepoHost } from '../lab/sshd.ts';
import { labDir, runId } from '../lab/paths.ts';
import { runBackup, type BackupResult } from '../../agent/backup/backup.ts';
import { openBackupDeps } from '../../agent/engine/backup-job.ts';
import { hostContext } from '../../agent/engine/context.ts';
import { sameContent } from '../agent/fixture.ts';
import type { Row } from './agent.ts';
import { measured, threadCpuSeconds } from './cpu.ts';

const M = 1 << 20;
const G = 1 << 30;

export interface ScaleOptions { disks?: number; repo?: 'local' | 'ssh'; mib?: number }

export async function benchScale(log: (s: string) => void, o: ScaleOptions = {}): Promise<Row[]> {
  const n = Math.max(1, o.disks ?? 2);
  const mib = o.mib ?? 512;
  const repoKind = o.repo ?? 'ssh';
  const cores = cpus().length;
  log(`scale: ${n} VMs × ${mib} MiB random data, ${repoKind} repository, ${cores} cores, load ${loadavg()[0].toFixed(1)}`);
  const host = repoKind === 'ssh' ? await startRepoHost({ label: 'scale' }) : undefined;
  const localRoot = labDir('runs', runId(), 'bench-scale-repo');
  mkdirSync(localRoot, { recursive: true });
  const repoUrl = host ? host.url('scale') : localRoot;
  const repoPath = host ? path.join(host.root, 'scale') : localRoot;
  const vms: LabVm[] = [];
  const rows: Row[] = [];
  try {
    for (let i = 0; i < n; i++) vms.push(await createLabVm({ label: `scale${i}`, transient: true, disks: [{ size: mib * M, randomPrefix: mib * M }] }));
    const access = host ? { repo: repoUrl, identity: host.identityFile, knownHosts: host.knownHostsFile } : { repo: repoUrl };
    const ctx = hostContext();
    const deps = await Promise.all(vms.map(() => openBackupDeps(ctx, access)));
    try {
      const once = async (vm: LabVm, i: number) => runBackup(deps[i], { domain: vm.name, mode: 'full' });
      const check = async (rs: BackupResult[]) => {
        for (const [i, r] of rs.entries()) {
          const img = path.join(repoPath, r.vmId, r.manifest.disks[0].image);
          const truth = await vms[i].truth('vda');
          if (!(await sameContent(img, 'qcow2', truth))) throw new Error(`[bench] scale: the image of ${vms[i].name} differs from its disk`);
          rmSync(truth, { force: true });
        }
      };
      // together
      let peak = 0;
      const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 100);
      const main0 = threadCpuSeconds();
      const together = await measured(() => Promise.all(vms.map(once)));
      // the event loop's thread: its CPU share of the wall time (ELU would count time the kernel
      // gave to other processes as busy)
      const elu = (threadCpuSeconds() - main0) / (together.ms / 1000);
      const load = loadavg()[0];
      clearInterval(sampler);
      await check(together.value);
      // one after the other
      const serial = await measured(async () => { const out: BackupResult[] = []; for (const [i, vm] of vms.entries()) out.push(await once(vm, i)); return out; });
      await check(serial.value);
      const bytes = together.value.reduce((s, r) => s + r.bytesRead, 0);
      const rate = (ms: number) => bytes / M / (ms / 1000);
      const busy = together.cpu / (together.ms / 1000);
      const limit = load > cores && busy < 0.85 * cores ? `other processes: load ${load.toFixed(1)} on ${cores} cores, this run got ${busy.toFixed(2)} cores (the figures say nothing about Sendense)`
        : busy >= 0.85 * cores ? `CPU (${busy.toFixed(1)} of ${cores} cores busy)`
        : elu >= 0.85 ? `the agent's event loop (one Node thread ${Math.round(elu * 100)} % busy)`
          : `neither CPU (${busy.toFixed(1)} of ${cores} cores) nor the event loop (${Math.round(elu * 100)} %): disk, SSH or NBD waits`;
      rows.push({
        what: `scale: ${n} disks of ${n} VMs at once → ${repoKind} repository (${mib} MiB each), all bit-exact`,
        value: `${rate(together.ms).toFixed(0)} MiB/s aggregate, ${busy.toFixed(2)} busy cores, ${(rate(together.ms) / busy).toFixed(0)} MiB/s per busy core, ${(together.cpu / (bytes / G)).toFixed(2)} CPU-s/GiB, agent RSS peak ${(peak / M).toFixed(0)} MiB`,
        reference: `one at a time ${rate(serial.ms).toFixed(0)} MiB/s, ${(serial.cpu / (bytes / G)).toFixed(2)} CPU-s/GiB; limited by ${limit}`,
        ratio: (serial.ms / together.ms).toFixed(2),
        target: n >= 10 ? '≥ 1.5× one at a time, RSS < 512 MiB' : '',
        pass: n >= 10 ? serial.ms / together.ms >= 1.5 && peak < 512 * M : undefined,
      });
      log(`  ${rows[0].value}; ${rows[0].reference}`);
    } finally {
      await Promise.all(deps.map((d) => d.close()));
    }
  } finally {
    for (const vm of vms) await vm.remove();
    await host?.stop();
    rmSync(localRoot, { recursive: true, force: true });
  }
  return rows;
}
