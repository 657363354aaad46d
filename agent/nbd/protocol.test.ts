/**
 * The reply parser against a scripted NBD server on a unix socket, for what real servers rarely
 * do: replies out of order, reads answered as many DATA/HOLE chunks in reverse order, replies
 * dribbled in fragments of 1..64 bytes, block status answered for a prefix with the last extent
 * running past the request; and broken servers: a reply cut short, an unknown cookie, a read
 * reply that does not cover the request, ERROR_OFFSET chunks.
 */
import net from 'node:net';
import path from 'node:path';
import { randomFillSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blockSourceContract } from '../blocksource/contract.ts';
import { BASE_ALLOCATION, BlockSourceError, STATE_HOLE, STATE_ZERO } from '../blocksource/port.ts';
import { labDir, labName, runId } from '../../test/lab/paths.ts';
import { CHUNK, IHAVEOPT, NBDMAGIC, OPT, OPT_REPLY_MAGIC, REP, REPLY_FLAG_DONE, SIMPLE_REPLY_MAGIC, STRUCTURED_REPLY_MAGIC, TFLAG } from './constants.ts';
import { NbdServerError } from './errors.ts';
import { openNbdPool } from './pool.ts';

const SIZE = 4 << 20;
const ZERO = [1 << 20, (1 << 20) + (512 << 10)] as const; // a hole in the disk
const disk = randomFillSync(Buffer.alloc(SIZE));
disk.fill(0, ZERO[0], ZERO[1]);
const CTX_ID = 7;

interface Req { type: number; cookie: Buffer; offset: number; length: number }
type Handler = (r: Req, send: (b: Buffer) => void, sock: net.Socket) => void;

const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const u64 = (n: number) => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; };

function chunk(cookie: Buffer, type: number, done: boolean, payload: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
  h.writeUInt16BE(done ? REPLY_FLAG_DONE : 0, 4);
  h.writeUInt16BE(type, 6);
  cookie.copy(h, 8);
  h.writeUInt32BE(payload.length, 16);
  return Buffer.concat([h, payload]);
}

function optReply(opt: number, type: number, data = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(20);
  h.writeBigUInt64BE(OPT_REPLY_MAGIC, 0);
  h.writeUInt32BE(opt, 8);
  h.writeUInt32BE(type, 12);
  h.writeUInt32BE(data.length, 16);
  return Buffer.concat([h, data]);
}

/** A well-behaved but awkward server: every reply shape the protocol allows. */
const awkward: Handler = (r, send) => {
  if (r.type === 0) {
    const parts: Buffer[] = [];
    const end = r.offset + r.length;
    for (let at = r.offset; at < end;) {
      const inHole = at >= ZERO[0] && at < ZERO[1];
      const stop = Math.min(end, inHole ? ZERO[1] : at < ZERO[0] ? ZERO[0] : end, at + 100_000);
      parts.push(inHole
        ? chunk(r.cookie, CHUNK.OFFSET_HOLE, false, Buffer.concat([u64(at), u32(stop - at)]))
        : chunk(r.cookie, CHUNK.OFFSET_DATA, false, Buffer.concat([u64(at), disk.subarray(at, stop)])));
      at = stop;
    }
    for (const p of parts.reverse()) send(p);
    send(chunk(r.cookie, CHUNK.NONE, true, Buffer.alloc(0)));
  } else if (r.type === 7) {
    // at most two descriptors; the last runs to the end of its region, past the request
    const ex: Buffer[] = [];
    let at = r.offset;
    for (let i = 0; i < 2 && at < SIZE; i++) {
      const region = at < ZERO[0] ? [ZERO[0], 0] : at < ZERO[1] ? [ZERO[1], STATE_HOLE | STATE_ZERO] : [SIZE, 0];
      ex.push(u32(region[0] - at), u32(region[1]));
      at = region[0];
    }
    send(chunk(r.cookie, CHUNK.BLOCK_STATUS, false, Buffer.concat([u32(99), u32(1 << 20), u32(0)]))); // another context: ignored
    send(chunk(r.cookie, CHUNK.BLOCK_STATUS, true, Buffer.concat([u32(CTX_ID), ...ex])));
  }
};

