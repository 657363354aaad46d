/**
 * Issue 3 §9: on a running lab VM with 3 GiB of random data in a 4 GiB disk, in one run, side by
 * side: Sendense's full backup to a loopback SSH repository; nbdcopy from the same kind of export
 * piped through OpenSSH (aes128-gcm) into a file; virtnbdbackup's full copy of the same VM to a
 * directory. Then 10 % aligned changes and an incremental (bytes sent ÷ bytes changed, time), and
 * an incremental of the unchanged VM end to end (library call and whole CLI process).
 */
import { spawn } from 'node:child_process';
import { rmSync, statSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { createLabVm, type LabVm } from '../lab/vm.ts';
import { startRepoHost, type RepoHost } from '../lab/sshd.ts';
import { labDir, runId } from '../lab/paths.ts';
import { ensurePackages } from '../lab/packages.ts';
import { runBackup } from '../../agent/backup/backup.ts';
import { agentDeps } from '../../agent/cli/deps.ts';
import { LibvirtHypervisor } from '../../agent/hypervisor/libvirt.ts';
import { run } from '../../agent/system/run.ts';
import { cli, sshArgs } from '../agent/fixture.ts';

const M = 1 << 20;
const G = 1 << 30;

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

export async function benchAgent(log: (s: string) => void): Promise<Row[]> {
  ensurePackages(['virtnbdbackup']);
  const rows: Row[] = [];
  const host = await startRepoHost({ label: 'bench' });
  log('creating a VM with 3 GiB of random data in a 4 GiB disk');
  const vm = await createLabVm({ label: 'bench', transient: true, disks: [{ size: 4 * G, randomPrefix: 3 * G }] });
  const work = labDir('runs', runId(), 'bench-work');
  try {
    const deps = await agentDeps({ repo: host.url('bench'), identity: host.identityFile, knownHosts: host.knownHostsFile });
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

      const same = await runBackup(deps, { domain: vm.name });
      const t0 = Date.now();
      const c = await cli(['backup', '--domain', vm.name, '--repo', host.url('bench'), ...sshArgs(host), '--json']);
      const cliMs = Date.now() - t0;
      if (!c.json?.ok) throw new Error(`CLI incremental failed: ${c.stderr}`);
      rows.push({ what: 'incremental of an unchanged VM, end to end', value: `engine ${(same.durationMs / 1000).toFixed(2)} s; CLI process ${(cliMs / 1000).toFixed(2)} s`, target: '≤ 2 s', pass: same.durationMs <= 2000 && cliMs <= 2000 });
    } finally {
      await deps.close();
    }
  } finally {
    await vm.remove();
    await host.stop();
  }
  return rows;
}
