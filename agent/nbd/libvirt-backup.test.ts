/**
 * The NBD client against libvirt's pull-mode backup export of a running lab VM: checkpoint cp1,
 * guest-like writes, then `virsh backup-begin` (incremental from cp1) exporting vda on a unix
 * socket in a directory the QEMU user owns. The contract runs against the export with the disk
 * content taken at backup-begin as the truth; the dirty bitmap must report exactly the clusters
 * the writes touched. A write made after backup-begin must not show in the export.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockSourceContract } from '../blocksource/contract.ts';
import { collectExtents } from '../blocksource/extents.ts';
import { BASE_ALLOCATION, DIRTY, type Extent } from '../blocksource/port.ts';
import { qemuWritableDir } from '../../test/lab/daemons.ts';
import { dirtyRanges, nbdinfoMap, type TestWrite } from '../../test/lab/nbd-image.ts';
import { virsh } from '../../test/lab/virsh.ts';
import { createLabVm, type LabVm } from '../../test/lab/vm.ts';
import { openNbdPool } from './pool.ts';
import { formatNbdUri } from './uri.ts';

const MiB = 1 << 20;
const SIZE = 32 * MiB;
let vm: LabVm;
let socket: string;
let context: string;
let truth: Buffer;
let expected: Record<string, Extent[]>;
const writes: TestWrite[] = [
  { offset: 300_000, length: 70_000, pattern: 0x3c },
  { offset: 6 * MiB, length: 2 * MiB, pattern: 0xa7 },
  { offset: 20 * MiB + 4096, length: 8192, pattern: 'zero' },
  { offset: SIZE - 512, length: 512, pattern: 0x01 },
];

function cover(dirty: { offset: number; length: number }[]): Extent[] {
  const out: Extent[] = [];
  let at = 0;
  for (const d of dirty) {
    if (d.offset > at) out.push({ offset: at, length: d.offset - at, flags: 0 });
    out.push({ offset: d.offset, length: d.length, flags: DIRTY });
    at = d.offset + d.length;
  }
  if (at < SIZE) out.push({ offset: at, length: SIZE - at, flags: 0 });
  return out;
}

beforeAll(async () => {
  vm = await createLabVm({ label: 'nbdbk', disks: [{ size: SIZE, randomPrefix: 4 * MiB }] });
  const cp = path.join(vm.dir, 'cp1.xml');
  writeFileSync(cp, "<domaincheckpoint><name>cp1</name><disks><disk name='vda' checkpoint='bitmap'/></disks></domaincheckpoint>");
  await virsh(['checkpoint-create', vm.name, cp]);
  for (const w of writes) {
    if (w.pattern === 'zero') await vm.zero('vda', w.offset, w.length);
    else await vm.write('vda', w.offset, w.length, w.pattern);
  }
  const truthFile = await vm.truth('vda');
  truth = readFileSync(truthFile);
  rmSync(truthFile);
  const sockDir = qemuWritableDir(path.join(vm.dir, 'backup'));
  socket = path.join(sockDir, 'backup.sock');
  const xml = path.join(vm.dir, 'backup.xml');
  writeFileSync(xml, `<domainbackup mode='pull'>
  <incremental>cp1</incremental>
  <server transport='unix' socket='${socket}'/>
  <disks><disk name='vda' backup='yes' type='file'><scratch file='${path.join(sockDir, 'scratch-vda.qcow2')}'/></disk></disks>
</domainbackup>`);
  await virsh(['backup-begin', vm.name, xml]);
  const dump = await virsh(['backup-dumpxml', vm.name]);
  context = `qemu:dirty-bitmap:${/exportbitmap=['"]([^'"]+)['"]/.exec(dump)?.[1] ?? 'backup-vda'}`;
  // after the point in time: must not show in the export
  await vm.write('vda', 0, 65536, 0xee);
  const uri = formatNbdUri({ transport: 'unix', socket, export: 'vda' });
  expected = { [context]: cover(dirtyRanges(writes, SIZE)), [BASE_ALLOCATION]: await nbdinfoMap(uri, BASE_ALLOCATION) };
});

afterAll(async () => {
  if (vm) {
    await virsh(['domjobabort', vm.name]).catch(() => {});
    await vm.remove();
  }
});

blockSourceContract('libvirt pull-mode backup export (running VM, incremental from cp1)', async () => ({
  source: await openNbdPool({ socket, export: 'vda', connections: 2 }),
  content: truth,
  contexts: [BASE_ALLOCATION, context],
  extents: expected,
}));

describe('libvirt backup export', () => {
  it('marks dirty exactly the clusters the guest wrote since cp1', async () => {
    const src = await openNbdPool({ socket, export: 'vda', contexts: [context] });
    try {
      expect(src.size).toBe(SIZE);
      const dirty = (await collectExtents(src, context, 0, SIZE, { chunk: 7 * MiB })).filter((e) => e.flags & DIRTY);
      expect(dirty.map(({ offset, length }) => ({ offset, length }))).toEqual(dirtyRanges(writes, SIZE));
      expect(dirty.some((e) => e.offset === 0)).toBe(false); // the write after backup-begin is not in it
      // the point in time: the first 64 KiB still hold the random data, not the later 0xee write
      expect((await src.read(0, 65536)).equals(truth.subarray(0, 65536))).toBe(true);
      expect(truth.subarray(0, 65536).every((b) => b === 0xee)).toBe(false);
    } finally {
      await src.close();
    }
  });

  it('reports whether the export allows several connections, and uses them only then', async () => {
    const src = await openNbdPool({ socket, export: 'vda', connections: 4 });
    try {
      expect(src.connections).toBe(src.info.canMultiConn ? 4 : 1);
      expect(src.info.readOnly).toBe(true);
    } finally {
      await src.close();
    }
  });
});
