/**
 * What goes wrong, against real servers: qemu-nbd killed with reads in flight, an export or a
 * meta context the server does not have, nothing listening, a server that never greets, and
 * nbdkit injecting EIO (structured ERROR chunks and simple-reply errnos). nbdkit also serves the
 * contract with a 4 KiB minimum / 64 KiB maximum block size (unaligned requests would be EINVAL)
 * and without structured replies.
 */
import net from 'node:net';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockSourceContract } from '../blocksource/contract.ts';
import { BASE_ALLOCATION, BlockSourceError } from '../blocksource/port.ts';
import { labDir, labName, runId } from '../../test/lab/paths.ts';
import { makeNbdTestImage, nbdinfoMap, type NbdTestImage } from '../../test/lab/nbd-image.ts';
import { startNbdkit, type Nbdkit } from '../../test/lab/nbdkit.ts';
import { NbdServerError } from './errors.ts';
import { openNbdPool } from './pool.ts';
import { startQemuNbd, type QemuNbdServer } from './qemu-nbd.ts';

let dir: string;
let img: NbdTestImage;
let raw: string;
let qnbd: QemuNbdServer;
const kits: Nbdkit[] = [];

beforeAll(async () => {
  dir = labDir('runs', runId(), labName('nbderr'));
  img = await makeNbdTestImage(dir);
  raw = path.join(dir, 'disk.raw');
  writeFileSync(raw, img.content);
  qnbd = await startQemuNbd({ image: img.path, bitmap: img.bitmap, dir, exportName: 'disk' });
});

afterAll(async () => {
  await qnbd?.stop();
  for (const k of kits) await k.stop();
});

async function nbdkit(args: string[]): Promise<Nbdkit> {
  const k = await startNbdkit(dir, args);
  kits.push(k);
  return k;
}

async function rejection(p: Promise<unknown>): Promise<BlockSourceError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(BlockSourceError);
  return e as BlockSourceError;
}

blockSourceContract('nbdkit file, 4 KiB minimum and 64 KiB maximum block size (unaligned = EINVAL)', async () => {
  const k = await nbdkit(['--filter=blocksize-policy', 'file', raw, 'blocksize-minimum=4096', 'blocksize-maximum=65536', 'blocksize-error-policy=error']);
  const source = await openNbdPool({ uri: k.uri, connections: 2 });
  expect(source.info).toMatchObject({ minBlock: 4096, maxBlock: 65536 });
  return { source, content: img.content, contexts: [BASE_ALLOCATION], extents: { [BASE_ALLOCATION]: await nbdinfoMap(k.uri, BASE_ALLOCATION) }, cleanup: k.stop };
});

blockSourceContract('nbdkit file without structured replies (simple replies, no contexts)', async () => {
  const k = await nbdkit(['--no-sr', 'file', raw]);
  const source = await openNbdPool({ uri: k.uri });
  expect(source.info.structuredReplies).toBe(false);
  expect(source.contexts).toEqual([]);
  return { source, content: img.content, cleanup: k.stop };
});

