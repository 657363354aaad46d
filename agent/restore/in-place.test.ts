/**
 * The in-place restore's pure steps on the memory adapters: settling a crashed restore's leftovers
 * (each of the states a crash can leave) and refusing a volume a running or paused domain uses.
 * The whole restore, interrupted and not, runs on the lab in test/agent/restore-modes.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { MemoryHypervisor } from '../hypervisor/memory.ts';
import { assertVolumeFree, inPlaceNames, recoverVolume } from './in-place.ts';
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
