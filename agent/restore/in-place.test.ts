/**
 * The in-place restore's pure steps on the memory adapters: settling a crashed restore's leftovers
 * (each of the states a crash can leave) and refusing a volume a running or paused domain uses.
 * The whole restore, interrupted and not, runs on the lab in test/agent/restore-modes.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { MemoryHypervisor } from '../hypervisor/memory.ts';
import { assertVolumeFree, inPlaceNames, recoverVolume, restoreInPlace } from './in-place.ts';
import { MemoryVolumeProbe } from './in-place-probe.ts';
import { MemoryLocalFiles } from './memory-files.ts';

const VOL = '/pool/vol-1';

describe('recoverVolume', () => {
  it('nothing left: does nothing', async () => {
    const files = new MemoryLocalFiles();
    files.put(VOL, Buffer.from('original'));
    files.put('/pool/.other.sendense-rollback-j', Buffer.from('another volume'));
    expect(await recoverVolume(files, VOL)).toEqual([]);
    expect(files.syncs).toBe(0);
  });

  it('died after moving the volume aside: puts it back (same file), removes the unfinished image', async () => {
    const files = new MemoryLocalFiles();
    const { rollback, temp } = inPlaceNames(VOL, 'j1');
    files.put(rollback, Buffer.from('original'));
    const ino = (await files.stat(rollback))!.ino;
    files.put(temp, Buffer.from('new'));
    files.put(`${temp}.sendense-partial`, Buffer.from('ne'));
    const said = await recoverVolume(files, VOL);
    expect(said).toHaveLength(3);
    expect(said[0]).toMatch(/interrupted after moving the volume aside: put the previous content back/);
    expect(files.get(VOL)?.toString()).toBe('original');
    expect((await files.stat(VOL))!.ino).toBe(ino);
    expect((await files.list('/pool')).sort()).toEqual(['vol-1']);
    expect(files.syncs).toBe(1);
  });

  it('died after the verified image was in place: removes the rollback, keeps the volume', async () => {
    const files = new MemoryLocalFiles();
    files.put(VOL, Buffer.from('restored'));
    files.put(inPlaceNames(VOL, 'j2').rollback, Buffer.from('original'));
    expect((await recoverVolume(files, VOL))[0]).toMatch(/had put its verified image in place .* removed/);
    expect(files.get(VOL)?.toString()).toBe('restored');
    expect(await files.list('/pool')).toEqual(['vol-1']);
  });
});

describe('assertVolumeFree', () => {
  it('refuses a volume of a running or paused domain, by path or by the same file; a stopped one is free', async () => {
    const hv = new MemoryHypervisor();
    const files = new MemoryLocalFiles();
    const d = hv.createDomain({ name: 'i-2-10-VM', start: false, disks: [{ size: 1 << 20, image: VOL }] });
    files.put(VOL, Buffer.alloc(16));
    const info = (await files.stat(VOL))!;
    await assertVolumeFree({ hypervisor: hv, files }, VOL, info);
    hv.start(d.uuid);
    await expect(assertVolumeFree({ hypervisor: hv, files }, VOL, info)).rejects.toThrow(/is disk vda of domain i-2-10-VM, which is running: stop the VM/);
    hv.pause(d.uuid);
    await expect(assertVolumeFree({ hypervisor: hv, files }, VOL, info)).rejects.toThrow(/which is paused/);
    // the same file under another name (a symlinked pool path): same device and inode
    await files.rename(VOL, '/pool/alias');
    files.files.set(VOL, files.files.get('/pool/alias')!);
    await expect(assertVolumeFree({ hypervisor: hv, files }, '/pool/alias', info)).rejects.toThrow(/which is paused/);
  });
});

describe('restoreInPlace is exclusive (issue 12 item 2)', () => {
  const MiB = 1 << 20;

  /** a stopped VM with one point of its 2 MiB disk in a memory repository, and its volume file */
  async function pointAndVolume() {
    const { runBackup } = await import('../backup/backup.ts');
    const { parseNbdUri } = await import('../nbd/uri.ts');
    const { MemoryTarget } = await import('../target/memory.ts');
    const hv = new MemoryHypervisor();
    const target = new MemoryTarget();
    const dom = hv.createDomain({ name: 'i-2-10-VM', transient: true, disks: [{ size: 2 * MiB }] });
    hv.write('i-2-10-VM', 'vda', 0, Buffer.alloc(2 * MiB, 0x6b));
    const point = await runBackup({
      hypervisor: hv, target, workDir: '/work', host: 'h',
      openSource: async (uri) => { const a = parseNbdUri(uri); return hv.exportSource((a as { socket: string }).socket, a.export); },
      diskSize: async (_d, disk) => hv.content(disk.source).length,
    }, { domain: 'i-2-10-VM' });
    hv.destroy(dom.uuid); // the VM is stopped (transient: libvirt forgets it)
    const files = new MemoryLocalFiles();
    files.put(VOL, Buffer.alloc(2 * MiB, 0x01));
    const probe = new MemoryVolumeProbe();
    const deps = { target, hypervisor: hv, files, probe, host: 'h', processAlive: () => true };
    return { hv, target, dom, point, files, probe, deps };
  }

  it('a VM started mid-restore (its image lock taken): refused right before the swap, the volume as it was', async () => {
    const { dom, point, files, probe, deps } = await pointAndVolume();
    const e = await restoreInPlace(deps, {
      vm: dom.uuid, disk: 'vda', point: point.pointId, path: VOL, format: 'raw', job: 'j1',
      onStep: (s) => { if (s === 'checked') probe.hold(VOL, 'qemu of i-2-10-VM on host kvm-2'); },
    }).then(() => undefined, (x: Error) => x);
    expect(e?.message).toMatch(/in-place restore of .* onto \/pool\/vol-1 failed, \/pool\/vol-1 is as it was: .*is in use: qemu of i-2-10-VM on host kvm-2 — was the VM started during the restore/);
    expect(files.get(VOL)?.equals(Buffer.alloc(2 * MiB, 0x01))).toBe(true);
    expect(await files.list('/pool')).toEqual(['vol-1']);
    // once it is free again, the restore goes through and the volume holds the point
    probe.release(VOL);
    await restoreInPlace(deps, { vm: dom.uuid, disk: 'vda', point: point.pointId, path: VOL, format: 'raw', job: 'j2' });
    expect(files.get(VOL)?.equals(Buffer.alloc(2 * MiB, 0x6b))).toBe(true);
  });

  it('a volume whose image lock is held when the restore starts is refused before anything is written', async () => {
    const { dom, point, files, probe, deps } = await pointAndVolume();
    probe.hold(VOL, 'a VM on another host (NFS)');
    await expect(restoreInPlace(deps, { vm: dom.uuid, disk: 'vda', point: point.pointId, path: VOL, job: 'j1' })).rejects.toThrow(/is in use: a VM on another host \(NFS\)/);
    expect(await files.list('/pool')).toEqual(['vol-1']);
  });

  it("two in-place restores of one VM: the second fails 'busy' naming the first; a backup meanwhile too", async () => {
    const { hv, target, dom, point, files, deps } = await pointAndVolume();
    const { runBackup } = await import('../backup/backup.ts');
    let second: Error | undefined;
    let backup: Error | undefined;
    await restoreInPlace(deps, {
      vm: dom.uuid, disk: 'vda', point: point.pointId, path: VOL, format: 'raw', job: 'first',
      onStep: async (s) => {
        if (s !== 'written') return;
        second = await restoreInPlace(deps, { vm: dom.uuid, disk: 'vda', point: point.pointId, path: VOL, job: 'second' }).then(() => undefined, (x: Error) => x);
        backup = await runBackup({ hypervisor: hv, target, workDir: '/work', host: 'h2', openSource: async () => { throw new Error('not reached'); }, diskSize: async () => 0 }, { domain: 'i-2-10-VM', vmId: dom.uuid })
          .then(() => undefined, (x: Error) => x);
      },
    });
    expect(second?.message).toMatch(/VM .* is busy: restore-in-place \(job restore-first\) on h/);
    expect(backup?.message).toMatch(/VM .* is busy: restore-in-place \(job restore-first\)/);
    expect(files.get(VOL)?.equals(Buffer.alloc(2 * MiB, 0x6b))).toBe(true);
    expect((await new (await import('../repository/repository.ts')).Repository(target).pointIds(dom.uuid))).toEqual([point.pointId]);
  });
});
