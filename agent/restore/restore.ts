/**
 * @layer usecase
 * Restores one disk of one point (chain resolved) into a qcow2 or raw file, verifying every
 * block against the point's digests before the file is committed.
 */
import type { BackupTarget } from '../target/port.ts';
import { Repository } from '../repository/repository.ts';
import { Qcow2Writer } from '../qcow2/writer.ts';
import type { SumsTable } from '../backup/sums.ts';
import type { RestoreFile } from './port.ts';
import { openPointChain, readVerified } from './chain-read.ts';

export interface RestoreRequest {
  vm: string;
  disk: string;
  /** default: the newest point */
  point?: string;
  format: 'qcow2' | 'raw';
  inFlight?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface DiskRestoreResult {
  pointId: string;
  disk: string;
  virtualSize: number;
  bytesRead: number;
  chain: string[];
  contentSha256: string;
  durationMs: number;
  /** the point's block digests, to check the written result end to end */
  sums: SumsTable;
}

export class DiskRestoreError extends Error {
  override name = 'DiskRestoreError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export async function restoreDisk(target: BackupTarget, out: RestoreFile, req: RestoreRequest): Promise<DiskRestoreResult> {
  const t0 = Date.now();
  const repo = new Repository(target);
  try {
    const pointId = req.point ?? (await repo.head(req.vm, req.signal))?.id;
    if (!pointId) throw new DiskRestoreError(`[restore] VM ${req.vm} has no restore point in ${target.url}`);
    const c = await openPointChain(repo, req.vm, pointId, req.disk, req.signal);
    let bytesRead: number;
    if (req.format === 'raw') {
      await out.setSize(c.disk.virtual_size);
      bytesRead = await readVerified(c, (off, data) => (isZero(data) ? Promise.resolve() : out.writeRaw(off, data, req.signal)), req);
    } else {
      // blocks are 1 MiB (cluster multiples) except the last, which ends at the virtual size, as the writer wants
      const w = new Qcow2Writer(out, { virtualSize: c.disk.virtual_size, detectZeroes: true });
      bytesRead = await readVerified(c, (off, data) => w.writeData(off, data, req.signal), req);
      await w.finish(req.signal);
    }
    await out.commit(req.signal);
    return {
      pointId: c.point.id, disk: c.disk.target, virtualSize: c.disk.virtual_size, bytesRead,
      chain: c.links.map((l) => l.disk.image), contentSha256: c.disk.content_sha256, durationMs: Date.now() - t0, sums: c.sums,
    };
  } catch (e) {
    await out.abort().catch(() => {});
    if (e instanceof DiskRestoreError) throw e;
    throw new DiskRestoreError(`[restore] restore of ${req.vm} disk ${req.disk} failed, nothing was written: ${(e as Error).message}`, { cause: e });
  }
}

function isZero(b: Buffer): boolean {
  // compare in 8-byte words where possible
  for (let i = 0; i < b.length; i += 65536) {
    const part = b.subarray(i, Math.min(b.length, i + 65536));
    if (!part.equals(ZERO.subarray(0, part.length))) return false;
  }
  return true;
}
const ZERO = Buffer.alloc(65536);

