/**
 * @layer adapter
 * The NBD BlockSource: one export over one or more connections (more only when the server sets
 * NBD_FLAG_CAN_MULTI_CONN). A read is cut into requests of at most `requestSize` bytes, aligned
 * to the server's minimum block size, that all land in one destination buffer; requests go to
 * the least busy live connection, at most `maxInFlight` per connection, the rest wait in a FIFO.
 * Block status goes out as one request (at most ~4 GiB): the caller loops over prefixes
 * (blocksource/extents.ts walkExtents does).
 */
import { setMaxListeners } from 'node:events';
import { BlockSourceError, type BlockSource, type Extent } from '../blocksource/port.ts';
import { clipExtents } from '../blocksource/extents.ts';
import { NbdConnection } from './connection.ts';
import { nbdError } from './errors.ts';
import type { NbdExportInfo } from './handshake.ts';
import { describeAddress, formatNbdUri, parseNbdUri, type NbdAddress } from './uri.ts';

export interface NbdPoolOptions {
  /** nbd+unix:///EXPORT?socket=PATH, nbd://HOST:PORT/EXPORT, or an absolute socket path */
  uri?: string;
  /** a unix socket path (instead of uri) */
  socket?: string;
  /** the export name; overrides the uri's */
  export?: string;
  /** connections to open (default 1); only 1 when the export lacks NBD_FLAG_CAN_MULTI_CONN */
  connections?: number;
  /** meta contexts to negotiate; default base:allocation and every qemu:dirty-bitmap:* listed */
  contexts?: readonly string[];
  /** requests in flight per connection (default 16) */
  maxInFlight?: number;
  /** the largest single request (default 512 KiB, capped by the server's maximum block size;
   *  qemu-nbd serves multi-MiB requests on one connection markedly slower, nbdcopy alike) */
  requestSize?: number;
  /** handshake time limit per connection (default 10 s) */
  timeoutMs?: number;
  /** BlockSource.name (default the URI) */
  name?: string;
  signal?: AbortSignal;
}

interface Job {
  kind: 'read' | 'status';
  offset: number;
  length: number;
  dest?: Buffer;
  context?: string;
  signal?: AbortSignal;
  resolve(v: Buffer | Extent[]): void;
  reject(e: unknown): void;
  /** drops the queued-job abort listener once the job is sent */
  unlisten?: () => void;
}

function addressOf(o: NbdPoolOptions): NbdAddress {
  try {
    const a = parseNbdUri(o.uri ?? o.socket ?? '');
    return o.export === undefined ? a : { ...a, export: o.export };
  } catch (e) {
    throw nbdError('connect', (e as Error).message.replace(/^\[nbd\] /, ''), e);
  }
}

/** Asks the server about an export with NBD_OPT_INFO (no transmission phase). */
export async function probeNbd(o: Omit<NbdPoolOptions, 'connections' | 'maxInFlight' | 'requestSize' | 'name'>): Promise<NbdExportInfo> {
  const c = await NbdConnection.connect({ address: addressOf(o), contexts: o.contexts, mode: 'info', timeoutMs: o.timeoutMs, signal: o.signal });
  return c.info;
}

/** Opens an NBD export as a BlockSource. */
export async function openNbdPool(o: NbdPoolOptions): Promise<NbdSource> {
  const address = addressOf(o);
  const base = { address, timeoutMs: o.timeoutMs, signal: o.signal };
  const first = await NbdConnection.connect({ ...base, contexts: o.contexts });
  const want = Math.max(1, Math.floor(o.connections ?? 1));
  const n = first.info.canMultiConn ? want : 1;
  const rest = await Promise.allSettled(
    Array.from({ length: n - 1 }, () => NbdConnection.connect({ ...base, contexts: first.info.contexts })),
  );
  const conns = [first, ...rest.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []))];
  const failed = rest.find((r) => r.status === 'rejected');
  if (failed) {
    await Promise.all(conns.map((c) => c.close()));
    throw failed.reason;
  }
  return new NbdSource(o, address, conns);
}

