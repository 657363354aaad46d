/**
 * @layer usecase
 * A chain layer's image file read as ONE sequential stream instead of thousands of ranged reads
 * (over SSH each ranged read is an SFTP round trip; the stream is one `dd` on one channel).
 *
 * LayerStream is a RandomAccess over the file. Until `start(plan)` it passes every read to the
 * ranged reader (the qcow2 reader's header, L1 and L2 reads). `plan` lists the host ranges a
 * restore will read, each byte once (chainDataRuns): the stream then runs through them in file
 * order (gaps up to GAP_BYTES are streamed and dropped, longer ones start a new stream), keeping
 * the planned bytes that arrive until a read takes them. A read of planned bytes waits for the
 * stream; everything else — unplanned ranges, bytes already taken, a failed stream — goes to
 * the ranged reader, so the result is always the file's bytes whatever the order of the reads.
 *
 * Memory: at most `maxHeld` bytes are kept. When the stream is that far ahead of the reads, it
 * pauses (its SSH channel's window closes); reads waiting for bytes past the pause go to the
 * ranged reader meanwhile (their range is marked taken, so the stream drops it later): a chain
 * whose data is not in guest order still finishes, with ranged reads for the disorder only.
 */
import type { RandomAccess } from '../qcow2/port.ts';

export interface HostRange { start: number; end: number }

/** Opens a sequential read of `length` bytes at `offset` of the file. */
export type OpenStream = (offset: number, length: number, signal?: AbortSignal) => AsyncIterable<Buffer>;

/** gaps between planned ranges up to this are streamed through (cheaper than a new command) */
export const GAP_BYTES = 8 << 20;
export const MAX_HELD_BYTES = 32 << 20;

interface Held { start: number; buf: Buffer; left: number }
interface Waiter { start: number; end: number; resolve(b: Buffer): void; reject(e: unknown): void; signal?: AbortSignal }

/** sorted, merged */
function merge(ranges: HostRange[]): HostRange[] {
  const out: HostRange[] = [];
  for (const r of [...ranges].sort((a, b) => a.start - b.start)) {
    if (r.end <= r.start) continue;
    const last = out.at(-1);
    if (last && r.start <= last.end) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

/** index of the range containing [s, e), or -1 */
function find(ranges: HostRange[], s: number, e: number): number {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid];
    if (r.end <= s) lo = mid + 1;
    else if (r.start > s) hi = mid - 1;
    else return e <= r.end ? mid : -1;
  }
  return -1;
}

export class LayerStream implements RandomAccess {
  readonly size: number;
  private planned: HostRange[] = [];
  /** ranges served by the ranged reader while planned: the stream drops them */
  private taken: HostRange[] = [];
  private held: Held[] = [];
  private heldBytes = 0;
  /** the stream has delivered everything below this offset */
  private pos = 0;
  private waiters: Waiter[] = [];
  private running = false;
  private failed = false;
  private change: (() => void) | undefined;
  /** the first planned range the stream has not passed */
  private cursor = 0;
  private readonly stopper = new AbortController();
  /** reads served from the stream, and by the ranged reader (for the benchmark's notes) */
  readonly counts = { streamed: 0, ranged: 0 };

  constructor(private readonly ranged: RandomAccess, private readonly open: OpenStream, private readonly maxHeld = MAX_HELD_BYTES) {
    this.size = ranged.size;
  }

  /** Starts streaming the planned ranges (in the background); stop() ends it. */
  start(plan: HostRange[], signal?: AbortSignal): void {
    if (this.running) return;
    this.planned = merge(plan.filter((r) => r.start >= 0 && r.end <= this.size));
    if (this.planned.length === 0) return;
    this.running = true;
    const sig = signal ? AbortSignal.any([signal, this.stopper.signal]) : this.stopper.signal;
    void this.pump(sig).catch(() => {}).finally(() => {
      this.running = false;
      this.failed = true; // whatever is still planned and not held goes to the ranged reader
      for (const w of this.waiters.splice(0)) this.fallback(w);
    });
  }

  stop(): void {
    this.stopper.abort(new Error('[restore] layer stream stopped'));
    this.poke();
  }