const servers: net.Server[] = [];
let discs = 0;
let dir: string;

/** Starts a scripted server; replies are held and sent in reverse order of requests, `batch` at a time. */
async function fakeServer(handler: Handler, batch = 1): Promise<string> {
  const sock = path.join(dir, `fake-${servers.length}.sock`);
  const server = net.createServer((s) => {
    let buf = Buffer.alloc(0);
    let phase: 'flags' | 'options' | 'transmission' = 'flags';
    let held: (() => void)[] = [];
    const dribble = (b: Buffer) => {
      for (let at = 0; at < b.length;) {
        const n = 1 + Math.floor(Math.random() * 64);
        s.write(b.subarray(at, at + n));
        at += n;
      }
    };
    const greeting = Buffer.alloc(18);
    greeting.writeBigUInt64BE(NBDMAGIC, 0);
    greeting.writeBigUInt64BE(IHAVEOPT, 8);
    greeting.writeUInt16BE(3, 16); // FIXED_NEWSTYLE | NO_ZEROES
    s.write(greeting);
    s.on('error', () => {});
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (phase === 'flags') {
          if (buf.length < 4) return;
          buf = buf.subarray(4);
          phase = 'options';
        } else if (phase === 'options') {
          if (buf.length < 16) return;
          const opt = buf.readUInt32BE(8);
          const len = buf.readUInt32BE(12);
          if (buf.length < 16 + len) return;
          buf = buf.subarray(16 + len);
          if (opt === OPT.STRUCTURED_REPLY) s.write(optReply(opt, REP.ACK));
          else if (opt === OPT.LIST_META_CONTEXT || opt === OPT.SET_META_CONTEXT) {
            s.write(optReply(opt, REP.META_CONTEXT, Buffer.concat([u32(opt === OPT.SET_META_CONTEXT ? CTX_ID : 0), Buffer.from(BASE_ALLOCATION)])));
            s.write(optReply(opt, REP.ACK));
          } else if (opt === OPT.GO) {
            const info = Buffer.concat([Buffer.from([0, 0]), u64(SIZE), Buffer.from([0, TFLAG.HAS_FLAGS | TFLAG.READ_ONLY])]);
            s.write(optReply(opt, REP.INFO, info));
            s.write(optReply(opt, REP.ACK));
            phase = 'transmission';
          } else s.write(optReply(opt, 0x80000001));
        } else {
          if (buf.length < 28) return;
          const r: Req = { type: buf.readUInt16BE(6), cookie: Buffer.from(buf.subarray(8, 16)), offset: Number(buf.readBigUInt64BE(16)), length: buf.readUInt32BE(24) };
          buf = buf.subarray(28);
          if (r.type === 2) { discs++; s.end(); return; }
          held.push(() => handler(r, dribble, s));
          if (held.length >= batch) {
            const go = held.reverse();
            held = [];
            for (const f of go) f();
          }
        }
      }
    });
  });
  await new Promise<void>((r) => server.listen(sock, r));
  servers.push(server);
  return sock;
}

beforeAll(() => {
  dir = labDir('runs', runId(), labName('nbdproto'));
});
afterAll(() => {
  for (const s of servers) s.close();
});

blockSourceContract('scripted server: reverse-order chunks, holes, dribbled bytes, prefix status', async () => {
  const socket = await fakeServer(awkward);
  return {
    source: await openNbdPool({ socket, connections: 1 }),
    content: disk,
    contexts: [BASE_ALLOCATION],
    extents: { [BASE_ALLOCATION]: [{ offset: 0, length: ZERO[0], flags: 0 }, { offset: ZERO[0], length: ZERO[1] - ZERO[0], flags: 3 }, { offset: ZERO[1], length: SIZE - ZERO[1], flags: 0 }] },
  };
});

