/**
 * @layer usecase
 * The guest view of one disk at one point as an ordered stream of blocks: what a raw upload or a
 * raw download sends. Blocks some layer allocates are read ahead (`inFlight` at once) and each is
 * checked against its digest before it is yielded; blocks no layer allocates are zeros (their
 * digest was checked up front). A mismatch makes the iterator throw VerifyError at that block.
 * Each layer file is streamed in file order meanwhile (streamChain).
 */
import { allocatedBlocks, readBlock, streamChain, type ChainOfPoint } from './chain-read.ts';

export async function* verifiedContent(c: ChainOfPoint, opts: { inFlight?: number; signal?: AbortSignal; onRead?: (bytes: number) => void } = {}): AsyncGenerator<Buffer> {
  const { sums } = c;
  const allocated = await allocatedBlocks(c, opts.signal);
  const stop = await streamChain(c, opts.signal);
  const ahead = new Map<number, Promise<Buffer>>();
  const inFlight = opts.inFlight ?? 8;
  let next = 0;
  const fill = () => {
    while (ahead.size < inFlight && next < sums.blocks) {
      const b = next++;
      if (!allocated[b]) continue;
      const p = readBlock(c, b, opts.signal);
      p.catch(() => {}); // awaited in order below; an early failure must not be unhandled
      ahead.set(b, p);
    }
  };
  const zeros = new Map<number, Buffer>();
  try {
    for (let b = 0; b < sums.blocks; b++) {
      opts.signal?.throwIfAborted();
      fill();
      const len = sums.blockLength(b);
      if (!allocated[b]) {
        let z = zeros.get(len);
        if (!z) zeros.set(len, (z = Buffer.alloc(len)));
        yield z;
        continue;
      }
      const data = await ahead.get(b)!;
      ahead.delete(b);
      opts.onRead?.(data.length);
      yield data;
    }
  } finally {
    ahead.clear();
    stop();
  }
}
