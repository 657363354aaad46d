/**
 * @layer usecase
 * One disk of one point as a byte stream of known length (ImageStream), for a download or an
 * upload. Raw streams straight from the repository in guest order, each block checked against
 * its digest as it is read (a mismatch ends the stream with an error: the consumer sees fewer
 * bytes than announced). A qcow2 image is built first in a scratch file under `scratchDir` (its
 * length is only known once written; every block is checked while it is built), then streamed
 * from there; close() removes it.
 */
import type { BackupTarget } from '../target/port.ts';
import { Repository } from '../repository/repository.ts';
import type { ImageStream, LocalFiles } from './port.ts';
import { openPointChain } from './chain-read.ts';
import { verifiedContent } from './ordered-read.ts';
import { restoreDisk, DiskRestoreError, type RestoreRequest } from './restore.ts';
import { ensureScratchSpace, scratchNeed, scratchPath, type FreeSpace } from './scratch.ts';

export interface ImageStreamDeps {
  target: BackupTarget;
  files: LocalFiles;
  /** where qcow2 images are built (the agent's work dir) */
  scratchDir: string;
  /** checked before the scratch image is made (ensureScratchSpace); none: not checked */
  freeSpace?: FreeSpace;
}

/** as a restore's: the progress callback reports the qcow2 build (before the stream exists) */
export type ImageStreamRequest = RestoreRequest;

export async function openImageStream(deps: ImageStreamDeps, req: ImageStreamRequest): Promise<ImageStream> {
  const repo = new Repository(deps.target);
  const pointId = req.point ?? (await repo.head(req.vm, req.signal))?.id;
  if (!pointId) throw new DiskRestoreError(`[restore] VM ${req.vm} has no restore point in ${deps.target.url}`);
  if (req.format === 'raw') {
    const c = await openPointChain(repo, req.vm, pointId, req.disk, req.signal);
    let read = 0;
    return {
      pointId, disk: c.disk.target, format: 'raw', virtualSize: c.disk.virtual_size, contentSha256: c.disk.content_sha256,
      chain: c.links.map((l) => l.disk.image), length: c.disk.virtual_size,
      body: verifiedContent(c, { inFlight: req.inFlight, signal: req.signal, onRead: (n) => { read += n; } }),
      bytesRead: () => read,
      close: async () => {},
    };
  }
  const scratch = scratchPath(deps.scratchDir, 'image', [req.vm, req.disk, pointId], 'qcow2');
  if (deps.freeSpace) await ensureScratchSpace(deps.freeSpace, deps.scratchDir, scratchNeed(await repo.chain(req.vm, pointId, req.disk, req.signal)), `the qcow2 image of ${req.vm} ${req.disk} at ${pointId}`);
  const out = await deps.files.create(scratch);
  const r = await restoreDisk(deps.target, out, { vm: req.vm, disk: req.disk, point: pointId, format: 'qcow2', inFlight: req.inFlight, signal: req.signal, onProgress: req.onProgress });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await deps.files.remove(scratch);
  };
  try {
    const st = await deps.files.stat(scratch);
    if (!st) throw new DiskRestoreError(`[restore] the qcow2 image built at ${scratch} is gone`);
    const files = deps.files;
    async function* body(): AsyncGenerator<Buffer> {
      try {
        yield* files.bytes(scratch, req.signal);
      } finally {
        await close();
      }
    }
    return {
      pointId: r.pointId, disk: r.disk, format: 'qcow2', virtualSize: r.virtualSize, contentSha256: r.contentSha256, chain: r.chain,
      length: st.size, body: body(), bytesRead: () => r.bytesRead, close,
    };
  } catch (e) {
    await close();
    throw e;
  }
}
