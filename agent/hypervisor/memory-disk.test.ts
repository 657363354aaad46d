/**
 * The memory hypervisor's exports are BlockSources: the BlockSource contract suite runs against a
 * frozen incremental export (guest writes after beginBackup must not show), and the export goes
 * 'disconnected' when the job ends.
 */
import { describe, expect, it } from 'vitest';
import { BASE_ALLOCATION, BlockSourceError, DIRTY, STATE_HOLE, STATE_ZERO } from '../blocksource/port.ts';
import { blockSourceContract } from '../blocksource/contract.ts';
import { MemoryHypervisor } from './memory.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

async function incrementalExport() {
  const hv = new MemoryHypervisor();
  hv.createDomain({ name: 'vm', transient: true, disks: [{ size: 4 * MiB + 512 }] });
  hv.write('vm', 'vda', 0, MiB, 0x11);
  await hv.beginBackup('vm', { disks: [{ target: 'vda' }], checkpoint: { name: 'sendense-1', disks: ['vda'] }, socketPath: '/j1/s', scratchDir: '/j1' });
  await hv.abortJob('vm');
  hv.write('vm', 'vda', 2 * MiB + 100, 5000, 0x22); // unaligned, inside one chunk
  hv.zero('vm', 'vda', 0, 128 * KiB); // whole chunks: zero clusters
  hv.write('vm', 'vda', 4 * MiB, 512, 0x33); // the short last chunk
  const exp = await hv.beginBackup('vm', { disks: [{ target: 'vda', incrementalFrom: 'sendense-1' }], socketPath: '/j2/s', scratchDir: '/j2' });
  const content = hv.content('/memory/vm/vda.qcow2');
  hv.write('vm', 'vda', 3 * MiB, MiB, 0x44); // after the point in time
  const ctx = exp.exports[0].bitmapContext!;
  return { hv, content, ctx, source: hv.exportSource('/j2/s', 'vda') };
}

blockSourceContract('memory hypervisor export (incremental, frozen)', async () => {
  const { content, ctx, source } = await incrementalExport();
  return {
    source, content, contexts: [BASE_ALLOCATION, ctx],
    extents: {
      [ctx]: [
        { offset: 0, length: 128 * KiB, flags: DIRTY }, { offset: 128 * KiB, length: 2 * MiB - 128 * KiB, flags: 0 },
        { offset: 2 * MiB, length: 64 * KiB, flags: DIRTY }, { offset: 2 * MiB + 64 * KiB, length: 2 * MiB - 64 * KiB, flags: 0 },
        { offset: 4 * MiB, length: 512, flags: DIRTY },
      ],
      [BASE_ALLOCATION]: [
        { offset: 0, length: 128 * KiB, flags: STATE_HOLE | STATE_ZERO }, { offset: 128 * KiB, length: MiB - 128 * KiB, flags: 0 },
        { offset: MiB, length: MiB, flags: STATE_HOLE | STATE_ZERO }, { offset: 2 * MiB, length: 64 * KiB, flags: 0 },
        { offset: 2 * MiB + 64 * KiB, length: 2 * MiB - 64 * KiB, flags: STATE_HOLE | STATE_ZERO }, { offset: 4 * MiB, length: 512, flags: 0 },
      ],
    },
  };
});

describe('memory hypervisor exports', () => {
  it('go away with the job: reads then fail as disconnected, a new connection is refused', async () => {
    const { hv, source } = await incrementalExport();
    expect((await source.read(0, 16)).equals(Buffer.alloc(16))).toBe(true);
    await hv.abortJob('vm');
    await expect(source.read(0, 16)).rejects.toMatchObject({ code: 'disconnected' });
    expect(() => hv.exportSource('/j2/s', 'vda')).toThrow(BlockSourceError);
    await source.close();
    await expect(source.read(0, 16)).rejects.toMatchObject({ code: 'closed' });
  });

  it('serve an 8 GiB sparse disk without allocating it', async () => {
    const hv = new MemoryHypervisor();
    hv.createDomain({ name: 'big', transient: true, disks: [{ size: 8 * 1024 * MiB }] });
    hv.write('big', 'vda', 5 * 1024 * MiB + 7, 3, 0xee);
    const exp = await hv.beginBackup('big', { disks: [{ target: 'vda' }], socketPath: '/b/s', scratchDir: '/b' });
    const src = hv.exportSource(exp.socketPath, 'vda');
    expect(src.size).toBe(8 * 1024 * MiB);
    expect(await src.blockStatus(BASE_ALLOCATION, 0, src.size)).toEqual([
      { offset: 0, length: 5 * 1024 * MiB, flags: STATE_HOLE | STATE_ZERO },
      { offset: 5 * 1024 * MiB, length: 64 * KiB, flags: 0 },
      { offset: 5 * 1024 * MiB + 64 * KiB, length: 3 * 1024 * MiB - 64 * KiB, flags: STATE_HOLE | STATE_ZERO },
    ]);
    expect([...(await src.read(5 * 1024 * MiB + 6, 5))]).toEqual([0, 0xee, 0xee, 0xee, 0]);
  });
});
