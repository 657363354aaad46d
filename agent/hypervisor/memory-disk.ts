/**
 * @layer port
 * In-memory disk content for the memory hypervisor: a sparse map of 64 KiB chunks (absent =
 * never written, 'zero' = zero-written cluster, Buffer = data). Chunks are copy-on-write —
 * a write always installs a new Buffer — so a snapshot is a cheap copy of the map that later
 * guest writes never change. `DiskSnapshotSource` serves a snapshot as a BlockSource, with
 * base:allocation and an optional dirty-bitmap context, honouring the BlockSource contract.
 */
import { BASE_ALLOCATION, BlockSourceError, DIRTY, STATE_HOLE, STATE_ZERO, type BlockSource, type Extent } from '../blocksource/port.ts';

export const CHUNK = 64 * 1024;

export type Chunk = Buffer | 'zero';

export class SparseDisk {
  chunks = new Map<number, Chunk>();
  constructor(readonly size: number) {}

  /** The chunk indexes a byte range touches. */
  static span(offset: number, length: number): number[] {
    if (length <= 0) return [];
    const out: number[] = [];
    for (let c = Math.floor(offset / CHUNK); c * CHUNK < offset + length; c++) out.push(c);
    return out;
  }

  private check(offset: number, length: number): void {
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new RangeError(`[hypervisor] [memory] range ${offset}+${length} outside a ${this.size}-byte disk`);
    }
  }

  /** Writes data (or zeros when `data` is 'zero'); returns the chunks touched. */
  write(offset: number, data: Buffer | { zero: number }): number[] {
    const length = Buffer.isBuffer(data) ? data.length : data.zero;
    this.check(offset, length);
    const touched = SparseDisk.span(offset, length);
    for (const c of touched) {
      const start = Math.max(offset, c * CHUNK);
      const end = Math.min(offset + length, (c + 1) * CHUNK, this.size);
      const chunkLen = Math.min(CHUNK, this.size - c * CHUNK);
      if (!Buffer.isBuffer(data) && start === c * CHUNK && end === c * CHUNK + chunkLen) {
        this.chunks.set(c, 'zero');
        continue;
      }
      const old = this.chunks.get(c);
      const next = Buffer.alloc(chunkLen);
      if (Buffer.isBuffer(old)) old.copy(next);
      if (Buffer.isBuffer(data)) data.copy(next, start - c * CHUNK, start - offset, end - offset);
      else next.fill(0, start - c * CHUNK, end - c * CHUNK);
      this.chunks.set(c, next);
    }
    return touched;
  }

  read(offset: number, length: number): Buffer {
    this.check(offset, length);
    return readChunks(this.chunks, offset, length);
  }

  snapshot(): ReadonlyMap<number, Chunk> {
    return new Map(this.chunks);
  }
}

function readChunks(chunks: ReadonlyMap<number, Chunk>, offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (const c of SparseDisk.span(offset, length)) {
    const ch = chunks.get(c);
    if (!Buffer.isBuffer(ch)) continue;
    const start = Math.max(offset, c * CHUNK);
    const end = Math.min(offset + length, c * CHUNK + ch.length);
    ch.copy(out, start - offset, start - c * CHUNK, end - c * CHUNK);
  }
  return out;
}

export interface SnapshotExport {
  name: string;
  size: number;
  chunks: ReadonlyMap<number, Chunk>;
  /** dirty chunk indexes, offered as `bitmapContext` */
  dirty?: { context: string; chunks: ReadonlySet<number> };
  /** false once the export is gone (job ended, server stopped) */
  live(): boolean;
}

/** A snapshot served as a BlockSource, as an NBD client would see the export. */
export class DiskSnapshotSource implements BlockSource {
  readonly name: string;
  readonly size: number;
  readonly contexts: readonly string[];
  private closed = false;

  constructor(private readonly exp: SnapshotExport) {
    this.name = exp.name;
    this.size = exp.size;
    this.contexts = exp.dirty ? [BASE_ALLOCATION, exp.dirty.context] : [BASE_ALLOCATION];
  }

  /** `minLength`: a read may ask for 0 bytes, a status query for at least 1 */
  private guard(offset: number, length: number, signal?: AbortSignal, minLength = 1): void {
    if (signal?.aborted) throw signal.reason;
    if (this.closed) throw new BlockSourceError('closed', `[hypervisor] [memory] export '${this.name}' is closed`);
    if (!this.exp.live()) throw new BlockSourceError('disconnected', `[hypervisor] [memory] export '${this.name}' went away (the backup job ended)`);
    if (!Number.isInteger(offset) || !Number.isInteger(length) || offset < 0 || length < minLength || offset + length > this.size) {
      throw new BlockSourceError('range', `[hypervisor] [memory] request ${offset}+${length} outside export '${this.name}' of ${this.size} bytes`);
    }
  }

  read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    return this.later(signal, () => {
      this.guard(offset, length, signal, 0);
      return readChunks(this.exp.chunks, offset, length);
    });
  }

  blockStatus(context: string, offset: number, length: number, signal?: AbortSignal): Promise<Extent[]> {
    return this.later(signal, () => this.status(context, offset, length, signal));
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Answers on a later turn, as a server would: an abort in between rejects with its reason. */
  private later<T>(signal: AbortSignal | undefined, answer: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => { clearImmediate(turn); reject(signal!.reason); };
      const turn = setImmediate(() => {
        signal?.removeEventListener('abort', onAbort);
        try { resolve(answer()); } catch (e) { reject(e); }
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private status(context: string, offset: number, length: number, signal?: AbortSignal): Extent[] {
    this.guard(offset, length, signal);
    if (!this.contexts.includes(context)) {
      throw new BlockSourceError('unsupported', `[hypervisor] [memory] export '${this.name}' has no meta context '${context}' (it has ${this.contexts.join(', ')})`);
    }
    const flagsOf = (c: number): number => {
      if (context === BASE_ALLOCATION) return Buffer.isBuffer(this.exp.chunks.get(c)) ? 0 : STATE_HOLE | STATE_ZERO;
      return this.exp.dirty!.chunks.has(c) ? DIRTY : 0;
    };
    const out: Extent[] = [];
    const end = offset + length;
    for (const c of SparseDisk.span(offset, length)) {
      const s = Math.max(offset, c * CHUNK);
      const e = Math.min(end, (c + 1) * CHUNK);
      const flags = flagsOf(c);
      const last = out[out.length - 1];
      if (last && last.flags === flags) last.length += e - s;
      else out.push({ offset: s, length: e - s, flags });
    }
    return out;
  }
}
