/**
 * Issue 3 §8, the life of a CloudStack VM around its backups, through the real CLI:
 * a transient domain destroyed and re-created between backups (libvirt forgets the checkpoint,
 * the bitmap stays in the qcow2) → the next backup is still incremental and correct; QEMU killed
 * with SIGKILL (the bitmap becomes inconsistent) → a full with the reason recorded; a persistent
 * VM backed up while shut off (qemu-nbd of the persistent bitmap) and then running again;
 * a sparse 8 GiB disk.
 */
import path from 'node:path';
import { readFileSync, statSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLabVm, type LabVm } from '../lab/vm.ts';
import { startRepoHost, type RepoHost } from '../lab/sshd.ts';
import { labDir, runId } from '../lab/paths.ts';
import { isAlive, waitFor } from '../lab/proc.ts';
import { virsh } from '../lab/virsh.ts';
import { backupWithCli, cli, sameContent, sshArgs } from './fixture.ts';

const M = 1 << 20;
let host: RepoHost;
const vms: LabVm[] = [];
beforeAll(async () => { host = await startRepoHost({ label: 'life' }); });
afterAll(async () => { for (const v of vms) await v.remove().catch(() => {}); await host?.stop(); });

const backup = async (vm: LabVm, repo: string, extra: string[] = []) => (await backupWithCli({ vm, host, repo, args: extra })).json;

async function restoreEquals(vm: LabVm, repo: string, disk: string, point: string, truth: string): Promise<boolean> {
  const to = path.join(labDir('runs', runId(), 'life-restores'), `${vm.name}-${disk}-${point}.qcow2`);
  const r = await cli(['restore', '--repo', host.url(repo), ...sshArgs(host), '--vm-id', vm.uuid, '--disk', disk, '--point', point, '--to', to, '--json']);
  expect(r.stderr, r.stderr).toBe('');
  return sameContent(to, 'qcow2', truth);
}