describe('NBD reply parser against broken servers', () => {
  it('answers replies that come back out of order to the right requests', async () => {
    const socket = await fakeServer(awkward, 8);
    const src = await openNbdPool({ socket });
    const offs = Array.from({ length: 8 }, (_, i) => i * 300_001);
    const got = await Promise.all(offs.map((o) => src.read(o, 70_000)));
    got.forEach((b, i) => expect(b.equals(disk.subarray(offs[i], offs[i] + 70_000))).toBe(true));
    await src.close();
  });

  it('sends NBD_CMD_DISC on close, once per connection', async () => {
    const socket = await fakeServer(awkward);
    const src = await openNbdPool({ socket, connections: 1 });
    await src.read(0, 10);
    const before = discs;
    await Promise.all([src.close(), src.close()]);
    await src.close();
    expect(discs - before).toBe(1);
  });

  it("rejects a reply cut short with 'disconnected', saying it was a short read", async () => {
    const socket = await fakeServer((r, send, s) => {
      send(chunk(r.cookie, CHUNK.OFFSET_DATA, true, Buffer.concat([u64(r.offset), disk.subarray(r.offset, r.offset + r.length)])).subarray(0, 20 + 8 + 1000));
      setTimeout(() => s.destroy(), 20);
    });
    const src = await openNbdPool({ socket });
    const e = await src.read(0, 65536).then(() => undefined, (x: unknown) => x as BlockSourceError);
    expect(e).toMatchObject({ code: 'disconnected' });
    expect(e!.message).toMatch(/server closed the connection with 1 requests in flight; short read: the reply to read of 65536 bytes at 0 .* ended 64536 bytes early/);
    await src.close();
  });

  it('drops the connection on a reply for a cookie it never sent', async () => {
    const socket = await fakeServer((r, send) => {
      const bogus = Buffer.from(r.cookie);
      bogus.writeUInt32BE(0xdead, 0);
      send(chunk(bogus, CHUNK.NONE, true, Buffer.alloc(0)));
    });
    const src = await openNbdPool({ socket });
    const e = await src.read(0, 10).then(() => undefined, (x: unknown) => x as BlockSourceError);
    expect(e).toMatchObject({ code: 'disconnected' });
    expect(e!.message).toMatch(/broken reply stream, connection dropped: reply for unknown cookie/);
    await src.close();
  });

  it("rejects a read whose reply does not cover it with 'protocol', and keeps the connection", async () => {
    let n = 0;
    const socket = await fakeServer((r, send) => {
      const half = n++ === 0 ? r.length / 2 : r.length;
      send(chunk(r.cookie, CHUNK.OFFSET_DATA, true, Buffer.concat([u64(r.offset), disk.subarray(r.offset, r.offset + half)])));
    });
    const src = await openNbdPool({ socket });
    await expect(src.read(0, 4096)).rejects.toMatchObject({ code: 'protocol', message: expect.stringMatching(/the reply covered 2048 bytes/) });
    expect((await src.read(8192, 4096)).equals(disk.subarray(8192, 12288))).toBe(true);
    await src.close();
  });

  it('reports an ERROR_OFFSET chunk with its errno, offset and message', async () => {
    const socket = await fakeServer((r, send) => {
      const msg = Buffer.from('bad sector');
      send(chunk(r.cookie, CHUNK.OFFSET_DATA, false, Buffer.concat([u64(r.offset), disk.subarray(r.offset, r.offset + 512)])));
      send(chunk(r.cookie, CHUNK.ERROR_OFFSET, true, Buffer.concat([u32(5), Buffer.from([0, msg.length]), msg, u64(r.offset + 512)])));
    });
    const src = await openNbdPool({ socket });
    const e = await src.read(4096, 4096).then(() => undefined, (x: unknown) => x as NbdServerError);
    expect(e).toBeInstanceOf(NbdServerError);
    expect(e).toMatchObject({ code: 'server', errno: 5, errorOffset: 4608, serverMessage: 'bad sector' });
    expect(e!.message).toMatch(/server error EIO \(input\/output error\) at byte 4608: "bad sector"/);
    await src.close();
  });

  it('drops the connection on a simple reply to a read once structured replies are on', async () => {
    const socket = await fakeServer((r, send) => {
      const h = Buffer.alloc(16);
      h.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
      r.cookie.copy(h, 8);
      send(Buffer.concat([h, disk.subarray(r.offset, r.offset + r.length)]));
    });
    const src = await openNbdPool({ socket });
    await expect(src.read(0, 100)).rejects.toMatchObject({ code: 'disconnected', message: expect.stringMatching(/simple reply to a read/) });
    await src.close();
  });
});
