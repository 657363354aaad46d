/**
 * Proof that the lab is real: a transient TCG VM, a checkpoint, guest-like writes, a pull-mode
 * backup with an NBD unix socket, the dirty map and the data read from the export with libnbd's
 * own tools, the job ended, and what was read compared with the paused disk's content.
 * Also: the repository hosts (sshd on loopback and in a network namespace) answer for real.
 */
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../agent/system/run.ts';
import { createLabVm, type LabVm } from './vm.ts';
import { virsh } from './virsh.ts';
import { labDir, runId } from './paths.ts';
import { qemuWritableDir } from './daemons.ts';
import { startRepoHost, type RepoHost } from './sshd.ts';
import { createNetns, type LabNetns } from './netns.ts';

const MiB = 1 << 20;
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => { for (const c of cleanups.reverse()) await c().catch(() => {}); });

function checkpointXml(name: string, disk = 'vda'): string {
  return `<domaincheckpoint><name>${name}</name><disks><disk name='${disk}' checkpoint='bitmap'/></disks></domaincheckpoint>`;
}

describe('host lab', () => {
  it('pull-mode incremental backup of a transient VM reads exactly the paused disk', async () => {
    const vm: LabVm = await createLabVm({
      label: 'proof', transient: true,
      disks: [{ size: 64 * MiB, init: [{ offset: 0, length: 8 * MiB, pattern: 0x33 }] }],
    });
    cleanups.push(() => vm.remove());
    expect(await vm.state()).toBe('running');
    // a transient domain: libvirt does not know it once destroyed
    expect((await virsh(['dominfo', vm.name])).match(/Persistent:\s+(\w+)/)?.[1]).toBe('no');

    const dir = labDir('runs', runId(), vm.name, 'job');
    const f1 = path.join(dir, 'cp1.xml');
    await run('sh', ['-c', 'cat > "$1"', 'sh', f1], { input: checkpointXml('sendense-cp1') });
    await virsh(['checkpoint-create', vm.name, f1]);
    expect(await virsh(['checkpoint-list', vm.name, '--name'])).toContain('sendense-cp1');

    // guest-like writes: data, unaligned data, a zero write
    await vm.write('vda', 3 * MiB, 2 * MiB, 0x5a);
    await vm.write('vda', 20 * MiB + 4096, 1000, 0x5b);
    await vm.zero('vda', 0, 64 * 1024);

    // the truth: the disk's content while paused; begin the backup while paused, then resume and write more
    await vm.pause();
    const truth = await vm.truth('vda');
    const sockDir = qemuWritableDir(path.join(dir, 'nbd'));
    const sock = path.join(sockDir, 'backup.sock');
    const backupXml = `<domainbackup mode='pull'><incremental>sendense-cp1</incremental>
      <server transport='unix' socket='${sock}'/>
      <disks><disk name='vda' backup='yes' type='file'><scratch file='${path.join(sockDir, 'scratch-vda.qcow2')}'/></disk></disks>
    </domainbackup>`;
    const bx = path.join(dir, 'backup.xml');
    const cx = path.join(dir, 'cp2.xml');
    await run('sh', ['-c', 'cat > "$1"', 'sh', bx], { input: backupXml });
    await run('sh', ['-c', 'cat > "$1"', 'sh', cx], { input: checkpointXml('sendense-cp2') });
    await virsh(['backup-begin', vm.name, bx, cx]);
    await vm.resume();
    await vm.write('vda', 40 * MiB, MiB, 0x77); // after the point in time: must not be in the export

    const dump = await virsh(['backup-dumpxml', vm.name]);
    const bitmap = /exportbitmap='([^']+)'/.exec(dump)?.[1];
    expect(bitmap).toBeTruthy();
    const uri = `nbd+unix:///vda?socket=${sock}`;
    const map = JSON.parse((await run('nbdinfo', ['--json', `--map=qemu:dirty-bitmap:${bitmap}`, uri])).stdout) as { offset: number; length: number; type: number }[];
    const dirty = map.filter((e) => e.type & 1).map((e) => [e.offset, e.offset + e.length]);
    // 64 KiB granularity: the zero write at 0, 3-5 MiB, and the cluster holding 20 MiB+4096
    expect(dirty).toEqual([[0, 64 * 1024], [3 * MiB, 5 * MiB], [20 * MiB, 20 * MiB + 64 * 1024]]);

    const exported = path.join(dir, 'export.raw');
    await run('nbdcopy', [uri, exported]);
    await virsh(['domjobabort', vm.name]);
    await expect(virsh(['domjobinfo', vm.name])).resolves.toMatch(/Job type:\s+None/);
    expect(existsSync(sock)).toBe(false);

    const a = readFileSync(exported);
    const b = readFileSync(truth);
    expect(a.length).toBe(64 * MiB);
    expect(a.equals(b)).toBe(true);
    expect(a[3 * MiB]).toBe(0x5a);
    expect(a[0]).toBe(0);
    expect(a[40 * MiB]).toBe(0); // the later write is not in the point in time
    expect(await virsh(['checkpoint-list', vm.name, '--name'])).toContain('sendense-cp2');
  });

  it('runs a repository host on loopback and a second one in a network namespace', async () => {
    const h1: RepoHost = await startRepoHost({ label: 'repo1' });
    cleanups.push(() => h1.stop());
    expect((await h1.ssh('id -un; echo $0')).split('\n').slice(0, 2)).toEqual(['sendense-repo', 'sh']);
    await h1.ssh(`echo hello > '${h1.root}/x'`);
    expect(readFileSync(path.join(h1.root, 'x'), 'utf8')).toBe('hello\n');

    const ns: LabNetns = await createNetns('host2');
    cleanups.push(() => ns.remove());
    const h2 = await startRepoHost({ label: 'repo2', netns: ns });
    cleanups.push(() => h2.stop());
    expect(h2.host).toBe(ns.address);
    expect(h2.host).not.toMatch(/^127\./);
    // the second host has its own network stack: its address is not on loopback in the root namespace
    const addrs = (await run('ip', ['-n', ns.name, '-o', 'addr'])).stdout;
    expect(addrs).toContain(ns.address);
    expect((await h2.ssh('echo $((6*7))')).trim()).toBe('42');
  });
});