  read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    const end = offset + length;
    if (length === 0 || find(this.planned, offset, end) < 0 || this.overlapsTaken(offset, end)) return this.rangedRead(offset, length, signal);
    if (end <= this.pos || this.failed) {
      const b = this.take(offset, end);
      return b ? Promise.resolve(b) : this.rangedRead(offset, length, signal);
    }
    return new Promise<Buffer>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal!.reason);
      };
      const done = () => signal?.removeEventListener('abort', onAbort);
      const w: Waiter = {
        start: offset, end, signal,
        resolve: (b) => { done(); resolve(b); },
        reject: (e) => { done(); reject(e); },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(w);
      this.poke();
    });
  }

  private rangedRead(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    this.counts.ranged++;
    return this.ranged.read(offset, length, signal);
  }

  private poke(): void {
    const c = this.change;
    this.change = undefined;
    c?.();
  }

  private overlapsTaken(s: number, e: number): boolean {
    return this.taken.some((t) => t.start < e && t.end > s);
  }

  /** The held bytes of [s, e) (all of them, or undefined), removed from what is held. */
  private take(s: number, e: number): Buffer | undefined {
    const parts = this.held.filter((h) => h.start < e && h.start + h.buf.length > s);
    let covered = 0;
    for (const h of parts) covered += Math.min(e, h.start + h.buf.length) - Math.max(s, h.start);
    if (covered !== e - s) return undefined;
    const single = parts.length === 1 ? parts[0] : undefined;
    const out = single ? single.buf.subarray(s - single.start, e - single.start) : Buffer.allocUnsafe(e - s);
    for (const h of parts) {
      const a = Math.max(s, h.start);
      const b = Math.min(e, h.start + h.buf.length);
      if (!single) h.buf.copy(out, a - s, a - h.start, b - h.start);
      h.left -= b - a;
      if (h.left === 0) {
        this.held.splice(this.held.indexOf(h), 1);
        this.heldBytes -= h.buf.length;
      }
    }
    this.counts.streamed++;
    this.poke();
    return out;
  }

  private fallback(w: Waiter): void {
    this.taken.push({ start: w.start, end: w.end });
    this.rangedRead(w.start, w.end - w.start, w.signal).then(w.resolve, w.reject);
  }

  /** Serves the waiters the stream has passed; those past a paused stream go to the ranged reader. */
  private settle(paused: boolean): void {
    const still: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.end <= this.pos) {
        const b = this.take(w.start, w.end);
        if (b) w.resolve(b);
        else this.fallback(w);
      } else if (paused) {
        this.fallback(w);
      } else {
        still.push(w);
      }
    }
    this.waiters = still;
  }

  /** Keeps the parts of a chunk at `at` that are planned and not taken. */
  private keep(at: number, chunk: Buffer): void {
    const end = at + chunk.length;
    // chunks arrive in file order: planned ranges wholly before this one are done with
    while (this.cursor < this.planned.length && this.planned[this.cursor].end <= at) this.cursor++;
    for (let i = this.cursor; i < this.planned.length; i++) {
      const r = this.planned[i];
      if (r.start >= end) break;
      let s = Math.max(at, r.start);
      const e = Math.min(end, r.end);
      // cut out what the ranged reader already served
      for (const t of this.taken.filter((x) => x.start < e && x.end > s).sort((a, b) => a.start - b.start)) {
        if (t.start > s) this.hold(s, chunk.subarray(s - at, t.start - at));
        s = Math.max(s, t.end);
      }
      if (s < e) this.hold(s, chunk.subarray(s - at, e - at));
    }
  }

  private hold(start: number, buf: Buffer): void {
    if (buf.length === 0) return;
    this.held.push({ start, buf, left: buf.length });
    this.heldBytes += buf.length;
  }

  private async pump(signal: AbortSignal): Promise<void> {
    // segments: planned ranges joined across gaps up to GAP_BYTES
    const segments: HostRange[] = [];
    for (const r of this.planned) {
      const last = segments.at(-1);
      if (last && r.start - last.end <= GAP_BYTES) last.end = r.end;
      else segments.push({ ...r });
    }
    for (const seg of segments) {
      let at = seg.start;
      this.pos = seg.start;
      this.settle(false);
      for await (const chunk of this.open(seg.start, seg.end - seg.start, signal)) {
        this.keep(at, chunk);
        at += chunk.length;
        this.pos = at;
        this.settle(false);
        while (this.heldBytes > this.maxHeld && !signal.aborted) {
          this.settle(true);
          await new Promise<void>((r) => { this.change = r; });
        }
        signal.throwIfAborted();
      }
      this.pos = seg.end;
      this.settle(false);
    }
    this.pos = this.size;
  }
}
