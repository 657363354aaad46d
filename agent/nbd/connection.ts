/**
 * @layer adapter
 * One NBD connection (unix socket or TCP) in the transmission phase: requests are pipelined,
 * each with a cookie that maps the reply back to its promise. Replies are parsed incrementally
 * from the socket's chunk list; read data is copied straight from the socket's buffers into
 * the request's destination. Simple and structured replies (OFFSET_DATA, OFFSET_HOLE,
 * BLOCK_STATUS, ERROR, ERROR_OFFSET, NONE) are understood.
 *
 * Failure rules: a server errno rejects that request (NbdServerError, code 'server'); a reply
 * that breaks the protocol for one request rejects it ('protocol'); a broken stream or a closed
 * socket rejects every request in flight ('disconnected') and the connection is dead. An
 * aborted request rejects at once with the signal's reason; its reply is still read and dropped.
 */
import net from 'node:net';
import { BlockSourceError, type Extent } from '../blocksource/port.ts';
import { ByteQueue } from './byte-queue.ts';
import {
  CHUNK, CHUNK_ERROR_BIT, CMD, REPLY_FLAG_DONE, SIMPLE_REPLY_HEADER, SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_HEADER, STRUCTURED_REPLY_MAGIC,
} from './constants.ts';
import { NbdServerError, nbdError } from './errors.ts';
import { handshake, type HandshakeResult, type NbdExportInfo } from './handshake.ts';
import { describeAddress, type NbdAddress } from './uri.ts';
import { decodeBlockStatus, decodeErrorChunk, encodeRequest, readU64, WireError } from './wire.ts';

export interface NbdConnectOptions {
  address: NbdAddress;
  /** meta contexts to negotiate; default base:allocation and every qemu:dirty-bitmap:* listed */
  contexts?: readonly string[];
  /** 'info' only asks about the export (NBD_OPT_INFO) and closes */
  mode?: 'go' | 'info';
  /** give up when the greeting and negotiation take longer (default 10 s) */
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface Pending {
  cookie: number;
  kind: 'read' | 'status';
  offset: number;
  length: number;
  dest?: Buffer;
  covered: number;
  contextId: number;
  extents?: Extent[];
  error?: BlockSourceError;
  /** aborted: the caller has its rejection; drop what the server still sends */
  dropped: boolean;
  resolve(v: Buffer | Extent[]): void;
  reject(e: unknown): void;
  unlisten?: () => void;
}

/** Where the parser is inside a reply. */
type Body =
  | { t: 'payload'; p: Pending; type: number; done: boolean; need: number }
  | { t: 'data-offset'; p: Pending; done: boolean; length: number }
  | { t: 'data'; p: Pending; done: boolean; pos: number; left: number };

const MAX_CHUNK_PAYLOAD = 64 << 20;
/** the socket's read buffer, reused for every read(2) */
const READ_BUFFER = 1 << 20;
/** the largest u32 request length that stays aligned to any power-of-two block up to 1 MiB */
const MAX_STATUS_LENGTH = 0x1_0000_0000 - (1 << 20);

function what(p: Pending, where: string): string {
  return `${p.kind === 'read' ? 'read' : 'block status'} of ${p.length} bytes at ${p.offset} from ${where}`;
}

export class NbdConnection {
  readonly where: string;
  /** what the server said about the export (set once the handshake is done) */
  info!: NbdExportInfo;
  private contextIds = new Map<string, number>();
  private transmission = false;
  private readonly q = new ByteQueue();
  private readonly pending = new Map<number, Pending>();
  private body: Body | undefined;
  private nextCookie = 1;
  private corked = false;
  private dead: BlockSourceError | undefined;
  private closing: Promise<void> | undefined;
  private waiter: { n: number; resolve(b: Buffer): void; reject(e: unknown): void } | undefined;
  /** called once when the connection dies (not after close()) */
  onDead: ((e: BlockSourceError) => void) | undefined;
  /** called whenever a request's reply is complete (aborted ones too): capacity is free */
  onSettled: (() => void) | undefined;

  private constructor(
    private readonly socket: net.Socket,
    readonly address: NbdAddress,
  ) {
    this.where = describeAddress(address);
    socket.on('error', (e) => this.onGone(e));
    socket.on('close', () => this.onGone());
  }

  /** Requests sent and not yet answered (aborted ones included: the server still works on them). */
  get inFlight(): number {
    return this.pending.size;
  }

  get alive(): boolean {
    return !this.dead && !this.closing;
  }

