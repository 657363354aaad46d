/**
 * Issue 3 §9: on a running lab VM with 3 GiB of random data in a 4 GiB disk, in one run, side by
 * side: Sendense's full backup to a loopback SSH repository; nbdcopy from the same kind of export
 * piped through OpenSSH (aes128-gcm) into a file; virtnbdbackup's full copy of the same VM to a
 * directory. Then 10 % aligned changes and an incremental (bytes sent ÷ bytes changed, time), and
 * an incremental of the unchanged VM end to end (library call and whole CLI process), repeated
 * with the host's load beside it, and what the CLI ran for it (SENDENSE_TRACE_RUN).
 */
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { rmSync, statSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createLabVm, type LabVm } from '../lab/vm.ts';
import { startRepoHost, type RepoHost } from '../lab/sshd.ts';
import { labDir, runId } from '../lab/paths.ts';
import { ensurePackages } from '../lab/packages.ts';
import { runBackup, type BackupDeps } from '../../agent/backup/backup.ts';
import { openBackupDeps } from '../../agent/engine/backup-job.ts';
import { hostContext } from '../../agent/engine/context.ts';
import { LibvirtHypervisor } from '../../agent/hypervisor/libvirt.ts';
import { run } from '../../agent/system/run.ts';
import { cli, sshArgs } from '../agent/fixture.ts';
import { bundleAgent } from '../../packaging/bundle.ts';
import { median, traceCounts, type TraceCounts } from './trace.ts';

const M = 1 << 20;
const G = 1 << 30;
const UNCHANGED_RUNS = Number(process.env.BENCH_UNCHANGED_RUNS ?? 5);

export interface Row { what: string; value: string; reference?: string; ratio?: string; target?: string; pass?: boolean }

function mibs(bytes: number, ms: number): number { return bytes / M / (ms / 1000); }

function pipe(a: [string, string[]], b: [string, string[]]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p1 = spawn(a[0], a[1], { stdio: ['ignore', 'pipe', 'pipe'] });
    const p2 = spawn(b[0], b[1], { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p1.stderr.on('data', (d) => { err += d; });
    p2.stderr.on('data', (d) => { err += d; });
    p1.stdout.pipe(p2.stdin);
    let n = 0;
    const done = (code: number | null) => {
      if (code !== 0) reject(new Error(`pipeline failed: ${err}`));
      else if (++n === 2) resolve();
    };
    p1.on('close', done);
    p2.on('close', done);
  });
}

