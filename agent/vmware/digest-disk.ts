/**
 * @layer usecase
 * The first pass of a VMware re-import: the 1 MiB block digests of a whole disk (docs/FORMAT.md,
 * "Digests"), holes per base:allocation taken as zeros without reading them, several reads in
 * flight. Compared with the previous point's `.sums` they say which blocks changed.
 */
import { BASE_ALLOCATION, STATE_ZERO, type BlockSource } from '../blocksource/port.ts';
import { extentsOf } from '../backup/copy-disk.ts';
import { intervals } from '../backup/copy-plan.ts';
import { SUMS_BLOCK_SIZE, SumsTable, sha256, zeroDigest } from '../backup/sums.ts';

export async function digestDisk(source: BlockSource, o: { signal?: AbortSignal; inFlight?: number; onProgress?: (bytesRead: number, bytesToRead: number) => void } = {}): Promise<{ sums: SumsTable; bytesRead: number }> {
  const size = source.size;
  const sums = new SumsTable(size, SUMS_BLOCK_SIZE);
  const zero = source.contexts.includes(BASE_ALLOCATION) ? intervals(await extentsOf(source, BASE_ALLOCATION, size, o.signal), (f) => (f & STATE_ZERO) !== 0) : [];
  const todo: number[] = [];
  let zi = 0;
  for (let b = 0; b < sums.blocks; b++) {
    const s = b * SUMS_BLOCK_SIZE;
    const e = Math.min(size, s + SUMS_BLOCK_SIZE);
    while (zi < zero.length && zero[zi].end <= s) zi++;
    if (zi < zero.length && zero[zi].start <= s && zero[zi].end >= e) sums.set(b, zeroDigest(e - s));
    else todo.push(b);
  }
  const bytesToRead = todo.reduce((n, b) => n + sums.blockLength(b), 0);
  let bytesRead = 0;
  let next = 0;
  const lane = async () => {
    while (next < todo.length) {
      const b = todo[next++];
      o.signal?.throwIfAborted();
      const buf = await source.read(b * SUMS_BLOCK_SIZE, sums.blockLength(b), o.signal);
      sums.set(b, sha256(buf));
      bytesRead += buf.length;
      o.onProgress?.(bytesRead, bytesToRead);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.inFlight ?? 8) }, lane));
  return { sums, bytesRead };
}
