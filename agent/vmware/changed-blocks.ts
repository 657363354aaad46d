/**
 * @layer logic
 * A VMware export carries no dirty bitmap, so a later export of the same VM finds its changes by
 * digests: every 1 MiB block of the new disk is hashed and compared with the previous point's
 * `.sums`. `changedExtents` turns the differing blocks into dirty extents, and
 * `withDirtyContext` presents them to the backup's copy as the meta context `sendense:digests`
 * (bit 0 = dirty, as qemu:dirty-bitmap), so the copy, the qcow2 overlay and the new `.sums` are
 * made by exactly the code an incremental backup uses.
 */
import { DIRTY, type BlockSource, type Extent } from '../blocksource/port.ts';

export const DIGEST_DIRTY_CONTEXT = 'sendense:digests';

/** Dirty extents covering the given blocks (sorted, merged), over a disk of `size` bytes. */
export function changedExtents(blocks: readonly number[], blockSize: number, size: number): Extent[] {
  const out: Extent[] = [];
  let at = 0;
  for (const b of [...blocks].sort((x, y) => x - y)) {
    const s = b * blockSize;
    const e = Math.min(size, s + blockSize);
    if (s >= size) continue;
    const last = out[out.length - 1];
    if (last && last.flags === DIRTY && last.offset + last.length === s) { last.length = e - last.offset; at = e; continue; }
    if (s > at) out.push({ offset: at, length: s - at, flags: 0 });
    out.push({ offset: s, length: e - s, flags: DIRTY });
    at = e;
  }
  if (at < size) out.push({ offset: at, length: size - at, flags: 0 });
  return out;
}

/** The source with one more meta context answering from `extents`; everything else passes through. */
export function withDirtyContext(src: BlockSource, extents: readonly Extent[]): BlockSource {
  return {
    name: src.name,
    size: src.size,
    contexts: [...src.contexts, DIGEST_DIRTY_CONTEXT],
    read: (o, l, s) => src.read(o, l, s),
    readInto: src.readInto ? (o, d, s) => src.readInto!(o, d, s) : undefined,
    async blockStatus(context, offset, length, signal) {
      if (context !== DIGEST_DIRTY_CONTEXT) return src.blockStatus(context, offset, length, signal);
      signal?.throwIfAborted();
      const end = Math.min(src.size, offset + length);
      const out: Extent[] = [];
      for (const e of extents) {
        const s = Math.max(e.offset, offset);
        const t = Math.min(e.offset + e.length, end);
        if (t > s) out.push({ offset: s, length: t - s, flags: e.flags });
      }
      return out;
    },
    close: () => src.close(),
  };
}