describe('agent: VM life cycle around backups', () => {
  it('a transient domain re-created between backups still gets a correct incremental', async () => {
    const vm = await createLabVm({ label: 'recreate', transient: true, disks: [{ size: 32 * M, init: [{ offset: 0, length: 4 * M, pattern: 0x31 }] }] });
    vms.push(vm);
    const b1 = await backup(vm, 'recreate');
    expect(b1.type).toBe('full');
    await vm.write('vda', 8 * M, M, 0x32);
    await vm.destroy(); // CloudStack stop: the transient domain is gone, libvirt forgets its checkpoints
    await vm.start(); // CloudStack start: a new domain from fresh XML
    expect(await virsh(['checkpoint-list', vm.name, '--name'])).not.toMatch(/sendense-/);
    await vm.write('vda', 16 * M, M, 0x33);
    const truth = await vm.truth('vda');
    const b2 = await backup(vm, 'recreate');
    expect(b2.type).toBe('incremental');
    expect(b2.reason).toMatch(/forgotten checkpoint .* redefined/);
    // only what changed: 2 MiB of writes (the write before the restart too — the bitmap was persisted)
    expect(b2.bytes_read).toBeGreaterThanOrEqual(2 * M);
    expect(b2.bytes_read).toBeLessThanOrEqual(2 * M);
    expect(await restoreEquals(vm, 'recreate', 'vda', b2.point_id, truth)).toBe(true);
  });

  async function killQemu(vm: LabVm): Promise<void> {
    const pid = await vm.qemuPid();
    process.kill(pid, 'SIGKILL');
    await waitFor('QEMU to die', () => !isAlive(pid), 20_000);
    await waitFor('libvirt to notice', async () => (await vm.state()) !== 'running', 20_000);
  }

  it('QEMU killed with SIGKILL: the next backup is full and says why', async () => {
    const vm = await createLabVm({ label: 'sigkill', transient: true, disks: [{ size: 32 * M, init: [{ offset: 0, length: 2 * M, pattern: 0x41 }] }] });
    vms.push(vm);
    expect((await backup(vm, 'sigkill')).type).toBe('full');
    // a clean stop and start first: QEMU loads the persistent bitmap from the image and marks it in use
    await vm.destroy();
    await vm.start();
    await vm.write('vda', 4 * M, M, 0x42);
    await killQemu(vm); // the host "crashes": the bitmap stays marked in use, so it is inconsistent
    await vm.start();
    const truth = await vm.truth('vda');
    const b = await backup(vm, 'sigkill');
    expect(b.type).toBe('full');
    expect(b.reason).toMatch(/inconsistent/);
    expect(await restoreEquals(vm, 'sigkill', 'vda', b.point_id, truth)).toBe(true);
    // the chain goes on from the new full
    await vm.write('vda', 6 * M, M, 0x43);
    const truth2 = await vm.truth('vda');
    const b3 = await backup(vm, 'sigkill');
    expect(b3.type).toBe('incremental');
    expect(await restoreEquals(vm, 'sigkill', 'vda', b3.point_id, truth2)).toBe(true);
    // killed before the bitmap ever reached the image (it was created while QEMU ran): missing, also a full
    await killQemu(vm);
    await vm.start();
    const b4 = await backup(vm, 'sigkill');
    expect(b4.type).toBe('full');
    expect(b4.reason).toMatch(/missing/);
  });

  it('a stopped VM: incremental through qemu-nbd and the persistent bitmap, then running again', async () => {
    const vm = await createLabVm({ label: 'stopped', transient: false, disks: [{ size: 32 * M, init: [{ offset: 0, length: 2 * M, pattern: 0x51 }] }, { size: 16 * M }] });
    vms.push(vm);
    expect((await backup(vm, 'stopped')).type).toBe('full');
    await vm.write('vda', 10 * M, M, 0x52);
    await vm.write('vdb', 0, 64 * 1024, 0x53);
    await vm.destroy(); // shut off: bitmaps flushed into the qcow2
    expect(await vm.state()).toBe('shut off');
    const ta = await vm.truth('vda');
    const tb = await vm.truth('vdb');
    const b2 = await backup(vm, 'stopped');
    expect(b2.type).toBe('incremental');
    expect(b2.bytes_read).toBe(2 * M); // the 1 MiB block on vda and the 1 MiB block on vdb
    expect(await restoreEquals(vm, 'stopped', 'vda', b2.point_id, ta)).toBe(true);
    expect(await restoreEquals(vm, 'stopped', 'vdb', b2.point_id, tb)).toBe(true);
    await vm.start();
    await vm.write('vda', 20 * M, M, 0x54);
    const ta3 = await vm.truth('vda');
    const b3 = await backup(vm, 'stopped');
    expect(b3.type).toBe('incremental');
    expect(await restoreEquals(vm, 'stopped', 'vda', b3.point_id, ta3)).toBe(true);
  });

  it('a sparse 8 GiB disk: only the data is read and stored', async () => {
    const G = 1 << 30;
    const vm = await createLabVm({ label: 'sparse', transient: true, disks: [{ size: 8 * G, init: [{ offset: 0, length: M, pattern: 0x61 }, { offset: 5 * G, length: 2 * M, pattern: 0x62 }, { offset: 8 * G - M, length: M, pattern: 0x63 }] }] });
    vms.push(vm);
    const truth = await vm.truth('vda');
    const b = await backup(vm, 'sparse');
    expect(b.type).toBe('full');
    expect(b.bytes_read).toBe(4 * M);
    expect(b.bytes_sent).toBeLessThan(8 * M);
    expect(await restoreEquals(vm, 'sparse', 'vda', b.point_id, truth)).toBe(true);
    await vm.write('vda', 3 * G, 64 * 1024, 0x64);
    const truth2 = await vm.truth('vda');
    const b2 = await backup(vm, 'sparse');
    expect(b2.type).toBe('incremental');
    expect(b2.bytes_read).toBe(M);
    expect(await restoreEquals(vm, 'sparse', 'vda', b2.point_id, truth2)).toBe(true);
    // the repository holds a few MiB for an 8 GiB disk
    const dir = path.join(host.root, 'sparse', vm.uuid, 'disk-0');
    const total = readdirSync(dir).reduce((n, f) => n + statSync(path.join(dir, f)).size, 0);
    expect(total).toBeLessThan(8 * M);
    void readFileSync;
  });
});