export class NbdSource implements BlockSource {
  readonly name: string;
  readonly size: number;
  readonly contexts: readonly string[];
  readonly info: NbdExportInfo;
  readonly uri: string;
  private readonly where: string;
  private readonly maxInFlight: number;
  private readonly requestSize: number;
  private readonly queue: Job[] = [];
  private closing: Promise<void> | undefined;

  constructor(o: NbdPoolOptions, address: NbdAddress, private readonly conns: NbdConnection[]) {
    this.info = conns[0].info;
    this.uri = formatNbdUri(address);
    this.where = describeAddress(address);
    this.name = o.name ?? this.uri;
    this.size = this.info.size;
    this.contexts = Object.freeze([...this.info.contexts]);
    this.maxInFlight = Math.max(1, o.maxInFlight ?? 16);
    const min = this.info.minBlock;
    const cap = Math.min(o.requestSize ?? 512 << 10, this.info.maxBlock);
    this.requestSize = Math.max(min, cap - (cap % min));
    for (const c of conns) {
      c.onDead = () => this.pump();
      c.onSettled = () => this.pump();
    }
  }

  /** Connections open and usable. */
  get connections(): number {
    return this.conns.filter((c) => c.alive).length;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    this.check('read', offset, length, signal, true);
    if (length === 0) return Buffer.alloc(0);
    const [a0, a1] = this.align(offset, length);
    const dest = Buffer.allocUnsafe(a1 - a0);
    await this.fill(a0, dest, signal);
    return a0 === offset && a1 - a0 === length ? dest : dest.subarray(offset - a0, offset - a0 + length);
  }

  async readInto(offset: number, dest: Buffer, signal?: AbortSignal): Promise<Buffer> {
    this.check('read', offset, dest.length, signal, true);
    if (dest.length === 0) return dest;
    const [a0, a1] = this.align(offset, dest.length);
    if (a0 === offset && a1 === offset + dest.length) await this.fill(offset, dest, signal);
    else (await this.read(offset, dest.length, signal)).copy(dest);
    return dest;
  }

