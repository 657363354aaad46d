/**
 * `tsx test/bench/unchanged.ts [runs] [--ab]`: only the unchanged-incremental rows of the agent
 * benchmark, quickly — a small running VM (the cost is fixed, not per byte), a loopback SSH
 * repository, a full backup, then agent.ts's unchangedRows with each CLI run's trace and
 * SENDENSE_DEBUG timeline. `--ab`: a virsh process per call (SENDENSE_VIRSH_SESSIONS=0) and
 * sessions, interleaved under the same load. For finding fixed costs; `npm run bench -- agent`
 * is the figure.
 */
import { startLibvirt, stopLibvirt } from '../lab/daemons.ts';
import { cleanupRun, cleanupStale } from '../lab/cleanup.ts';
import { runId } from '../lab/paths.ts';
import { createLabVm } from '../lab/vm.ts';
import { startRepoHost } from '../lab/sshd.ts';
import { runBackup } from '../../agent/backup/backup.ts';
import { openBackupDeps } from '../../agent/engine/backup-job.ts';
import { hostContext } from '../../agent/engine/context.ts';
import { LibvirtHypervisor } from '../../agent/hypervisor/libvirt.ts';
import { unchangedRows } from './agent.ts';

const log = (s: string) => process.stderr.write(`[unchanged] ${s}\n`);

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 3);
  process.env.SENDENSE_LAB_RUN = String(process.pid);
  process.env.SENDENSE_AGENT_WORKDIR ??= `/var/tmp/sendense-lab/runs/${process.pid}/agent-work`;
  process.env.SENDENSE_DEBUG = '1'; // the CLI children's timeline
  const daemons = await startLibvirt();
  await cleanupStale(runId());
  const host = await startRepoHost({ label: 'unch' });
  const vm = await createLabVm({ label: 'unch', transient: true, disks: [{ size: 1 << 30, randomPrefix: 16 << 20 }] });
  try {
    const deps = await openBackupDeps(hostContext(), { repo: host.url('unch'), identity: host.identityFile, knownHosts: host.knownHostsFile }, undefined, () => {});
    try {
      await runBackup(deps, { domain: vm.name, mode: 'full' });
      if (process.argv.includes('--ab')) {
        // before/after under the same load: a virsh process per call vs sessions, runs interleaved
        const off = { ...deps, hypervisor: new LibvirtHypervisor({ sessions: false }) };
        for (let i = 0; i < runs; i++) {
          for (const [name, d, env] of [['processes', off, '0'], ['sessions', deps, '1']] as const) {
            process.env.SENDENSE_VIRSH_SESSIONS = env;
            const rows = await unchangedRows(d, vm.name, host, 'unch', 1);
            log(`${name}: ${rows[0].value} (${rows[0].reference}); ${rows[1]?.value}`);
          }
        }
        return;
      }
      let n = 0;
      const rows = await unchangedRows(deps, vm.name, host, 'unch', runs, (stderr, ms) => {
        log(`CLI run ${++n}: ${ms} ms`);
        if (n === runs) process.stderr.write(stderr);
      });
      for (const r of rows) log(`${r.what}: ${r.value} (${r.reference ?? ''})`);
    } finally {
      await deps.close();
    }
  } finally {
    await vm.remove();
    await host.stop();
    await cleanupRun(runId()).catch(() => {});
    if (!process.env.SENDENSE_LAB_KEEP_DAEMONS) await stopLibvirt(daemons);
  }
}

await main();
