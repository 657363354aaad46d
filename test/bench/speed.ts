/**
 * The speed table (issue 14), in one run, side by side with the stock tools on the same VM:
 * - full backup → loopback SSH vs `nbdcopy URI - | ssh -c aes128-gcm cat > f`;
 * - restore raw ← SSH of the full and of a chain of 4 vs `ssh cat` of the chain's images +
 *   local `qemu-img convert -O raw`;
 * with wall-clock MiB/s AND client CPU seconds per GiB (user+sys of the process tree: ours is this
 * process and its virsh sessions, theirs the pipeline's processes; sshd's side counted for nobody),
 * because on a shared machine only the CPU figure is stable. Every result is checked bit-exact:
 * the restored full equals the reference's copy of the disk, the restored chain equals qemu-img's
 * reading of it. `--prof DIR` writes a CPU profile of each Sendense stretch and prints its top entries.
 *
 *   npx tsx test/bench/speed.ts [--gib 1] [--rounds 2] [--prof DIR]     (or `npm run bench -- speed`)
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createLabVm, type LabVm } from '../lab/vm.ts';
import { startRepoHost, type RepoHost } from '../lab/sshd.ts';
import { labDir, runId } from '../lab/paths.ts';
import { runBackup } from '../../agent/backup/backup.ts';
import { openBackupDeps } from '../../agent/engine/backup-job.ts';
import { hostContext } from '../../agent/engine/context.ts';
import { LibvirtHypervisor } from '../../agent/hypervisor/libvirt.ts';
import { LocalRestoreFile } from '../../agent/restore/local-file.ts';
import { restoreDisk } from '../../agent/restore/restore.ts';
import { Repository } from '../../agent/repository/repository.ts';
import type { Row } from './agent.ts';
import { measured, timedShell } from './cpu.ts';
import { profiled } from './profile.ts';

const M = 1 << 20;
const G = 1 << 30;

export interface SpeedOptions { gib?: number; rounds?: number; prof?: string }

interface Figure { ms: number; cpu: number; bytes: number }
const rate = (f: Figure) => f.bytes / M / (f.ms / 1000);
const perGiB = (f: Figure) => f.cpu / (f.bytes / G);
const show = (fs: Figure[]) => `${fs.map((f) => rate(f).toFixed(0)).join(' / ')} MiB/s, ${fs.map((f) => perGiB(f).toFixed(2)).join(' / ')} CPU-s/GiB`;
const best = (fs: Figure[], by: (f: Figure) => number, max: boolean) => fs.map(by).reduce((a, b) => (max ? Math.max(a, b) : Math.min(a, b)));

function sshCmd(h: RepoHost): string {
  return `ssh -c aes128-gcm@openssh.com -i ${h.identityFile} -p ${h.port} -o UserKnownHostsFile=${h.knownHostsFile} -o StrictHostKeyChecking=yes -o BatchMode=yes ${h.user}@${h.host}`;
}

async function fileSha(file: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(file, { highWaterMark: 4 * M })) h.update(c as Buffer);
  return h.digest('hex');
}

async function nbdcopyOverSsh(vm: LabVm, host: RepoHost, work: string, out: string): Promise<Figure> {
  const hv = new LibvirtHypervisor();
  const dir = path.join(work, `ref-${Date.now()}`);
  const ex = await hv.beginBackup(vm.name, { disks: [{ target: 'vda' }], socketPath: path.join(dir, 'nbd.sock'), scratchDir: path.join(dir, 'scratch') });
  try {
    const r = await timedShell(`nbdcopy '${ex.exports[0].uri}' - | ${sshCmd(host)} 'cat > ${out}'`);
    return { ...r, bytes: vm.disk('vda').size };
  } finally {
    await hv.abortJob(vm.name);
  }
}

export async function benchSpeed(log: (s: string) => void, o: SpeedOptions = {}): Promise<Row[]> {
  const gib = o.gib ?? 1;
  const rounds = o.rounds ?? 2;
  const size = gib * G;
  const rows: Row[] = [];
  const host = await startRepoHost({ label: 'speed' });
  log(`speed: a running VM with ${gib} GiB of random data (disk ${gib} GiB), loopback SSH repository, ${rounds} rounds`);
  const vm = await createLabVm({ label: 'speed', transient: true, disks: [{ size, randomPrefix: size }] });
  const work = labDir('runs', runId(), 'bench-speed');
  mkdirSync(work, { recursive: true });
  const deps = await openBackupDeps(hostContext(), { repo: host.url('speed'), identity: host.identityFile, knownHosts: host.knownHostsFile });
  const top: Record<string, string[]> = {};
  try {
    // full backup, interleaved with the reference
    const ours: Figure[] = [];
    const ref: Figure[] = [];
    let refSha = '';
    let pointId = '';
    for (let i = 0; i < rounds; i++) {
      const refOut = path.join(host.root, 'nbdcopy.raw');
      ref.push(await nbdcopyOverSsh(vm, host, work, refOut));
      if (i === 0) refSha = await fileSha(refOut);
      rmSync(refOut, { force: true });
      const p = await profiled(i === 0 ? o.prof : undefined, 'full-backup', () => measured(() => runBackup(deps, { domain: vm.name, mode: 'full' })));
      if (p.top) top['full backup → SSH'] = p.top;
      ours.push({ ms: p.value.ms, cpu: p.value.cpu, bytes: p.value.value.bytesRead });
      pointId = p.value.value.pointId;
      log(`  round ${i + 1}: nbdcopy|ssh ${show([ref[i]])}; Sendense ${show([ours[i]])}`);
    }
    const speedRatio = best(ours, rate, true) / best(ref, rate, true);
    const cpuRatio = best(ours, perGiB, false) / best(ref, perGiB, false);
    rows.push({ what: `full backup → loopback SSH (${gib} GiB random, running VM)`, value: show(ours), reference: `nbdcopy | ssh -c aes128-gcm cat: ${show(ref)}`, ratio: `${speedRatio.toFixed(2)} speed, ${cpuRatio.toFixed(2)} CPU`, target: '≥ 1.2 speed, ≤ 1.0 CPU', pass: speedRatio >= 1.2 && cpuRatio <= 1.0 });

    // restore raw of the full
    const restore = async (point: string, label: string, expect: string): Promise<Figure[]> => {
      const repo = new Repository(deps.target);
      const links = await repo.chain(vm.uuid, point, 'vda');
      const dir = path.join(host.root, 'speed', vm.uuid);
      const images = links.map((l) => path.join(dir, l.disk.image));
      const fetched = path.join(work, 'fetched');
      const ourFs: Figure[] = [];
      const refFs: Figure[] = [];
      for (let i = 0; i < rounds; i++) {
        rmSync(fetched, { recursive: true, force: true });
        mkdirSync(fetched, { recursive: true });
        const refOut = path.join(work, 'ref.raw');
        rmSync(refOut, { force: true });
        // the stock way: fetch the images, then convert the chain locally
        const fetch = images.map((img) => `${sshCmd(host)} 'cat ${img}' > ${path.join(fetched, path.basename(img))}`).join(' && ');
        const r = await timedShell(`${fetch} && qemu-img convert -O raw ${path.join(fetched, path.basename(images.at(-1)!))} ${refOut} && sync ${refOut}`);
        refFs.push({ ...r, bytes: size });
        const refSha2 = await fileSha(refOut);
        if (refSha2 !== expect) throw new Error(`[bench] qemu-img's reading of the chain ${label} differs from the disk's content`);
        const to = path.join(work, 'restored.raw');
        rmSync(to, { force: true });
        const p = await profiled(i === 0 ? o.prof : undefined, `restore-${label.replace(/\W+/g, '-')}`, () => measured(async () => restoreDisk(deps.target, await LocalRestoreFile.create(to), { vm: vm.uuid, disk: 'vda', point, format: 'raw' })));
        if (p.top) top[`restore raw ${label} ← SSH`] = p.top;
        ourFs.push({ ms: p.value.ms, cpu: p.value.cpu, bytes: size });
        if ((await fileSha(to)) !== expect) throw new Error(`[bench] the restored ${label} differs from the disk's content`);
        rmSync(to, { force: true });
        log(`  restore ${label} round ${i + 1}: ssh cat + qemu-img convert ${show([refFs[i]])}; Sendense ${show([ourFs[i]])}`);
      }
      const s = best(ourFs, rate, true) / best(refFs, rate, true);
      const c = best(ourFs, perGiB, false) / best(refFs, perGiB, false);
      rows.push({ what: `restore raw ${label} ← loopback SSH, every block verified`, value: show(ourFs), reference: `ssh cat + qemu-img convert -O raw: ${show(refFs)}`, ratio: `${s.toFixed(2)} speed, ${c.toFixed(2)} CPU`, target: '≥ 1.0 speed, ≤ 1.0 CPU', pass: s >= 1.0 && c <= 1.0 });
      return ourFs;
    };
    await restore(pointId, 'of the full', refSha);

    // a chain of 4: three incrementals of 4 × 16 MiB changes each
    for (let i = 0; i < 3; i++) {
      for (let j = 0; j < 4; j++) await vm.write('vda', ((i * 256 + j * 61 + 7) * M) % (size - 16 * M), 16 * M, 0x30 + i * 4 + j);
      const r = await runBackup(deps, { domain: vm.name });
      if (r.type !== 'incremental') throw new Error(`[bench] expected an incremental, got ${r.type}: ${r.reason}`);
      pointId = r.pointId;
    }
    // the VM's content now, as the reference reads it
    const nowOut = path.join(host.root, 'now.raw');
    await nbdcopyOverSsh(vm, host, work, nowOut);
    const nowSha = await fileSha(nowOut);
    rmSync(nowOut, { force: true });
    await restore(pointId, 'of a chain of 4', nowSha);
  } finally {
    await deps.close();
    await vm.remove();
    await host.stop();
    rmSync(work, { recursive: true, force: true });
  }
  for (const [k, v] of Object.entries(top)) log(`profile, ${k} (self time, top entries):\n${v.map((l) => `    ${l}`).join('\n')}`);
  return rows;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { parseArgs } = await import('node:util');
  const { startLibvirt, stopLibvirt } = await import('../lab/daemons.ts');
  const { cleanupRun, cleanupStale } = await import('../lab/cleanup.ts');
  const { values } = parseArgs({ options: { gib: { type: 'string' }, rounds: { type: 'string' }, prof: { type: 'string' } } });
  process.env.SENDENSE_LAB_RUN = String(process.pid);
  process.env.SENDENSE_AGENT_WORKDIR ??= `/var/tmp/sendense-lab/runs/${process.pid}/agent-work`;
  const daemons = await startLibvirt();
  await cleanupStale(runId());
  try {
    const log = (s: string) => process.stderr.write(`[speed] ${s}\n`);
    const rows = await benchSpeed(log, { gib: values.gib ? Number(values.gib) : undefined, rounds: values.rounds ? Number(values.rounds) : undefined, prof: values.prof });
    for (const r of rows) process.stdout.write(`| ${r.what} | ${r.value} | ${r.reference} | ${r.ratio} | ${r.target} | ${r.pass ? 'yes' : 'no'} |\n`);
  } finally {
    await cleanupRun(runId()).catch(() => {});
    if (!process.env.SENDENSE_LAB_KEEP_DAEMONS) await stopLibvirt(daemons);
  }
}