describe('NBD client errors', () => {
  it("rejects every read in flight with 'disconnected' when qemu-nbd is killed, and never hangs", async () => {
    const s = await startQemuNbd({ image: img.path, dir });
    const src = await openNbdPool({ uri: s.uri, connections: 2, maxInFlight: 16 });
    let served = 0;
    const errors: unknown[] = [];
    const worker = async () => {
      for (let i = 0; ; i++) {
        try {
          await src.read(((i * 7919) % 120) * 65536, 65536);
          served++;
        } catch (e) {
          errors.push(e);
          return;
        }
      }
    };
    const workers = Array.from({ length: 32 }, worker);
    await new Promise((r) => setTimeout(r, 150));
    expect(served).toBeGreaterThan(0);
    process.kill(s.pid, 'SIGKILL');
    const t0 = Date.now();
    await Promise.all(workers);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(errors).toHaveLength(32);
    for (const e of errors) expect(e).toMatchObject({ code: 'disconnected' });
    expect(errors.map((e) => (e as Error).message).join('\n')).toMatch(/server closed the connection with \d+ requests in flight|no live connection left/);
    expect((await rejection(src.read(0, 1))).code).toBe('disconnected');
    await src.close();
    await s.stop();
  });

  it("names an export the server does not have in a 'server' error", async () => {
    const e = await rejection(openNbdPool({ socket: qnbd.socket, export: 'nope' }));
    expect(e.code).toBe('server');
    expect(e.message).toMatch(/^\[nbd\] export "nope" at nbd\+unix:\/\/\/nope\?socket=.* not found/);
    expect(e.message).toMatch(/NBD_REP_ERR_UNKNOWN/);
  });

  it("refuses a meta context the server does not have with 'unsupported', saying what it has", async () => {
    const e = await rejection(openNbdPool({ uri: qnbd.uri, contexts: [BASE_ALLOCATION, 'qemu:dirty-bitmap:nope'] }));
    expect(e.code).toBe('unsupported');
    expect(e.message).toContain('no meta context "qemu:dirty-bitmap:nope"');
    expect(e.message).toContain(`it has: base:allocation, qemu:dirty-bitmap:${img.bitmap}`);
    const src = await openNbdPool({ uri: qnbd.uri, contexts: [BASE_ALLOCATION] });
    expect(src.contexts).toEqual([BASE_ALLOCATION]);
    const u = await rejection(src.blockStatus(`qemu:dirty-bitmap:${img.bitmap}`, 0, 4096));
    expect(u.code).toBe('unsupported');
    await src.close();
  });

  it("says 'connect' when nothing listens, naming the address", async () => {
    const e = await rejection(openNbdPool({ socket: path.join(dir, 'nobody.sock') }));
    expect(e.code).toBe('connect');
    expect(e.message).toMatch(/cannot connect to export "" at nbd\+unix:\/\/\/\?socket=.*nobody\.sock: .*ENOENT/);
    const port = await new Promise<number>((resolve) => {
      const srv = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as net.AddressInfo).port;
        srv.close(() => resolve(p));
      });
    });
    expect((await rejection(openNbdPool({ uri: `nbd://127.0.0.1:${port}/x` }))).message).toMatch(/ECONNREFUSED/);
    expect((await rejection(openNbdPool({ uri: 'http://example.invalid/' }))).code).toBe('connect');
  });

  it('gives up on a server that never greets: by abort signal, or by timeout', async () => {
    const sock = path.join(dir, 'silent.sock');
    const silent = net.createServer(() => { /* accept, say nothing */ }).listen(sock);
    try {
      const ac = new AbortController();
      const why = new Error('user gave up');
      setTimeout(() => ac.abort(why), 50);
      await expect(openNbdPool({ socket: sock, signal: ac.signal })).rejects.toBe(why);
      const e = await rejection(openNbdPool({ socket: sock, timeoutMs: 100 }));
      expect(e.code).toBe('connect');
      expect(e.message).toMatch(/no NBD handshake within 100 ms/);
    } finally {
      silent.close();
    }
  });

  it("maps a server's EIO to a 'server' error, in structured ERROR chunks and simple replies", async () => {
    for (const extra of [[], ['--no-sr']]) {
      const k = await nbdkit([...extra, '--filter=error', 'pattern', '1M', 'error=EIO', 'error-pread-rate=100%']);
      const src = await openNbdPool({ uri: k.uri });
      const e = await rejection(src.read(4096, 8192));
      expect(e).toBeInstanceOf(NbdServerError);
      expect(e).toMatchObject({ code: 'server', errno: 5, errnoName: 'EIO' });
      expect(e.message).toMatch(/^\[nbd\] read of 8192 bytes at 4096 from export "" at nbd\+unix:.*: server error EIO \(input\/output error\)/);
      // the connection stays in step: many failing reads, then close cleanly
      const all = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => src.read(i * 1000, 1000)));
      expect(all.every((r) => r.status === 'rejected' && (r.reason as BlockSourceError).code === 'server')).toBe(true);
      await src.close();
      await k.stop();
    }
  });

  it("maps a failing block status to a 'server' error and reads still work", async () => {
    const k = await nbdkit(['--filter=error', 'file', raw, 'error=ENOSPC', 'error-extents-rate=100%']);
    const src = await openNbdPool({ uri: k.uri });
    try {
      const e = await rejection(src.blockStatus(BASE_ALLOCATION, 0, 1 << 20));
      expect(e).toMatchObject({ code: 'server', errnoName: 'ENOSPC' });
      expect(e.message).toMatch(/block status of 1048576 bytes at 0 .*: server error ENOSPC \(no space left on device\)/);
      expect((await src.read(100_000, 5000)).equals(img.content.subarray(100_000, 105_000))).toBe(true);
    } finally {
      await src.close();
      await k.stop();
    }
  });
});
