/**
 * `npm run bench`: Sendense's figures side by side with reference tools run in the same process
 * run, as ratios (these machines are noisy). Needs root; sets up the lab like the tests do.
 * Without arguments: the speed table (speed.ts: full backup and restores vs the stock tools,
 * MiB/s and CPU-s/GiB), the incrementals vs virtnbdbackup (incremental.ts) and `scale` with 2
 * disks. By name: `-- speed`, `-- incremental`, `-- scale [--disks N] [--repo local|ssh]`, and the
 * older parts `-- agent`, `-- api`, `-- fleet`, `-- restore`.
 */
import { ensurePackages } from '../lab/packages.ts';
import { startLibvirt, stopLibvirt } from '../lab/daemons.ts';
import { cleanupRun, cleanupStale } from '../lab/cleanup.ts';
import { runId } from '../lab/paths.ts';
import { benchAgent, type Row } from './agent.ts';
import { benchApi } from './api.ts';
import { benchFleet } from './fleet.ts';
import { benchRestore } from './restore.ts';
import { benchIncremental } from './incremental.ts';
import { benchScale } from './scale.ts';
import { benchSpeed } from './speed.ts';

const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

async function main(): Promise<number> {
  process.env.SENDENSE_LAB_RUN = String(process.pid);
  process.env.SENDENSE_AGENT_WORKDIR ??= `/var/tmp/sendense-lab/runs/${process.pid}/agent-work`;
  ensurePackages();
  const daemons = await startLibvirt();
  await cleanupStale(runId());
  const rows: Row[] = [];
  const argv = process.argv.slice(2);
  const opt = (name: string) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : undefined; };
  const only = argv.filter((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
  const all = only.length === 0;
  try {
    if (all || only.includes('speed')) rows.push(...(await benchSpeed(log)));
    if (all || only.includes('incremental')) rows.push(...(await benchIncremental(log)));
    if (all || only.includes('scale')) {
      const repo = opt('repo') ?? 'ssh';
      if (repo !== 'ssh' && repo !== 'local') throw new Error(`[bench] --repo ${repo}: use local or ssh`);
      rows.push(...(await benchScale(log, { disks: Number(opt('disks') ?? 2), repo })));
    }
    if (only.includes('agent')) rows.push(...(await benchAgent(log)));
    if (only.includes('api')) rows.push(...(await benchApi(log)));
    if (only.includes('fleet')) rows.push(...(await benchFleet(log)));
    if (only.includes('restore')) rows.push(...(await benchRestore(log)));
  } finally {
    await cleanupRun(runId()).catch(() => {});
    if (!process.env.SENDENSE_LAB_KEEP_DAEMONS) await stopLibvirt(daemons);
  }
  const line = (r: string[]) => `| ${r.join(' | ')} |`;
  process.stdout.write(`\nSendense benchmark ${new Date().toISOString()} (${process.env.BENCH_NOTE ?? 'this machine'})\n\n`);
  process.stdout.write(`${line(['what', 'Sendense', 'reference (same run)', 'ratio', 'target', 'met'])}\n${line(['---', '---', '---', '---', '---', '---'])}\n`);
  for (const r of rows) process.stdout.write(`${line([r.what, r.value, r.reference ?? '', r.ratio ?? '', r.target ?? '', r.pass === undefined ? '' : r.pass ? 'yes' : 'no'])}\n`);
  return 0;
}

process.exitCode = await main();