  async blockStatus(context: string, offset: number, length: number, signal?: AbortSignal): Promise<Extent[]> {
    this.check('block status', offset, length, signal, false);
    if (!this.contexts.includes(context)) {
      throw nbdError('unsupported', `${this.where}: no meta context ${JSON.stringify(context)} (have: ${this.contexts.join(', ') || 'none'})`);
    }
    const [a0, a1] = this.align(offset, length);
    const got = (await this.submit({ kind: 'status', offset: a0, length: a1 - a0, context, signal })) as Extent[];
    return clipExtents(got, offset, offset + length); // asked from an aligned offset
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const j of this.queue.splice(0)) j.reject(nbdError('closed', `${this.where}: closed`));
      await Promise.all(this.conns.map((c) => c.close()));
    })();
    return this.closing;
  }

  private check(op: string, offset: number, length: number, signal: AbortSignal | undefined, zeroOk: boolean): void {
    signal?.throwIfAborted();
    if (this.closing) throw nbdError('closed', `${this.where}: ${op} after close`);
    const ok = Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0
      && (zeroOk ? length >= 0 : length > 0) && offset + length <= this.size;
    if (!ok) throw nbdError('range', `${op} of ${length} bytes at ${offset} is outside ${this.where} (size ${this.size})`);
  }

  /** [offset, offset+length) widened to the server's minimum block size. */
  private align(offset: number, length: number): [number, number] {
    const min = this.info.minBlock;
    return [offset - (offset % min), Math.min(this.size, Math.ceil((offset + length) / min) * min)];
  }

  private async fill(a0: number, dest: Buffer, signal?: AbortSignal): Promise<void> {
    if (dest.length <= this.requestSize) await this.submit({ kind: 'read', offset: a0, length: dest.length, dest, signal });
    else await this.readPieces(a0, dest, signal);
  }

  /** A large read: pieces go out as a window of conns × maxInFlight, each into its slice of dest. */
  private async readPieces(a0: number, dest: Buffer, signal?: AbortSignal): Promise<void> {
    const pieces = Math.ceil(dest.length / this.requestSize);
    if (pieces <= this.maxInFlight) {
      // a block of a few pieces (the backup's 1 MiB reads): all sent at once on the caller's
      // signal, no combined signal per read; dest is the caller's again only when all settled
      const rs = await Promise.allSettled(Array.from({ length: pieces }, (_, k) => {
        const at = k * this.requestSize;
        const piece = dest.subarray(at, Math.min(dest.length, at + this.requestSize));
        return this.submit({ kind: 'read', offset: a0 + at, length: piece.length, dest: piece, signal });
      }));
      const bad = rs.find((r) => r.status === 'rejected');
      if (bad) throw signal?.aborted ? signal.reason : (bad as PromiseRejectedResult).reason;
      return;
    }
    const inner = new AbortController();
    const sig = signal ? AbortSignal.any([signal, inner.signal]) : inner.signal;
    const window = this.conns.length * this.maxInFlight;
    setMaxListeners(window + 16, sig);
    let next = 0;
    const worker = async () => {
      while (next < dest.length && !sig.aborted) {
        const at = next;
        next += this.requestSize;
        const piece = dest.subarray(at, Math.min(dest.length, at + this.requestSize));
        await this.submit({ kind: 'read', offset: a0 + at, length: piece.length, dest: piece, signal: sig });
      }
    };
    const workers = Array.from({ length: Math.min(window, Math.ceil(dest.length / this.requestSize)) }, () => worker().catch((e) => {
      if (!inner.signal.aborted) inner.abort(e);
    }));
    await Promise.all(workers);
    if (signal?.aborted) throw signal.reason;
    if (inner.signal.aborted) throw inner.signal.reason;
  }

  private submit(j: Omit<Job, 'resolve' | 'reject'>): Promise<Buffer | Extent[]> {
    return new Promise((resolve, reject) => {
      const job: Job = { ...j, resolve, reject };
      const c = this.pick();
      if (c) return this.start(c, job);
      if (!this.conns.some((x) => x.alive)) return reject(this.deadError());
      this.queue.push(job);
      const onAbort = () => {
        const i = this.queue.indexOf(job);
        if (i >= 0) this.queue.splice(i, 1);
        reject(job.signal!.reason);
      };
      job.signal?.addEventListener('abort', onAbort, { once: true });
      job.unlisten = () => job.signal?.removeEventListener('abort', onAbort);
    });
  }

  private pick(): NbdConnection | undefined {
    let best: NbdConnection | undefined;
    for (const c of this.conns) {
      if (c.alive && c.inFlight < this.maxInFlight && (!best || c.inFlight < best.inFlight)) best = c;
    }
    return best;
  }

  private start(c: NbdConnection, j: Job): void {
    j.unlisten?.();
    const p = j.kind === 'read' ? c.readInto(j.offset, j.dest!, j.signal) : c.blockStatus(j.context!, j.offset, j.length, j.signal);
    p.then(j.resolve, j.reject);
  }

  private pump(): void {
    while (this.queue.length) {
      const c = this.pick();
      if (!c) break;
      this.start(c, this.queue.shift()!);
    }
    if (this.queue.length && !this.conns.some((x) => x.alive)) {
      const e = this.deadError();
      for (const j of this.queue.splice(0)) j.reject(e);
    }
  }

  private deadError(): BlockSourceError {
    return this.closing
      ? nbdError('closed', `${this.where}: closed`)
      : nbdError('disconnected', `${this.where}: no live connection left`);
  }
}
