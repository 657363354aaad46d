/**
 * The NBD client against real qemu-nbd: the BlockSource contract over a unix socket (one and
 * four connections, small requests so reads split and queue), over TCP on 127.0.0.1, and for a
 * raw image; dirty-bitmap extents checked against the writes made after the bitmap was added
 * and, like base:allocation, against libnbd's nbdinfo. Also the qemu-nbd adapter's own life cycle.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockSourceContract } from '../blocksource/contract.ts';
import { collectExtents } from '../blocksource/extents.ts';
import { BASE_ALLOCATION, DIRTY, STATE_ZERO } from '../blocksource/port.ts';
import { labDir, labName, runId } from '../../test/lab/paths.ts';
import { dirtyRanges, makeNbdTestImage, nbdinfoMap, type NbdTestImage } from '../../test/lab/nbd-image.ts';
import { isAlive } from '../../test/lab/proc.ts';
import { run } from '../system/run.ts';
import { openNbdPool, probeNbd } from './pool.ts';
import { startQemuNbd, type QemuNbdServer } from './qemu-nbd.ts';

let dir: string;
let img: NbdTestImage;
let unix: QemuNbdServer;
let tcp: QemuNbdServer;
let oracle: Record<string, { offset: number; length: number; flags: number }[]>;
const ctx = () => `qemu:dirty-bitmap:${img.bitmap}`;

beforeAll(async () => {
  dir = labDir('runs', runId(), labName('nbd'));
  img = await makeNbdTestImage(dir);
  unix = await startQemuNbd({ image: img.path, bitmap: img.bitmap, dir });
  tcp = await startQemuNbd({ image: img.path, bitmap: img.bitmap, dir, tcp: { host: '127.0.0.1' }, exportName: 'disk' });
  oracle = {
    [BASE_ALLOCATION]: await nbdinfoMap(unix.uri, BASE_ALLOCATION),
    [ctx()]: await nbdinfoMap(unix.uri, ctx()),
  };
});

afterAll(async () => {
  await unix?.stop();
  await tcp?.stop();
});

blockSourceContract('qemu-nbd, unix socket, 1 connection', async () => ({
  source: await openNbdPool({ uri: unix.uri }),
  content: img.content,
  contexts: [BASE_ALLOCATION, ctx()],
  extents: oracle,
}));

blockSourceContract('qemu-nbd, unix socket, 4 connections x 4 in flight, 64 KiB requests', async () => {
  const source = await openNbdPool({ socket: unix.socket, connections: 4, maxInFlight: 4, requestSize: 64 << 10 });
  expect(source.connections).toBe(4);
  return { source, content: img.content, contexts: [BASE_ALLOCATION, ctx()], extents: oracle };
});

blockSourceContract('qemu-nbd, TCP 127.0.0.1, export "disk", 2 connections', async () => ({
  source: await openNbdPool({ uri: tcp.uri, connections: 2 }),
  content: img.content,
  contexts: [BASE_ALLOCATION, ctx()],
  extents: oracle,
}));

describe('qemu-nbd export details', () => {
  it('reports export info through NBD_OPT_INFO and NBD_OPT_GO alike', async () => {
    const info = await probeNbd({ uri: tcp.uri });
    expect(tcp.uri).toMatch(/^nbd:\/\/127\.0\.0\.1:\d+\/disk$/);
    expect(info).toMatchObject({ export: 'disk', size: img.size, readOnly: true, canMultiConn: true, structuredReplies: true, minBlock: 1 });
    expect(info.maxBlock).toBeGreaterThanOrEqual(1 << 20);
    expect(info.availableContexts).toEqual(expect.arrayContaining([BASE_ALLOCATION, ctx()]));
    const src = await openNbdPool({ uri: tcp.uri });
    try {
      expect(src.info).toMatchObject({ size: info.size, flags: info.flags, minBlock: info.minBlock, maxBlock: info.maxBlock });
    } finally {
      await src.close();
    }
  });

  it('reports exactly the clusters written after the bitmap was added as dirty', async () => {
    const src = await openNbdPool({ uri: unix.uri, contexts: [ctx()] });
    try {
      expect(src.contexts).toEqual([ctx()]);
      const dirty = (await collectExtents(src, ctx(), 0, src.size, { chunk: 5 << 20 })).filter((e) => e.flags & DIRTY);
      expect(dirty.map(({ offset, length }) => ({ offset, length }))).toEqual(dirtyRanges(img.writes, img.size));
    } finally {
      await src.close();
    }
  });

  it('reports the zero write as zero in base:allocation', async () => {
    const src = await openNbdPool({ uri: unix.uri });
    try {
      const z = img.writes.find((w) => w.pattern === 'zero')!;
      const ex = await collectExtents(src, BASE_ALLOCATION, z.offset, z.length);
      expect(ex.every((e) => e.flags & STATE_ZERO)).toBe(true);
    } finally {
      await src.close();
    }
  });

  it('exports a raw image too, with reads equal to the file', async () => {
    const raw = path.join(dir, 'disk.raw');
    await run('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'raw', img.path, raw]);
    const s = await startQemuNbd({ image: raw, format: 'raw', dir });
    const src = await openNbdPool({ uri: s.uri, connections: 2 });
    try {
      const got = await src.read(0, src.size);
      expect(got.equals(img.content)).toBe(true);
      const into = Buffer.alloc(1 << 20, 0xee);
      await src.readInto(4097, into);
      expect(into.equals(img.content.subarray(4097, 4097 + (1 << 20)))).toBe(true);
    } finally {
      await src.close();
      await s.stop();
    }
  });

  it('reads and reports extents past 4 GiB (64-bit offsets) on a sparse 8 GiB disk', async () => {
    const big = path.join(dir, 'sparse8g.qcow2');
    const at = 5 * 1024 ** 3 + 3;
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', big, '8G']);
    await run('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x9d ${at} 70000`, '-c', `write -P 0x42 ${4 * 1024 ** 3 - 10} 20`, big]);
    const s = await startQemuNbd({ image: big, dir });
    const src = await openNbdPool({ uri: s.uri, connections: 2 });
    try {
      expect(src.size).toBe(8 * 1024 ** 3);
      const b = await src.read(at - 5, 70010);
      expect(b.subarray(0, 5).every((x) => x === 0) && b.subarray(70005).every((x) => x === 0)).toBe(true);
      expect(b.subarray(5, 70005).every((x) => x === 0x9d)).toBe(true);
      const edge = await src.read(4 * 1024 ** 3 - 12, 24);
      expect([...edge]).toEqual([0, 0, ...Array(20).fill(0x42), 0, 0]);
      const ex = await collectExtents(src, BASE_ALLOCATION, 0, src.size);
      const data = ex.filter((e) => !(e.flags & STATE_ZERO));
      expect(data.some((e) => e.offset <= at && e.offset + e.length >= at + 70000)).toBe(true);
      expect(ex.reduce((n, e) => n + e.length, 0)).toBe(src.size);
    } finally {
      await src.close();
      await s.stop();
    }
  });

  it('stops qemu-nbd: the process is gone, socket and pid file removed; stop() again is a no-op', async () => {
    const s = await startQemuNbd({ image: img.path, dir });
    expect(isAlive(s.pid)).toBe(true);
    expect(existsSync(s.socket!)).toBe(true);
    const src = await openNbdPool({ uri: s.uri });
    await s.stop();
    expect(isAlive(s.pid)).toBe(false);
    expect(existsSync(s.socket!)).toBe(false);
    expect(existsSync(s.pidFile)).toBe(false);
    await s.stop();
    await expect(src.read(0, 4096)).rejects.toMatchObject({ code: 'disconnected' });
    await src.close();
  });

  it('fails clearly when qemu-nbd cannot export the image', async () => {
    await expect(startQemuNbd({ image: path.join(dir, 'missing.qcow2'), dir })).rejects.toThrow(/\[qemu-nbd\] exporting .*missing\.qcow2 failed \(exit 1\): .*No such file/);
    await expect(startQemuNbd({ image: img.path, bitmap: 'nope', dir })).rejects.toThrow(/nope/);
  });
});
