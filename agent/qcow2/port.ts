/**
 * @layer port
 * The sink a qcow2 image is streamed into: appends, plus one positioned write at the end for
 * the header (see docs/FORMAT.md, "Write order"). A target's StreamFile satisfies it.
 * Ownership: once append/writeAt resolves, the sink keeps no reference to the chunk — the writer
 * reuses its buffers (a fresh 1 MiB buffer per block costs ~3.5 s of page faults per GiB here).
 */
import { Qcow2Error } from './errors.ts';
export interface ImageSink {
  readonly length: number;
  append(chunk: Buffer, signal?: AbortSignal): Promise<void>;
  writeAt(offset: number, chunk: Buffer, signal?: AbortSignal): Promise<void>;
}

/** Random access to an image file (local file, SFTP, memory), for the qcow2 reader. */
export interface RandomAccess {
  readonly size: number;
  read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer>;
}

/**
 * In-memory ImageSink (tests, development). It keeps the rules a file keeps: appends land at the
 * end, writeAt only patches bytes already appended, and every chunk is copied (the caller may
 * reuse its buffer once a call resolves). `appends` counts append calls.
 */
export class MemoryImageSink implements ImageSink {
  private chunks: Buffer[] = [];
  private bytes = 0;
  appends = 0;

  get length(): number {
    return this.bytes;
  }

  async append(chunk: Buffer, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.chunks.push(Buffer.from(chunk));
    this.bytes += chunk.length;
    this.appends += 1;
  }

  async writeAt(offset: number, chunk: Buffer, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + chunk.length > this.bytes) {
      throw new Qcow2Error('range', `memory sink: writeAt ${offset}+${chunk.length} outside the ${this.bytes} bytes written`);
    }
    // patch the chunks in place: no consolidation of a big image for one small header write
    let start = 0;
    for (const c of this.chunks) {
      const from = Math.max(offset, start);
      const to = Math.min(offset + chunk.length, start + c.length);
      if (from < to) chunk.copy(c, from - start, from - offset, to - offset);
      start += c.length;
      if (start >= offset + chunk.length) break;
    }
  }

  /** the sink's contents (consolidated into one buffer, which later writes keep up to date) */
  toBuffer(): Buffer {
    if (this.chunks.length !== 1) {
      const whole = Buffer.concat(this.chunks, this.bytes);
      this.chunks = [whole];
    }
    return this.chunks[0] ?? Buffer.alloc(0);
  }
}

/** RandomAccess over a buffer. Reads past the end reject, as the file adapter's do; `reads` counts calls. */
export class MemoryRandomAccess implements RandomAccess {
  reads = 0;
  constructor(private readonly data: Buffer) {}

  get size(): number {
    return this.data.length;
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    signal?.throwIfAborted();
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.data.length) {
      throw new Qcow2Error('range', `memory file: read ${offset}+${length} past the end (${this.data.length} bytes)`);
    }
    this.reads += 1;
    return Buffer.from(this.data.subarray(offset, offset + length));
  }
}
