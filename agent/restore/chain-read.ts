/**
 * @layer usecase
 * Reads the guest view of one disk at one point from the repository — the qcow2 chain resolved
 * through its manifests — block by block, checking every 1 MiB block against the point's digests
 * before handing it on. Used by restore (to write it out) and verify (to check it). A whole read
 * streams each layer file in file order (layer-stream.ts): no ranged read per block.
 */
import { chainDataRuns, openChain, type Qcow2Chain } from '../qcow2/reader.ts';
import { LayerStream, type HostRange } from './layer-stream.ts';
import { Repository } from '../repository/repository.ts';
import { vmDir } from '../repository/layout.ts';
import type { PointDisk, PointManifest } from '../repository/manifest.ts';
import { targetAccess } from '../repository/target-access.ts';
import { SumsTable, sha256, zeroDigest } from '../backup/sums.ts';

export class VerifyError extends Error {
  override name = 'VerifyError';
  constructor(message: string, readonly block?: number, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface ChainOfPoint {
  point: PointManifest;
  disk: PointDisk;
  /** base first */
  links: { point: PointManifest; disk: PointDisk }[];
  chain: Qcow2Chain;
  sums: SumsTable;
  /** each layer's file (top first), streamable once a whole read is planned (streamChain) */
  files: LayerStream[];
}

/** layers streamed at once at most (each holds an SSH channel); the others are read by range */
const MAX_STREAMED_LAYERS = 4;

export async function openPointChain(repo: Repository, vm: string, pointId: string, disk: string, signal?: AbortSignal): Promise<ChainOfPoint> {
  const links = await repo.chain(vm, pointId, disk, signal);
  const top = links[links.length - 1];
  const topFirst = [...links].reverse();
  const files = await Promise.all(topFirst.map(async (l) => {
    const path = `${vmDir(vm)}/${l.disk.image}`;
    const ranged = await targetAccess(repo.target, path, signal);
    return new LayerStream(ranged, (offset, length, s) => repo.target.readStream(path, offset, length, s));
  }));
  const names = topFirst.map((l) => l.disk.image.slice(l.disk.image.lastIndexOf('/') + 1));
  const chain = await openChain(files, { names, signal });
  if (chain.size !== top.disk.virtual_size) throw new VerifyError(`[verify] ${top.disk.image} is ${chain.size} bytes, the manifest says ${top.disk.virtual_size}`);
  const sumsBuf = await repo.readSums(vm, top.disk, signal);
  const sums = new SumsTable(top.disk.virtual_size, top.disk.block_size, sumsBuf);
  if (sums.contentSha256() !== top.disk.content_sha256) {
    throw new VerifyError(`[verify] ${top.disk.sums} does not match content_sha256 of point ${top.point.id}: the digest file is damaged`);
  }
  return { point: top.point, disk: top.disk, links, chain, sums, files };
}

/**
 * Plans a read of the whole guest view: each layer's file is streamed in file order (the layers
 * with the most data, up to MAX_STREAMED_LAYERS) instead of read range by range. Returns stop(),
 * for when the read ends early.
 */
export async function streamChain(c: ChainOfPoint, signal?: AbortSignal): Promise<() => void> {
  const runs = await chainDataRuns(c.chain, 0, c.chain.size, signal);
  const per = c.files.map(() => [] as HostRange[]);
  for (const r of runs) per[r.layer].push({ start: r.hostOffset, end: r.hostOffset + r.length });
  const bytes = per.map((rs) => rs.reduce((n, r) => n + r.end - r.start, 0));
  const order = per.map((_, i) => i).filter((i) => bytes[i] > 0).sort((a, b) => bytes[b] - bytes[a]).slice(0, MAX_STREAMED_LAYERS);
  for (const i of order) c.files[i].start(per[i], signal);
  return () => { for (const f of c.files) f.stop(); };
}

/**
 * Which blocks some layer of the chain allocates (1) or none does (0). A block no layer allocates
 * reads as zeros, so its digest must be the digest of zeros: otherwise throws VerifyError (an image
 * of the chain lost data).
 */
export async function allocatedBlocks(c: ChainOfPoint, signal?: AbortSignal): Promise<Uint8Array> {
  const { sums, chain } = c;
  const bs = sums.blockSize;
  const allocated = new Uint8Array(sums.blocks);
  for (const e of await chain.extents(0, chain.size, signal)) {
    for (let b = Math.floor(e.offset / bs); b * bs < e.offset + e.length; b++) allocated[b] = 1;
  }
  for (let b = 0; b < sums.blocks; b++) {
    if (!allocated[b] && !sums.get(b).equals(zeroDigest(sums.blockLength(b)))) {
      throw new VerifyError(`[verify] block ${b} (offset ${b * bs}) of ${c.disk.target} at point ${c.point.id} is not stored in any image of the chain but was not zero when backed up: an image is missing data`, b);
    }
  }
  return allocated;
}

/** Reads one block of the chain and checks it against its digest (VerifyError when it differs). */
export async function readBlock(c: ChainOfPoint, b: number, signal?: AbortSignal): Promise<Buffer> {
  const data = await c.chain.read(b * c.sums.blockSize, c.sums.blockLength(b), signal);
  if (!sha256(data).equals(c.sums.get(b))) {
    throw new VerifyError(`[verify] block ${b} (offset ${b * c.sums.blockSize}) of ${c.disk.target} at point ${c.point.id} does not match its digest: the repository's data is damaged`, b);
  }
  return data;
}

export interface BlockHandler {
  /** called for every block that holds data (in any order); zero blocks are skipped */
  (offset: number, data: Buffer): Promise<void>;
}

/**
 * Reads every block of the chain that some layer allocates, checks its digest, passes it on.
 * Blocks no layer allocates must have the digest of zeros. Throws VerifyError on the first
 * mismatch. Returns the bytes read.
 */
export async function readVerified(c: ChainOfPoint, onBlock: BlockHandler | undefined, opts: { inFlight?: number; signal?: AbortSignal; onProgress?: (done: number, total: number) => void } = {}): Promise<number> {
  const { sums } = c;
  const bs = sums.blockSize;
  const allocated = await allocatedBlocks(c, opts.signal);
  const stop = await streamChain(c, opts.signal);
  const todo: number[] = [];
  for (let b = 0; b < sums.blocks; b++) if (allocated[b]) todo.push(b);
  let next = 0;
  let bytes = 0;
  let failed: unknown;
  const lane = async () => {
    while (next < todo.length && failed === undefined) {
      const b = todo[next++];
      try {
        opts.signal?.throwIfAborted();
        const data = await readBlock(c, b, opts.signal);
        bytes += data.length;
        if (onBlock) await onBlock(b * bs, data);
        opts.onProgress?.(bytes, todo.length * bs);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.inFlight ?? 8 }, lane));
  stop();
  if (failed !== undefined) throw failed;
  return bytes;
}