async function nbdcopyOverSsh(vm: LabVm, host: RepoHost, workDir: string): Promise<number> {
  const hv = new LibvirtHypervisor();
  const dir = path.join(workDir, `ref-${Date.now()}`);
  const ex = await hv.beginBackup(vm.name, { disks: [{ target: 'vda' }], socketPath: path.join(dir, 'nbd.sock'), scratchDir: path.join(dir, 'scratch') });
  try {
    const t0 = Date.now();
    await pipe(['nbdcopy', [ex.exports[0].uri, '-']],
      ['ssh', ['-c', 'aes128-gcm@openssh.com', '-i', host.identityFile, '-p', String(host.port), '-o', `UserKnownHostsFile=${host.knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', `${host.user}@${host.host}`, `cat > '${host.root}/nbdcopy.raw'`]]);
    return Date.now() - t0;
  } finally {
    await hv.abortJob(vm.name);
  }
}

async function virtnbdbackupCopy(vm: LabVm, out: string): Promise<number> {
  rmSync(out, { recursive: true, force: true });
  const t0 = Date.now();
  await run('virtnbdbackup', ['-d', vm.name, '-l', 'copy', '-o', out, '-S', path.dirname(out), '-q'], { timeoutMs: 1_800_000 });
  return Date.now() - t0;
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) n += statSync(path.join(e.parentPath, e.name)).size;
  return n;
}

/**
 * The unchanged incremental: fixed costs only (no data moves), so noisy on a shared machine;
 * `runs` times through the engine and through the CLI process, min and median, the host's load
 * beside them, and what the CLI ran for it (SENDENSE_TRACE_RUN). `onCli` sees each CLI's stderr.
 */
export async function unchangedRows(deps: BackupDeps, domain: string, host: RepoHost, repoName: string, runs = UNCHANGED_RUNS, onCli?: (stderr: string, ms: number) => void): Promise<Row[]> {
  await bundleAgent(); // the CLI as shipped (a source newer than the bundle makes it run through tsx)
  const engineMs: number[] = [];
  const cliMs: number[] = [];
  const loads: number[] = [];
  let trace: TraceCounts | undefined;
  for (let i = 0; i < runs; i++) {
    loads.push(loadavg()[0]);
    const same = await runBackup(deps, { domain });
    if (same.type !== 'incremental') throw new Error(`the unchanged incremental was a ${same.type}: ${same.reason}`);
    engineMs.push(same.durationMs);
    process.env.SENDENSE_TRACE_RUN = '1'; // the CLI child prints every program and virsh command it runs
    const t0 = Date.now();
    const c = await cli(['backup', '--domain', domain, '--repo', host.url(repoName), ...sshArgs(host), '--json']);
    cliMs.push(Date.now() - t0);
    delete process.env.SENDENSE_TRACE_RUN;
    if (!c.json?.ok || c.json.type !== 'incremental') throw new Error(`CLI incremental failed: ${c.stdout} ${c.stderr}`);
    trace = traceCounts(c.stderr);
    onCli?.(c.stderr, cliMs[i]);
  }
  const sec = (ms: number) => (ms / 1000).toFixed(2);
  const rows: Row[] = [{
    what: `incremental of an unchanged VM, end to end (${runs} runs, min / median)`,
    value: `engine ${sec(Math.min(...engineMs))} / ${sec(median(engineMs))} s; CLI process ${sec(Math.min(...cliMs))} / ${sec(median(cliMs))} s`,
    reference: `load ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`, target: '≤ 2 s', pass: median(engineMs) <= 2000 && median(cliMs) <= 2000,
  }];
  if (trace) rows.push({ what: 'what the CLI runs for it', value: `${trace.processes} processes, ${trace.total - trace.processes} virsh session commands`, reference: trace.summary });
  return rows;
}

export async function benchAgent(log: (s: string) => void): Promise<Row[]> {
  ensurePackages(['virtnbdbackup']);
  const rows: Row[] = [];
  const host = await startRepoHost({ label: 'bench' });
  log('creating a VM with 3 GiB of random data in a 4 GiB disk');
  const vm = await createLabVm({ label: 'bench', transient: true, disks: [{ size: 4 * G, randomPrefix: 3 * G }] });
  const work = labDir('runs', runId(), 'bench-work');
  try {
    const deps = await openBackupDeps(hostContext(), { repo: host.url('bench'), identity: host.identityFile, knownHosts: host.knownHostsFile });
    try {
      // the reference first and last around ours, to see the machine's drift
      log('nbdcopy | ssh -c aes128-gcm (reference)');
      const ref1 = await nbdcopyOverSsh(vm, host, work);
      log(`  ${mibs(3 * G, ref1).toFixed(0)} MiB/s; Sendense full backup`);
      const full = await runBackup(deps, { domain: vm.name, mode: 'full' });
      log(`  ${mibs(full.bytesRead, full.durationMs).toFixed(0)} MiB/s; nbdcopy | ssh again`);
      const ref2 = await nbdcopyOverSsh(vm, host, work);
      log(`  ${mibs(3 * G, ref2).toFixed(0)} MiB/s; virtnbdbackup -l copy`);
      const vnb = await virtnbdbackupCopy(vm, path.join(work, 'virtnbdbackup'));
      log(`  ${mibs(3 * G, vnb).toFixed(0)} MiB/s (${(dirBytes(path.join(work, 'virtnbdbackup')) / M).toFixed(0)} MiB written)`);
      const ours = mibs(full.bytesRead, full.durationMs);
      const refBest = Math.max(mibs(3 * G, ref1), mibs(3 * G, ref2));
      const vnbRate = mibs(3 * G, vnb);
      rows.push({ what: 'full backup, 3 GiB data / 4 GiB disk → loopback SSH', value: `${ours.toFixed(0)} MiB/s (${(full.durationMs / 1000).toFixed(1)} s)`, reference: `nbdcopy|ssh aes128-gcm ${mibs(3 * G, ref1).toFixed(0)}/${mibs(3 * G, ref2).toFixed(0)} MiB/s`, ratio: (ours / refBest).toFixed(2), target: '≥ 0.8', pass: ours / refBest >= 0.8 });
      rows.push({ what: 'full backup vs virtnbdbackup -l copy (local dir)', value: `${ours.toFixed(0)} MiB/s`, reference: `virtnbdbackup ${vnbRate.toFixed(0)} MiB/s (${(vnb / 1000).toFixed(1)} s)`, ratio: (ours / vnbRate).toFixed(2), target: '≥ 1.5', pass: ours / vnbRate >= 1.5 });

      // 10 % aligned changes: 40 writes of 10 MiB, 64 KiB-aligned, spread over the disk
      const changed = 40 * 10 * M;
      for (let i = 0; i < 40; i++) await vm.write('vda', i * 100 * M, 10 * M, 0x40 + (i % 64));
      const incr = await runBackup(deps, { domain: vm.name });
      const ratio = incr.bytesSent / changed;
      rows.push({ what: 'incremental after 10 % aligned changes (400 MiB)', value: `sent ${(incr.bytesSent / M).toFixed(1)} MiB in ${(incr.durationMs / 1000).toFixed(1)} s`, reference: `changed ${(changed / M).toFixed(0)} MiB`, ratio: ratio.toFixed(3), target: '≤ 1.05', pass: ratio <= 1.05 });

      rows.push(...(await unchangedRows(deps, vm.name, host, 'bench')));
    } finally {
      await deps.close();
    }
  } finally {
    await vm.remove();
    await host.stop();
  }
  return rows;
}
