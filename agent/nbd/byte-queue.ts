/**
 * @layer logic
 * The bytes received and not yet parsed, kept as the list of chunks the socket delivered (no
 * concatenation on arrival). Readers take small headers (copied only when they straddle two
 * chunks) and stream payloads straight into their destination with `copyTo`, so a read's data
 * is copied once, from the socket's buffer into the caller's.
 */

export class ByteQueue {
  private chunks: Buffer[] = [];
  /** position in chunks[0] where unread bytes start */
  private head = 0;
  /** unread bytes */
  length = 0;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.length += chunk.length;
  }

  /** The u32 at `at` bytes ahead, without consuming anything; needs length ≥ at + 4. */
  peekUInt32BE(at = 0): number {
    const first = this.chunks[0];
    const p = this.head + at;
    if (first && p + 4 <= first.length) return first.readUInt32BE(p);
    return this.copyOut(at + 4).readUInt32BE(at);
  }

  /** Consumes `n` bytes: a view when they lie in one chunk, else one copy. Needs length ≥ n. */
  take(n: number): Buffer {
    if (n > this.length) throw new RangeError(`[nbd] byte queue: take ${n} of ${this.length}`);
    const first = this.chunks[0];
    if (first && this.head + n <= first.length) {
      const view = first.subarray(this.head, this.head + n);
      this.advance(n);
      return view;
    }
    const out = this.copyOut(n);
    this.advance(n);
    return out;
  }

  /** Consumes min(n, length) bytes into dest at pos; returns how many. */
  copyTo(dest: Buffer, pos: number, n: number): number {
    let left = Math.min(n, this.length);
    const done = left;
    while (left > 0) {
      const first = this.chunks[0];
      const k = Math.min(left, first.length - this.head);
      first.copy(dest, pos, this.head, this.head + k);
      pos += k;
      left -= k;
      this.advance(k);
    }
    return done;
  }

  /** Drops min(n, length) bytes; returns how many. */
  skip(n: number): number {
    const k = Math.min(n, this.length);
    this.advance(k);
    return k;
  }

  /** Copies what is left into memory of its own: the socket is about to reuse its read buffer. */
  detach(): void {
    if (this.length === 0) return;
    const own = this.copyOut(this.length);
    this.chunks = [own];
    this.head = 0;
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.length = 0;
  }

  private copyOut(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let pos = 0;
    let head = this.head;
    for (const c of this.chunks) {
      if (pos >= n) break;
      const k = Math.min(n - pos, c.length - head);
      c.copy(out, pos, head, head + k);
      pos += k;
      head = 0;
    }
    return out;
  }

  private advance(n: number): void {
    this.length -= n;
    this.head += n;
    while (this.chunks.length && this.head >= this.chunks[0].length) {
      this.head -= this.chunks[0].length;
      this.chunks.shift();
    }
  }
}
