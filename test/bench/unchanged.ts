/**
 * `tsx test/bench/unchanged.ts [runs]`: only the last row of the agent benchmark, quickly — an
 * incremental of an unchanged running VM (small disk: the cost is fixed, not per byte) through
 * the engine and through the CLI process, each run traced (SENDENSE_TRACE_RUN) to count the
 * programs the agent starts. For finding fixed costs; `npm run bench -- agent` is the figure.
 */
import { startLibvirt, stopLibvirt } from '../lab/daemons.ts';
import { cleanupRun, cleanupStale } from '../lab/cleanup.ts';
import { runId } from '../lab/paths.ts';
import { bundleAgent } from '../../packaging/bundle.ts';
import { createLabVm } from '../lab/vm.ts';
import { startRepoHost } from '../lab/sshd.ts';
import { runBackup } from '../../agent/backup/backup.ts';
import { agentDeps } from '../../agent/cli/deps.ts';
import { cli, sshArgs } from '../agent/fixture.ts';
import { median, traceCounts } from './trace.ts';

const log = (s: string) => process.stderr.write(`[unchanged] ${s}\n`);

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 3);
  process.env.SENDENSE_LAB_RUN = String(process.pid);
  process.env.SENDENSE_AGENT_WORKDIR ??= `/var/tmp/sendense-lab/runs/${process.pid}/agent-work`;
  await bundleAgent();
  const daemons = await startLibvirt();
  await cleanupStale(runId());
  const host = await startRepoHost({ label: 'unch' });
  const vm = await createLabVm({ label: 'unch', transient: true, disks: [{ size: 1 << 30, randomPrefix: 16 << 20 }] });
  try {
    const deps = await agentDeps({ repo: host.url('unch'), identity: host.identityFile, knownHosts: host.knownHostsFile });
    const engine: number[] = [];
    const proc: number[] = [];
    try {
      await runBackup(deps, { domain: vm.name, mode: 'full' });
      for (let i = 0; i < runs; i++) {
        const same = await runBackup(deps, { domain: vm.name });
        if (same.type !== 'incremental') throw new Error(`expected an incremental, got ${same.type}: ${same.reason}`);
        engine.push(same.durationMs);
        process.env.SENDENSE_TRACE_RUN = '1';
        const t0 = Date.now();
        const c = await cli(['backup', '--domain', vm.name, '--repo', host.url('unch'), ...sshArgs(host), '--json']);
        const ms = Date.now() - t0;
        delete process.env.SENDENSE_TRACE_RUN;
        if (!c.json?.ok || c.json.type !== 'incremental') throw new Error(`CLI incremental failed: ${c.stdout} ${c.stderr}`);
        proc.push(ms);
        const counts = traceCounts(c.stderr);
        log(`run ${i + 1}: engine ${same.durationMs} ms, CLI ${ms} ms (json duration ${c.json.duration_ms} ms); ${counts.total} programs: ${counts.summary}`);
        if (i === 0) process.stderr.write(c.stderr);
      }
    } finally {
      await deps.close();
    }
    log(`engine min ${Math.min(...engine)} median ${median(engine)} ms; CLI process min ${Math.min(...proc)} median ${median(proc)} ms`);
  } finally {
    await vm.remove();
    await host.stop();
    await cleanupRun(runId()).catch(() => {});
    if (!process.env.SENDENSE_LAB_KEEP_DAEMONS) await stopLibvirt(daemons);
  }
}

await main();
