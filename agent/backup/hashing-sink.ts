/**
 * @layer logic
 * An ImageSink wrapper that digests what goes through it, for the manifest's `file_sha256`
 * (docs/FORMAT.md, "Digests"): `body` hashes every byte appended after the first cluster as it
 * streams; `header` hashes the first cluster as it finally is, after the one writeAt(0) patch.
 */
import { createHash, type Hash } from 'node:crypto';
import type { ImageSink } from '../qcow2/port.ts';

export class HashingSink implements ImageSink {
  private readonly body: Hash = createHash('sha256');
  private readonly first: Buffer;
  private firstFilled = 0;
  bytes = 0;

  constructor(private readonly inner: ImageSink, readonly headerSize = 65536) {
    this.first = Buffer.alloc(headerSize);
  }

  get length(): number {
    return this.inner.length;
  }

  async append(chunk: Buffer, signal?: AbortSignal): Promise<void> {
    const at = this.inner.length;
    await this.inner.append(chunk, signal);
    this.bytes += chunk.length;
    if (at < this.headerSize) {
      const n = Math.min(chunk.length, this.headerSize - at);
      chunk.copy(this.first, at, 0, n);
      this.firstFilled = Math.max(this.firstFilled, at + n);
      if (n < chunk.length) this.body.update(chunk.subarray(n));
    } else {
      this.body.update(chunk);
    }
  }

  async writeAt(offset: number, chunk: Buffer, signal?: AbortSignal): Promise<void> {
    if (offset + chunk.length > this.headerSize) throw new Error(`[backup] positioned write at ${offset} outside the header cluster`);
    await this.inner.writeAt(offset, chunk, signal);
    this.bytes += chunk.length;
    chunk.copy(this.first, offset);
  }

  digests(): { header: string; body: string } {
    return {
      header: createHash('sha256').update(this.first.subarray(0, Math.max(this.firstFilled, 0))).digest('hex'),
      body: this.body.digest('hex'),
    };
  }
}
