/**
 * Issue 6: restore throughput of a chain — a full and 3 incrementals of a 1 GiB disk holding
 * 768 MiB of random data — from an SSH repository on loopback to a local raw and qcow2 file,
 * every block verified, side by side in the same run with `qemu-img convert` of the same chain
 * run ON the repository host (over ssh, into a file beside the chain: the chain read locally, no
 * network, no digests — the fastest way the repository host itself could materialize the image),
 * and that convert followed by `ssh cat` of the result back to the agent host (what an admin
 * without Sendense would do to get the image here).
 */
import { rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { createLabVm } from '../lab/vm.ts';
import { startRepoHost, type RepoHost } from '../lab/sshd.ts';
import { labDir, runId } from '../lab/paths.ts';
import { runBackup } from '../../agent/backup/backup.ts';
import { openBackupDeps } from '../../agent/engine/backup-job.ts';
import { hostContext } from '../../agent/engine/context.ts';
import { LocalRestoreFile } from '../../agent/restore/local-file.ts';
import { restoreDisk } from '../../agent/restore/restore.ts';
import { Repository } from '../../agent/repository/repository.ts';
import { run } from '../../agent/system/run.ts';
import type { Row } from './agent.ts';

const M = 1 << 20;
const G = 1 << 30;

const mibs = (bytes: number, ms: number) => bytes / M / (ms / 1000);

function sshArgs(h: RepoHost): string[] {
  return ['-c', 'aes128-gcm@openssh.com', '-i', h.identityFile, '-p', String(h.port), '-o', `UserKnownHostsFile=${h.knownHostsFile}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', `${h.user}@${h.host}`];
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = Date.now();
  await fn();
  return Date.now() - t0;
}

export async function benchRestore(log: (s: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const host = await startRepoHost({ label: 'bench-restore' });
  log('restore: a VM with 768 MiB of random data in a 1 GiB disk, full + 3 incrementals of 64 MiB changes each');
  const vm = await createLabVm({ label: 'bench-restore', transient: true, disks: [{ size: G, randomPrefix: 768 * M }] });
  const work = labDir('runs', runId(), 'bench-restore');
  const deps = await openBackupDeps(hostContext(), { repo: host.url('restore'), identity: host.identityFile, knownHosts: host.knownHostsFile });
  try {
    await runBackup(deps, { domain: vm.name, mode: 'full' });
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 4; j++) await vm.write('vda', (i * 256 + j * 61 + 7) * M, 16 * M, 0x30 + i * 4 + j);
      await runBackup(deps, { domain: vm.name });
    }
    const repo = new Repository(deps.target);
    const head = (await repo.head(vm.uuid))!;
    const links = await repo.chain(vm.uuid, head.id, 'vda');
    const size = head.disks[0].virtual_size;
    const top = path.join(host.root, 'restore', vm.uuid, links[links.length - 1].disk.image);
    log(`  chain of ${links.length}: ${links.map((l) => l.disk.image).join(' <- ')}`);

    const ours = async (format: 'raw' | 'qcow2') => {
      const to = path.join(work, `restored.${format}`);
      rmSync(to, { force: true });
      const r = await restoreDisk(deps.target, await LocalRestoreFile.create(to), { vm: vm.uuid, disk: 'vda', point: head.id, format });
      return { ms: r.durationMs, read: r.bytesRead, file: statSync(to).size };
    };
    const convertOnHost = (format: 'raw' | 'qcow2') => timed(() => run('ssh', [...sshArgs(host), `qemu-img convert -O ${format} ${top} ${host.root}/ref.${format} && sync ${host.root}/ref.${format}`], { timeoutMs: 900_000 }));
    const convertAndFetch = (format: 'raw' | 'qcow2') => timed(async () => {
      const to = path.join(work, `ref.${format}`);
      await run('sh', ['-c', `ssh ${sshArgs(host).map((a) => `'${a}'`).join(' ')} 'qemu-img convert -O ${format} ${top} ${host.root}/ref.${format} && cat ${host.root}/ref.${format}' > '${to}' && sync '${to}'`], { timeoutMs: 900_000 });
    });

    for (const format of ['raw', 'qcow2'] as const) {
      log(`  ${format}: qemu-img convert on the repository host (reference)`);
      const ref1 = await convertOnHost(format);
      log(`    ${mibs(size, ref1).toFixed(0)} MiB/s; Sendense restore over SSH`);
      const a = await ours(format);
      log(`    ${mibs(size, a.ms).toFixed(0)} MiB/s (${(a.read / M).toFixed(0)} MiB read); convert on host + ssh cat back`);
      const ref2 = await convertAndFetch(format);
      log(`    ${mibs(size, ref2).toFixed(0)} MiB/s; qemu-img convert on the host again`);
      const ref3 = await convertOnHost(format);
      const best = Math.max(mibs(size, ref1), mibs(size, ref3));
      const rate = mibs(size, a.ms);
      rows.push({
        what: `restore ${format}, chain of ${links.length} (1 GiB virtual, ${(a.read / M).toFixed(0)} MiB data) ← loopback SSH, verified`,
        value: `${rate.toFixed(0)} MiB/s (${(a.ms / 1000).toFixed(1)} s)`,
        reference: `qemu-img convert -O ${format} on the repo host ${mibs(size, ref1).toFixed(0)}/${mibs(size, ref3).toFixed(0)} MiB/s; + ssh cat back ${mibs(size, ref2).toFixed(0)} MiB/s`,
        ratio: (rate / best).toFixed(2),
        target: '≥ 0.5 of convert on the host',
        pass: rate / best >= 0.5,
      });
      rows.push({
        what: `restore ${format} vs convert on the host + ssh cat back`,
        value: `${rate.toFixed(0)} MiB/s`,
        reference: `${mibs(size, ref2).toFixed(0)} MiB/s (${(ref2 / 1000).toFixed(1)} s)`,
        ratio: (rate / mibs(size, ref2)).toFixed(2),
        target: '≥ 1',
        pass: rate >= mibs(size, ref2),
      });
    }
  } finally {
    await deps.close();
    await vm.remove();
    await host.stop();
  }
  return rows;
}
