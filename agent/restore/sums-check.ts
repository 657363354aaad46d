/**
 * @layer logic
 * Checks a disk's content, fed in order in pieces of any size, against a point's block digests
 * (docs/FORMAT.md "Digests"): the end-to-end check of a restored file, with nothing but its .sums.
 */
import { sha256, type SumsTable } from '../backup/sums.ts';

export interface SumsCheckResult {
  ok: boolean;
  /** bytes fed */
  bytes: number;
  /** blocks whose digest differs (at most `limit` are listed) */
  mismatched: number[];
  mismatchCount: number;
  problems: string[];
}

export class SumsChecker {
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  private block = 0;
  private bytes = 0;
  private readonly mismatched: number[] = [];
  private mismatchCount = 0;

  constructor(private readonly sums: SumsTable, private readonly limit = 10) {}

  feed(chunk: Buffer): void {
    this.bytes += chunk.length;
    let rest = chunk;
    while (rest.length) {
      if (this.block >= this.sums.blocks) return; // longer than the disk: said by finish()
      const need = this.sums.blockLength(this.block) - this.pendingBytes;
      const take = rest.subarray(0, need);
      rest = rest.subarray(take.length);
      if (take.length === need && this.pendingBytes === 0) {
        this.check(take);
        continue;
      }
      this.pending.push(take);
      this.pendingBytes += take.length;
      if (this.pendingBytes === this.sums.blockLength(this.block)) {
        const whole = Buffer.concat(this.pending, this.pendingBytes);
        this.pending.length = 0;
        this.pendingBytes = 0;
        this.check(whole);
      }
    }
  }

  private check(block: Buffer): void {
    if (!sha256(block).equals(this.sums.get(this.block))) {
      this.mismatchCount += 1;
      if (this.mismatched.length < this.limit) this.mismatched.push(this.block);
    }
    this.block += 1;
  }

  finish(what = 'the image'): SumsCheckResult {
    const problems: string[] = [];
    const bs = this.sums.blockSize;
    if (this.bytes !== this.sums.virtualSize) problems.push(`${what} holds ${this.bytes} bytes, the point's disk ${this.sums.virtualSize}`);
    if (this.mismatchCount) {
      problems.push(`${this.mismatchCount} block(s) of ${what} differ from the point's digests (first at offset ${this.mismatched.map((b) => b * bs).join(', ')})`);
    }
    return { ok: problems.length === 0, bytes: this.bytes, mismatched: [...this.mismatched], mismatchCount: this.mismatchCount, problems };
  }
}

/** Feeds a whole stream to a SumsChecker. */
export async function checkAgainstSums(content: AsyncIterable<Buffer>, sums: SumsTable, what?: string, signal?: AbortSignal): Promise<SumsCheckResult> {
  const c = new SumsChecker(sums);
  for await (const chunk of content) {
    signal?.throwIfAborted();
    c.feed(chunk);
  }
  return c.finish(what);
}