  static async connect(o: NbdConnectOptions): Promise<NbdConnection> {
    const a = o.address;
    const where = describeAddress(a);
    o.signal?.throwIfAborted();
    // the socket reads into one reused buffer; onData copies out only what it must keep
    let c: NbdConnection | undefined;
    const onread = { buffer: Buffer.allocUnsafe(READ_BUFFER), callback: (n: number, buf: Uint8Array) => { c!.onData(buf as Buffer, n); return true; } };
    const socket = a.transport === 'unix' ? net.connect({ path: a.socket, onread }) : net.connect({ host: a.host, port: a.port, onread });
    socket.setNoDelay(true);
    c = new NbdConnection(socket, a);
    const timeoutMs = o.timeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = () => c.kill(o.signal!.reason);
    o.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', (e) => reject(nbdError('connect', `cannot connect to ${where}: ${e.message}`, e)));
        o.signal?.addEventListener('abort', () => reject(o.signal!.reason), { once: true });
      });
      timer = setTimeout(() => c.kill(nbdError('connect', `${where}: no NBD handshake within ${timeoutMs} ms (does the server limit clients, e.g. qemu-nbd -e?)`)), timeoutMs);
      const r: HandshakeResult = await handshake(
        { read: (n) => c.readExact(n), write: (b) => socket.write(b) },
        { exportName: a.export, where, contexts: o.contexts, mode: o.mode ?? 'go' },
      );
      c.info = r.info;
      c.contextIds = r.contextIds;
      if (o.mode === 'info') {
        await c.close();
        return c;
      }
      if (c.q.length) throw nbdError('protocol', `${where}: ${c.q.length} unexpected bytes after the handshake`);
      c.transmission = true;
      return c;
    } catch (e) {
      c.kill(e);
      throw o.signal?.aborted ? o.signal.reason : e;
    } finally {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Reads dest.length bytes at offset into dest. The caller checks range and alignment. */
  readInto(offset: number, dest: Buffer, signal?: AbortSignal): Promise<Buffer> {
    return this.request('read', offset, dest.length, 0, dest, signal) as Promise<Buffer>;
  }

  /**
   * Extents of `context` from offset, covering at most `length` bytes (a server may answer for a
   * prefix). Requests longer than the wire allows are shortened.
   */
  blockStatus(context: string, offset: number, length: number, signal?: AbortSignal): Promise<Extent[]> {
    const id = this.contextIds.get(context);
    if (id === undefined) {
      const has = [...this.contextIds.keys()].join(', ') || 'none';
      return Promise.reject(nbdError('unsupported', `${this.where}: meta context ${JSON.stringify(context)} was not negotiated (have: ${has})`));
    }
    return this.request('status', offset, Math.min(length, MAX_STATUS_LENGTH), id, undefined, signal) as Promise<Extent[]>;
  }

  /** Sends NBD_CMD_DISC, lets answers to requests in flight arrive, and closes. Idempotent. */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = new Promise<void>((resolve) => {
      if (this.socket.destroyed || this.dead) return resolve();
      this.socket.once('close', () => resolve());
      const timer = setTimeout(() => this.socket.destroy(), 10_000);
      this.socket.once('close', () => clearTimeout(timer));
      if (this.transmission) this.socket.write(encodeRequest(CMD.DISC, 0, 0, 0, 0));
      this.socket.end();
    });
    return this.closing;
  }

  private request(kind: Pending['kind'], offset: number, length: number, contextId: number, dest: Buffer | undefined, signal?: AbortSignal): Promise<Buffer | Extent[]> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.dead) return Promise.reject(this.dead);
    if (this.closing) return Promise.reject(nbdError('closed', `${this.where}: connection closed`));
    return new Promise((resolve, reject) => {
      const cookie = this.nextCookie++;
      const p: Pending = { cookie, kind, offset, length, dest, covered: 0, contextId, dropped: false, resolve, reject };
      if (signal) {
        const onAbort = () => {
          p.dropped = true;
          p.dest = undefined;
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        p.unlisten = () => signal.removeEventListener('abort', onAbort);
      }
      this.pending.set(cookie, p);
      this.send(encodeRequest(kind === 'read' ? CMD.READ : CMD.BLOCK_STATUS, 0, cookie, offset, length));
    });
  }

  private send(b: Buffer): void {
    if (!this.corked) {
      this.corked = true;
      this.socket.cork();
      process.nextTick(() => {
        this.corked = false;
        this.socket.uncork();
      });
    }
    this.socket.write(b);
  }

  // ---- handshake reads

  private readExact(n: number): Promise<Buffer> {
    if (this.dead) return Promise.reject(this.dead);
    if (this.q.length >= n) return Promise.resolve(this.q.take(n));
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
    });
  }

  // ---- reply parsing

  private onData(buf: Buffer, n: number): void {
    if (this.dead) return;
    if (!this.transmission) {
      this.q.push(Buffer.from(buf.subarray(0, n)));
      const w = this.waiter;
      if (w && this.q.length >= w.n) {
        this.waiter = undefined;
        w.resolve(this.q.take(w.n));
      }
      return;
    }
    this.q.push(buf.subarray(0, n));
    try {
      this.parse();
      this.q.detach();
    } catch (e) {
      const msg = e instanceof Error ? e.message.replace(/^\[nbd\] /, '') : String(e);
      this.kill(nbdError('disconnected', `${this.where}: broken reply stream, connection dropped: ${msg}`, e));
    }
  }

  private parse(): void {
    const q = this.q;
    for (;;) {
      const b = this.body;
      if (b) {
        if (b.t === 'data') {
          const n = b.p.dest ? q.copyTo(b.p.dest, b.pos, b.left) : q.skip(b.left);
          b.pos += n;
          b.left -= n;
          if (b.left > 0) return;
          this.body = undefined;
          if (b.done) this.finish(b.p);
          continue;
        }
        const need = b.t === 'payload' ? b.need : 8;
        if (q.length < need) return;
        const payload = q.take(need);
        this.body = undefined;
        if (b.t === 'payload') this.onChunk(b.p, b.type, payload);
        else this.onDataOffset(b.p, readU64(payload, 0), b.length, b.done);
        if (b.t === 'payload' && b.done) this.finish(b.p);
        continue;
      }
      if (q.length < 4) return;
      const magic = q.peekUInt32BE(0);
      if (magic === STRUCTURED_REPLY_MAGIC) {
        if (q.length < STRUCTURED_REPLY_HEADER) return;
        const h = q.take(STRUCTURED_REPLY_HEADER);
        const flags = h.readUInt16BE(4);
        const type = h.readUInt16BE(6);
        const p = this.lookup(readU64(h, 8));
        const length = h.readUInt32BE(16);
        const done = Boolean(flags & REPLY_FLAG_DONE);
        if (type === CHUNK.OFFSET_DATA) {
          if (length < 8) throw new WireError(`[nbd] OFFSET_DATA chunk of ${length} bytes`);
          this.body = { t: 'data-offset', p, done, length: length - 8 };
        } else {
          if (length > MAX_CHUNK_PAYLOAD) throw new WireError(`[nbd] reply chunk of ${length} bytes`);
          this.body = { t: 'payload', p, type, done, need: length };
        }
      } else if (magic === SIMPLE_REPLY_MAGIC) {
        if (q.length < SIMPLE_REPLY_HEADER) return;
        const h = q.take(SIMPLE_REPLY_HEADER);
        const errno = h.readUInt32BE(4);
        const p = this.lookup(readU64(h, 8));
        if (errno !== 0) {
          p.error ??= new NbdServerError(what(p, this.where), errno);
          this.finish(p);
        } else if (p.kind === 'read') {
          if (this.info.structuredReplies) throw new WireError('[nbd] simple reply to a read after structured replies were negotiated');
          p.covered = p.length;
          this.body = { t: 'data', p, done: true, pos: 0, left: p.length };
        } else {
          p.error ??= nbdError('protocol', `${what(p, this.where)}: the server answered without extents`);
          this.finish(p);
        }
      } else {
        throw new WireError(`[nbd] bad reply magic 0x${magic.toString(16)}`);
      }
    }
  }

  private lookup(cookie: number): Pending {
    const p = this.pending.get(cookie);
    if (!p) throw new WireError(`[nbd] reply for unknown cookie ${cookie}`);
    return p;
  }

  private fault(p: Pending, msg: string): void {
    p.error ??= nbdError('protocol', `${what(p, this.where)}: ${msg}`);
  }

  private onDataOffset(p: Pending, offset: number, length: number, done: boolean): void {
    let pos = offset - p.offset;
    if (p.kind !== 'read') this.fault(p, 'OFFSET_DATA chunk in a block status reply');
    else if (pos < 0 || pos + length > p.length) this.fault(p, `OFFSET_DATA ${offset}+${length} outside the request`);
    else p.covered += length;
    if (p.error) p.dest = undefined;
    if (!p.dest) pos = 0;
    this.body = { t: 'data', p, done, pos, left: length };
  }

  private onChunk(p: Pending, type: number, payload: Buffer): void {
    switch (type) {
      case CHUNK.NONE:
        if (payload.length) this.fault(p, `NONE chunk with ${payload.length} bytes`);
        return;
      case CHUNK.OFFSET_HOLE: {
        if (p.kind !== 'read' || payload.length !== 12) return this.fault(p, `bad OFFSET_HOLE chunk of ${payload.length} bytes`);
        const pos = readU64(payload, 0) - p.offset;
        const size = payload.readUInt32BE(8);
        if (pos < 0 || pos + size > p.length || size === 0) return this.fault(p, `OFFSET_HOLE ${pos + p.offset}+${size} outside the request`);
        p.dest?.fill(0, pos, pos + size);
        p.covered += size;
        return;
      }
      case CHUNK.BLOCK_STATUS: {
        if (p.kind !== 'status') return this.fault(p, 'BLOCK_STATUS chunk in a read reply');
        const bs = decodeBlockStatus(payload);
        if (bs.contextId !== p.contextId) return; // a context we did not ask about
        if (p.extents) return this.fault(p, 'two BLOCK_STATUS chunks for one context');
        p.extents = this.clip(p, bs.lengths, bs.flags);
        return;
      }
      default:
        if (type & CHUNK_ERROR_BIT) {
          const e = type === CHUNK.ERROR || type === CHUNK.ERROR_OFFSET
            ? decodeErrorChunk(type, payload)
            : { errno: payload.length >= 4 ? payload.readUInt32BE(0) : 0, message: `unknown error chunk type ${type}` };
          p.error ??= new NbdServerError(what(p, this.where), e.errno, e.message, 'offset' in e ? e.offset : undefined);
          return;
        }
        this.fault(p, `unknown reply chunk type ${type}`);
    }
  }

  /** Extents from offset, trimmed to the request (a server may describe past its end). */
  private clip(p: Pending, lengths: number[], flags: number[]): Extent[] {
    const out: Extent[] = [];
    const end = p.offset + p.length;
    let at = p.offset;
    for (let i = 0; i < lengths.length && at < end; i++) {
      const len = Math.min(lengths[i], end - at);
      out.push({ offset: at, length: len, flags: flags[i] });
      at += len;
    }
    return out;
  }

  private finish(p: Pending): void {
    this.pending.delete(p.cookie);
    p.unlisten?.();
    if (!p.dropped) {
      if (!p.error) {
        if (p.kind === 'read' && p.covered !== p.length) this.fault(p, `the reply covered ${p.covered} bytes`);
        if (p.kind === 'status' && !p.extents?.length) this.fault(p, 'the reply had no extents for the context');
      }
      if (p.error) p.reject(p.error);
      else p.resolve(p.kind === 'read' ? p.dest! : p.extents!);
    }
    this.onSettled?.();
  }

  // ---- end of the connection

  private onGone(cause?: Error): void {
    if (this.dead) return;
    const n = [...this.pending.values()].filter((p) => !p.dropped).length;
    const b = this.body;
    const short = b?.t === 'data' && b.p.kind === 'read' && !b.p.dropped
      ? `; short read: the reply to ${what(b.p, this.where)} ended ${b.left} bytes early`
      : '';
    const why = cause ? ` (${cause.message})` : '';
    const phase = this.transmission ? `with ${n} requests in flight` : 'during the handshake';
    const code = this.transmission ? 'disconnected' : 'connect';
    if (this.closing && n === 0 && !cause) this.kill(nbdError('closed', `${this.where}: connection closed`));
    else this.kill(nbdError(code, `${this.where}: the server closed the connection ${phase}${why}${short}`, cause));
  }

  /** Marks the connection dead: every request in flight and any handshake read rejects with e. */
  private kill(e: unknown): void {
    if (this.dead) return;
    this.dead = e instanceof BlockSourceError ? e : nbdError('disconnected', `${this.where}: ${String(e)}`, e);
    const w = this.waiter;
    this.waiter = undefined;
    w?.reject(e);
    for (const p of this.pending.values()) {
      p.unlisten?.();
      if (!p.dropped) p.reject(this.dead);
    }
    this.pending.clear();
    this.body = undefined;
    this.q.clear();
    this.socket.destroy();
    if (!this.closing) this.onDead?.(this.dead);
  }
}
