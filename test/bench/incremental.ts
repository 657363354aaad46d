/**
 * Incrementals whose cost should be their fixed start-up work (issue 14), against virtnbdbackup on
 * a twin VM in the same run: two running VMs with a 1 TiB sparse disk (64 MiB of random data at
 * the start), each backed up full first (ours to a loopback SSH repository, virtnbdbackup to a
 * local directory, `-l full`). Then, interleaved:
 * - an unchanged incremental: our CLI process, our daemon (POST /v1/backups on its socket until
 *   the job ends: what the control plane waits for), `virtnbdbackup -l inc`;
 * - 100 × 1 MiB written spread over the 1 TiB, then the same three.
 * Wall time and client CPU (ours: the CLI process / the daemon; theirs: virtnbdbackup's tree).
 *
 *   npx tsx test/bench/incremental.ts [--rounds 2]       (or `npm run bench -- incremental`)
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createLabVm, type LabVm } from '../lab/vm.ts';
import { startRepoHost } from '../lab/sshd.ts';
import { labDir, runId } from '../lab/paths.ts';
import { daemonDir, openSocketFetch, spawnDaemon } from '../lab/agent-daemon.ts';
import { agentJson } from '../../agent/link/client.ts';
import { followJob } from '../../agent/link/follow.ts';
import { bundleAgent } from '../../packaging/bundle.ts';
import { cli, sshArgs } from '../agent/fixture.ts';
import type { Row } from './agent.ts';
import { measured, timedShell, treeCpuSeconds } from './cpu.ts';
import { median } from './trace.ts';

const M = 1 << 20;
const T = 2 ** 40;

interface Fig { ms: number; cpu: number }
const sec = (f: Fig[]) => `${(median(f.map((x) => x.ms)) / 1000).toFixed(2)} s, ${median(f.map((x) => x.cpu)).toFixed(2)} CPU-s`;

async function spread(vm: LabVm, round: number): Promise<void> {
  // 100 × 1 MiB, 1 MiB-aligned, spread over the whole disk (10 GiB apart, a different phase each round)
  for (let i = 0; i < 100; i++) await vm.write('vda', Math.floor((i * 10.24 * 1024 + round * 7) % (1024 * 1024 - 1)) * M, M, 0x20 + ((i + round) % 200));
}

export async function benchIncremental(log: (s: string) => void, o: { rounds?: number } = {}): Promise<Row[]> {
  const rounds = o.rounds ?? 2;
  await bundleAgent(); // the CLI and daemon as shipped
  const host = await startRepoHost({ label: 'inc' });
  log(`incremental: two running VMs with a 1 TiB sparse disk, 64 MiB of data; ${rounds} rounds`);
  const ours = await createLabVm({ label: 'inc-s', transient: true, disks: [{ size: T, randomPrefix: 64 * M }] });
  const theirs = await createLabVm({ label: 'inc-v', transient: true, disks: [{ size: T, randomPrefix: 64 * M }] });
  const work = labDir('runs', runId(), 'bench-inc');
  const vnbDir = path.join(work, 'virtnbdbackup');
  mkdirSync(work, { recursive: true });
  const daemon = await spawnDaemon({ dir: daemonDir('bench-inc') });
  const rows: Row[] = [];
  try {
    const args = ['backup', '--domain', ours.name, '--repo', host.url('inc'), ...sshArgs(host), '--json'];
    const viaCli = async (want: string): Promise<Fig> => {
      const r = await measured(() => cli(args));
      if (!r.value.json?.ok || r.value.json.type !== want) throw new Error(`[bench] CLI ${want} failed: ${r.value.stdout} ${r.value.stderr}`);
      return { ms: r.ms, cpu: r.cpu };
    };
    const { client } = openSocketFetch(daemon.socketPath);
    const viaDaemon = async (): Promise<Fig> => {
      const c0 = treeCpuSeconds(daemon.pid);
      const t0 = Date.now();
      const { job } = await agentJson(await client.v1.backups.$post({ json: { domain: ours.name, repo: host.url('inc'), identity: host.identityFile, knownHosts: host.knownHostsFile } }));
      const end = await followJob(client, job.id);
      const ms = Date.now() - t0;
      if (end.state !== 'succeeded' || (end.result as { type?: string }).type !== 'incremental') throw new Error(`[bench] daemon incremental: ${end.state} ${end.error?.message ?? JSON.stringify(end.result)}`);
      return { ms, cpu: treeCpuSeconds(daemon.pid) - c0 };
    };
    const vnb = async (level: 'full' | 'inc'): Promise<Fig> => {
      const r = await timedShell(`virtnbdbackup -d ${theirs.name} -l ${level} -o ${vnbDir} -q`);
      return r;
    };
    await viaCli('full');
    rmSync(vnbDir, { recursive: true, force: true });
    await vnb('full');
    // `change` runs before every measured backup (ours and theirs each get their own writes)
    const cases: [string, ((vm: LabVm, r: number) => Promise<void>) | undefined][] = [
      ['unchanged incremental, 1 TiB sparse disk', undefined],
      ['incremental of 100 × 1 MiB spread over 1 TiB', spread],
    ];
    for (const [what, change] of cases) {
      const c: Fig[] = [];
      const d: Fig[] = [];
      const v: Fig[] = [];
      for (let r = 0; r < rounds; r++) {
        await change?.(theirs, 3 * r);
        v.push(await vnb('inc'));
        await change?.(ours, 3 * r + 1);
        c.push(await viaCli('incremental'));
        await change?.(ours, 3 * r + 2);
        d.push(await viaDaemon());
        log(`  ${what}, round ${r + 1}: CLI ${sec([c[r]])}; daemon ${sec([d[r]])}; virtnbdbackup ${sec([v[r]])}`);
      }
      const vm = median(v.map((x) => x.ms));
      const ratio = median(c.map((x) => x.ms)) / vm;
      rows.push({ what: `${what} (CLI)`, value: sec(c), reference: `virtnbdbackup -l inc ${sec(v)}`, ratio: ratio.toFixed(2), target: '≤ 0.8× virtnbdbackup', pass: ratio <= 0.8 });
      const dm = median(d.map((x) => x.ms));
      rows.push({ what: `${what} (daemon, POST to job end)`, value: sec(d), reference: `virtnbdbackup ${(vm / 1000).toFixed(2)} s`, ratio: (dm / vm).toFixed(2), target: '≤ 0.5 s', pass: dm <= 500 });
    }
  } finally {
    daemon.kill('SIGTERM');
    await daemon.exited;
    await ours.remove();
    await theirs.remove();
    await host.stop();
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { parseArgs } = await import('node:util');
  const { startLibvirt, stopLibvirt } = await import('../lab/daemons.ts');
  const { cleanupRun, cleanupStale } = await import('../lab/cleanup.ts');
  const { values } = parseArgs({ options: { rounds: { type: 'string' } } });
  process.env.SENDENSE_LAB_RUN = String(process.pid);
  process.env.SENDENSE_AGENT_WORKDIR ??= `/var/tmp/sendense-lab/runs/${process.pid}/agent-work`;
  const daemons = await startLibvirt();
  await cleanupStale(runId());
  try {
    const rows = await benchIncremental((s) => process.stderr.write(`[incremental] ${s}\n`), { rounds: values.rounds ? Number(values.rounds) : undefined });
    for (const r of rows) process.stdout.write(`| ${r.what} | ${r.value} | ${r.reference} | ${r.ratio} | ${r.target} | ${r.pass ? 'yes' : 'no'} |\n`);
  } finally {
    await cleanupRun(runId()).catch(() => {});
    if (!process.env.SENDENSE_LAB_KEEP_DAEMONS) await stopLibvirt(daemons);
  }
}
