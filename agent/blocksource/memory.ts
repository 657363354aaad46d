/**
 * @layer port
 * An in-memory BlockSource that holds itself to the port's contract: a whole-disk Buffer or a
 * sparse disk (zero except the data pieces given), plus named meta contexts as extent lists.
 * Construction refuses contexts that could not come from a real server (overlaps, extents past
 * the end, base:allocation calling non-zero data "zero"). Answers arrive asynchronously, so
 * aborts and many reads in flight behave as they do against a server. `maxStatusLength`
 * makes blockStatus answer only a prefix, as an NBD server may.
 */
import { clipExtents } from './extents.ts';
import { BASE_ALLOCATION, BlockSourceError, STATE_HOLE, STATE_ZERO, type BlockSource, type Extent } from './port.ts';

export interface MemorySourceOptions {
  name?: string;
  /** the whole disk */
  content?: Buffer;
  /** a sparse disk of this size: zero except `data` */
  size?: number;
  data?: { offset: number; data: Buffer }[];
  /** meta contexts as extent lists; bytes no extent covers have flags 0. base:allocation defaults
   *  to the data pieces (flags 0) and holes between them (hole|zero). */
  contexts?: Record<string, Extent[]>;
  /** blockStatus answers at most this many bytes per call */
  maxStatusLength?: number;
}

function fail(name: string, msg: string): never {
  throw new BlockSourceError('range', `[blocksource:memory] ${name}: ${msg}`);
}

/** Sorted, non-overlapping extents in [0, size), gaps filled with `gapFlags`. */
function cover(name: string, ctx: string, size: number, extents: Extent[], gapFlags: number): Extent[] {
  const sorted = [...extents].sort((a, b) => a.offset - b.offset);
  const out: Extent[] = [];
  let at = 0;
  for (const e of sorted) {
    if (!(Number.isSafeInteger(e.offset) && e.length > 0 && e.offset + e.length <= size)) fail(name, `${ctx} extent ${JSON.stringify(e)} outside 0..${size}`);
    if (e.offset < at) fail(name, `${ctx} extents overlap at ${e.offset}`);
    if (e.offset > at) out.push({ offset: at, length: e.offset - at, flags: gapFlags });
    out.push({ ...e });
    at = e.offset + e.length;
  }
  if (at < size) out.push({ offset: at, length: size - at, flags: gapFlags });
  return out;
}

export class MemoryBlockSource implements BlockSource {
  readonly name: string;
  readonly size: number;
  readonly contexts: readonly string[];
  private readonly pieces: { offset: number; data: Buffer }[];
  private readonly maps = new Map<string, Extent[]>();
  private readonly maxStatusLength: number;
  private closed = false;

  constructor(o: MemorySourceOptions) {
    this.name = o.name ?? 'memory';
    const pieces = o.content ? [{ offset: 0, data: o.content }] : [...(o.data ?? [])];
    this.size = o.content ? o.content.length : (o.size ?? fail(this.name, 'needs content or size'));
    cover(this.name, 'data', this.size, pieces.filter((p) => p.data.length).map((p) => ({ offset: p.offset, length: p.data.length, flags: 0 })), 0);
    this.pieces = pieces.filter((p) => p.data.length).sort((x, y) => x.offset - y.offset);
    this.maxStatusLength = o.maxStatusLength ?? Number.MAX_SAFE_INTEGER;
    const given = o.contexts ?? {};
    const alloc = given[BASE_ALLOCATION] ?? cover(this.name, 'data', this.size,
      this.pieces.map((p) => ({ offset: p.offset, length: p.data.length, flags: 0 })), STATE_HOLE | STATE_ZERO);
    this.maps.set(BASE_ALLOCATION, cover(this.name, BASE_ALLOCATION, this.size, alloc, 0));
    for (const [ctx, ex] of Object.entries(given)) if (ctx !== BASE_ALLOCATION) this.maps.set(ctx, cover(this.name, ctx, this.size, ex, 0));
    for (const e of this.maps.get(BASE_ALLOCATION)!) {
      if (e.flags & STATE_ZERO && this.copy(e.offset, e.length).some((b) => b !== 0)) fail(this.name, `base:allocation calls non-zero bytes at ${e.offset}+${e.length} zero`);
    }
    this.contexts = Object.freeze([...this.maps.keys()]);
  }

  read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    return this.answer(signal, () => {
      this.check('read', offset, length, true);
      return this.copy(offset, length);
    });
  }

  async readInto(offset: number, dest: Buffer, signal?: AbortSignal): Promise<Buffer> {
    (await this.read(offset, dest.length, signal)).copy(dest);
    return dest;
  }

  blockStatus(context: string, offset: number, length: number, signal?: AbortSignal): Promise<Extent[]> {
    return this.answer(signal, () => {
      this.check('block status', offset, length, false);
      const map = this.maps.get(context);
      if (!map) throw new BlockSourceError('unsupported', `[blocksource:memory] ${this.name}: no meta context ${JSON.stringify(context)} (have: ${this.contexts.join(', ')})`);
      return clipExtents(map, offset, offset + Math.min(length, this.maxStatusLength));
    });
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private check(op: string, offset: number, length: number, zeroOk: boolean): void {
    if (this.closed) throw new BlockSourceError('closed', `[blocksource:memory] ${this.name}: ${op} after close`);
    const ok = Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0
      && (zeroOk ? length >= 0 : length > 0) && offset + length <= this.size;
    if (!ok) throw new BlockSourceError('range', `[blocksource:memory] ${this.name}: ${op} of ${length} bytes at ${offset} is outside 0..${this.size}`);
  }

  private copy(offset: number, length: number): Buffer {
    const out = Buffer.alloc(length);
    for (const p of this.pieces) {
      const a = Math.max(p.offset, offset);
      const b = Math.min(p.offset + p.data.length, offset + length);
      if (b > a) p.data.copy(out, a - offset, a - p.offset, b - p.offset);
    }
    return out;
  }

  /** Runs `work` on a later turn unless `signal` aborts first; checks happen when called. */
  private answer<T>(signal: AbortSignal | undefined, work: () => T): Promise<T> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    let result: T;
    try {
      result = work();
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        clearImmediate(timer);
        reject(signal!.reason);
      };
      const timer = setImmediate(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve(result);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

export function memoryBlockSource(o: MemorySourceOptions): MemoryBlockSource {
  return new MemoryBlockSource(o);
}
