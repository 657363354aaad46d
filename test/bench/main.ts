/**
 * `npm run bench`: Sendense's figures side by side with reference tools run in the same process
 * run, as ratios (these machines are noisy). Needs root; sets up the lab like the tests do.
 */
import { ensurePackages } from '../lab/packages.ts';
import { startLibvirt, stopLibvirt } from '../lab/daemons.ts';
import { cleanupRun, cleanupStale } from '../lab/cleanup.ts';
import { runId } from '../lab/paths.ts';
import { benchAgent, type Row } from './agent.ts';
import { benchApi } from './api.ts';
import { benchFleet } from './fleet.ts';
import { benchRestore } from './restore.ts';

const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

async function main(): Promise<number> {
  process.env.SENDENSE_LAB_RUN = String(process.pid);
  process.env.SENDENSE_AGENT_WORKDIR ??= `/var/tmp/sendense-lab/runs/${process.pid}/agent-work`;
  ensurePackages();
  const daemons = await startLibvirt();
  await cleanupStale(runId());
  const rows: Row[] = [];
  const only = process.argv.slice(2);
  try {
    if (!only.length || only.includes('agent')) rows.push(...(await benchAgent(log)));
    if (!only.length || only.includes('api')) rows.push(...(await benchApi(log)));
    if (!only.length || only.includes('fleet')) rows.push(...(await benchFleet(log)));
    if (!only.length || only.includes('restore')) rows.push(...(await benchRestore(log)));
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
