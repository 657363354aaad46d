/**
 * Issue 12 item 15: free space is checked before a scratch image is made — the qcow2 of a
 * download or upload and the raw file of a restore test. Too little: ScratchSpaceError naming the
 * folder and the bytes, and no scratch file; enough: the image is built as before.
 */
import { describe, expect, it } from 'vitest';
import { MemoryHypervisor } from '../hypervisor/memory.ts';
import { MemoryLocalFiles } from './memory-files.ts';
import { openImageStream } from './image-stream.ts';
import { restoreTestDisk } from './restore-test.ts';
import { SCRATCH_RESERVE, ScratchSpaceError, scratchNeed } from './scratch.ts';

const MiB = 1 << 20;

async function point() {
  const { runBackup } = await import('../backup/backup.ts');
  const { parseNbdUri } = await import('../nbd/uri.ts');
  const { MemoryTarget } = await import('../target/memory.ts');
  const hv = new MemoryHypervisor();
  const target = new MemoryTarget();
  const dom = hv.createDomain({ name: 'i-2-10-VM', transient: true, disks: [{ size: 8 * MiB }] });
  hv.write('i-2-10-VM', 'vda', 0, Buffer.alloc(3 * MiB, 0x6b));
  const p = await runBackup({
    hypervisor: hv, target, workDir: '/work', host: 'h',
    openSource: async (uri) => { const a = parseNbdUri(uri); return hv.exportSource((a as { socket: string }).socket, a.export); },
    diskSize: async (_d, disk) => hv.content(disk.source).length,
  }, { domain: 'i-2-10-VM' });
  return { target, vm: dom.uuid, pointId: p.pointId };
}

describe('free space before a scratch image', () => {
  it("needs the chain's data (at most the disk) plus the reserve", () => {
    const l = (file_size: number) => ({ disk: { file_size, virtual_size: 10 * MiB } });
    expect(scratchNeed([l(3 * MiB), l(MiB)])).toBe(4 * MiB + SCRATCH_RESERVE);
    expect(scratchNeed([l(8 * MiB), l(8 * MiB)])).toBe(10 * MiB + SCRATCH_RESERVE);
  });

  it('a qcow2 download with too little room is refused before any scratch file; with room it is built', async () => {
    const { target, vm, pointId } = await point();
    const files = new MemoryLocalFiles();
    const asked: string[] = [];
    const tight = async (dir: string) => { asked.push(dir); return SCRATCH_RESERVE; };
    const e = await openImageStream({ target, files, scratchDir: '/scratch', freeSpace: tight }, { vm, disk: 'vda', point: pointId, format: 'qcow2' }).then(() => undefined, (x: Error) => x);
    expect(e).toBeInstanceOf(ScratchSpaceError);
    expect(e?.message).toMatch(/not enough free space for the qcow2 image of .* in \/scratch: it needs up to \d+ MiB .*, 64 MiB are free/);
    expect(asked).toEqual(['/scratch']);
    expect(await files.list('/scratch').catch(() => [])).toEqual([]);
    const img = await openImageStream({ target, files, scratchDir: '/scratch', freeSpace: async () => 2 ** 40 }, { vm, disk: 'vda', point: pointId, format: 'qcow2' });
    expect(img.format).toBe('qcow2');
    await img.close();
  });

  it('a restore test with too little room fails the job (not the point) and writes nothing', async () => {
    const { target, vm, pointId } = await point();
    const files = new MemoryLocalFiles();
    await expect(restoreTestDisk({ target, files, scratchDir: '/scratch', freeSpace: async () => 0 }, vm, pointId, 'vda')).rejects.toBeInstanceOf(ScratchSpaceError);
    expect(await files.list('/scratch').catch(() => [])).toEqual([]);
    const ok = await restoreTestDisk({ target, files, scratchDir: '/scratch', freeSpace: async () => 2 ** 40 }, vm, pointId, 'vda');
    expect(ok).toMatchObject({ ok: true, bytesChecked: 8 * MiB });
  });
});
