/**
 * @layer entry
 * `sendense demo`: Sendense on embedded defaults, on this machine. Until the control plane lands
 * (issue 5) it shows the agent end to end: makes this machine a KVM host lab (installs what is
 * missing, starts libvirt by hand), starts a TCG VM with two disks and a repository host (a real
 * sshd on loopback), takes a full and an incremental backup over SSH, verifies both points,
 * restores the newest and compares it with the VM's disk, then cleans up everything it started.
 */
import path from 'node:path';
import { ensurePackages } from '../../test/lab/packages.ts';
import { startLibvirt, stopLibvirt } from '../../test/lab/daemons.ts';
import { createLabVm } from '../../test/lab/vm.ts';
import { startRepoHost } from '../../test/lab/sshd.ts';
import { labDir, runId } from '../../test/lab/paths.ts';
import { cleanupRun, cleanupStale } from '../../test/lab/cleanup.ts';
import { runBackup } from '../../agent/backup/backup.ts';
import { verifyPoints } from '../../agent/restore/verify.ts';
import { restoreDisk } from '../../agent/restore/restore.ts';
import { LocalRestoreFile } from '../../agent/restore/local-file.ts';
import { agentDeps, checkImage } from '../../agent/cli/deps.ts';
import { human } from '../../agent/cli/progress.ts';
import { run } from '../../agent/system/run.ts';

const M = 1 << 20;
const say = (s: string) => process.stdout.write(`[demo] ${s}\n`);

export async function demoCommand(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    process.stdout.write('sendense demo: back up a lab VM full + incremental over SSH, verify, restore, clean up\n');
    return 0;
  }
  if (process.getuid?.() !== 0) {
    process.stderr.write('sendense demo: run as root (it starts libvirt, VMs and sshd on this machine)\n');
    return 1;
  }
  process.env.SENDENSE_LAB_RUN = String(process.pid);
  process.env.SENDENSE_AGENT_WORKDIR ??= labDir('runs', runId(), 'agent-work');
  ensurePackages();
  const daemons = await startLibvirt();
  await cleanupStale(runId());
  const cleanups: (() => Promise<unknown>)[] = [];
  try {
    const host = await startRepoHost({ label: 'demo-repo' });
    cleanups.push(() => host.stop());
    say(`repository host: sshd on ${host.host}:${host.port}, user ${host.user}, repository ${host.url('backups')}`);
    const vm = await createLabVm({ label: 'demo', transient: true, disks: [{ size: 256 * M, randomPrefix: 64 * M }, { size: 64 * M, randomPrefix: 8 * M }] });
    cleanups.push(() => vm.remove());
    say(`VM ${vm.name} (${vm.uuid}): transient TCG domain, disks vda 256 MiB and vdb 64 MiB`);
    const deps = await agentDeps({ repo: host.url('backups'), identity: host.identityFile, knownHosts: host.knownHostsFile });
    cleanups.push(() => deps.close());

    const full = await runBackup(deps, { domain: vm.name });
    say(`backup 1: point ${full.pointId} ${full.type} — ${full.reason}; read ${human(full.bytesRead)}, sent ${human(full.bytesSent)} in ${full.durationMs} ms`);
    await vm.write('vda', 100 * M, 4 * M, 0x5e);
    await vm.zero('vda', 0, M);
    await vm.write('vdb', 32 * M + 4096, 5000, 0xd0);
    say('guest-like writes: 4 MiB of data and 1 MiB of zeros on vda, 5000 bytes on vdb');
    const truth = await vm.truth('vda');
    const incr = await runBackup(deps, { domain: vm.name });
    say(`backup 2: point ${incr.pointId} ${incr.type} — ${incr.reason}; read ${human(incr.bytesRead)}, sent ${human(incr.bytesSent)} in ${incr.durationMs} ms`);

    const report = await verifyPoints({ target: deps.target, checkImage }, vm.uuid);
    say(`verify: ${report.ok ? 'all points good' : 'FAILED'} (${report.points.length} points, ${report.durationMs} ms)`);
    const to = path.join(labDir('runs', runId(), 'demo-restore'), 'vda.raw');
    const r = await restoreDisk(deps.target, await LocalRestoreFile.create(to, { overwrite: true }), { vm: vm.uuid, disk: 'vda', format: 'raw' });
    const cmp = await run('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'raw', to, truth], { okCodes: [1] });
    say(`restore of vda at ${r.pointId}: ${cmp.code === 0 ? 'identical to the VM\'s disk' : 'DIFFERS from the VM\'s disk'} (qemu-img compare)`);
    return report.ok && cmp.code === 0 ? 0 : 1;
  } catch (e) {
    process.stderr.write(`sendense demo: ${(e as Error).message}\n`);
    return 1;
  } finally {
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await cleanupRun(runId()).catch(() => {});
    if (!process.env.SENDENSE_LAB_KEEP_DAEMONS) await stopLibvirt(daemons);
    say('cleaned up: VM, sshd and the daemons it started');
  }
}
