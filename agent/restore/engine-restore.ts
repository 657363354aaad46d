/**
 * @layer entry
 * The daemon's restore-side jobs wired to the real adapters (libvirt-engine.ts calls these):
 * a restore to its one destination — a file, a stopped VM's volume in place, an HTTP upload —,
 * a verification with an optional restore test, and a download stream. Each opens its own
 * repository connection and closes it at the end (for a stream: when the stream is closed).
 */
import { randomUUID } from 'node:crypto';
import { checkImage, openRepoTarget, withRepoTarget, workDir } from '../cli/deps.ts';
import { LibvirtHypervisor } from '../hypervisor/libvirt.ts';
import type { EngineRun } from '../daemon/engine.ts';
import type { ExportBody, RestoreBody, RestoreOutcome, VerifyBody, VerifyOutcome } from '../daemon/schemas.ts';
import { HttpUploadPoster } from './http-upload.ts';
import { openImageStream } from './image-stream.ts';
import { restoreInPlace } from './in-place.ts';
import { LocalRestoreFile } from './local-file.ts';
import { NodeLocalFiles } from './local-files.ts';
import type { ImageStream } from './port.ts';
import { addRestoreTests } from './restore-test.ts';
import { restoreDisk } from './restore.ts';
import { restoreUpload } from './upload.ts';
import { verifyPoints } from './verify.ts';


export function restoreJob(req: RestoreBody, run: EngineRun): Promise<RestoreOutcome> {
  const onProgress = (done: number, total: number) => run.onProgress({ bytesDone: done, bytesTotal: total, disk: req.disk });
  const base = { vm: req.vmId, disk: req.disk, point: req.point, signal: run.signal, onProgress };
  return withRepoTarget(req, run.signal, async (target) => {
    if (req.inPlace) {
      const r = await restoreInPlace({ target, hypervisor: new LibvirtHypervisor(), files: new NodeLocalFiles(), log: run.log }, {
        ...base, path: req.inPlace.path, format: req.inPlace.format, job: randomUUID().slice(0, 8),
      });
      return {
        pointId: r.pointId, disk: r.disk, destination: 'volume', to: r.path, format: r.format, virtualSize: r.virtualSize, bytesRead: r.bytesRead,
        bytesWritten: r.bytesWritten, chain: r.chain, contentSha256: r.contentSha256, durationMs: r.durationMs,
      };
    }
    if (req.upload) {
      const r = await restoreUpload({ target, files: new NodeLocalFiles(), scratchDir: workDir(), poster: new HttpUploadPoster() }, {
        ...base, format: req.upload.format, url: req.upload.url, headers: req.upload.headers,
      });
      run.log(`uploaded to ${r.url}: HTTP ${r.status} ${r.answer.trim().slice(0, 200)}`);
      return {
        pointId: r.pointId, disk: r.disk, destination: 'upload', to: r.url, format: r.format, virtualSize: r.virtualSize, bytesRead: r.bytesRead,
        bytesWritten: r.bytesWritten, chain: r.chain, contentSha256: r.contentSha256, durationMs: r.durationMs,
      };
    }
    if (!req.to) throw new Error('[agent] a restore needs a destination: to, inPlace or upload');
    const out = await LocalRestoreFile.create(req.to, { overwrite: req.overwrite });
    const r = await restoreDisk(target, out, { ...base, format: req.format });
    return {
      pointId: r.pointId, disk: r.disk, destination: 'file', to: req.to, format: req.format, virtualSize: r.virtualSize,
      bytesRead: r.bytesRead, bytesWritten: (await new NodeLocalFiles().stat(req.to))?.size, chain: r.chain, contentSha256: r.contentSha256, durationMs: r.durationMs,
    };
  });
}

export function verifyJob(req: VerifyBody, run: EngineRun): Promise<VerifyOutcome> {
  return withRepoTarget(req, run.signal, async (target) => {
    let r = await verifyPoints({ target, checkImage }, req.vmId, { point: req.point, signal: run.signal });
    if (req.restoreTest) r = await addRestoreTests({ target, files: new NodeLocalFiles(), scratchDir: workDir() }, r, run.signal);
    return { vmId: r.vm, ok: r.ok, points: r.points, durationMs: r.durationMs };
  });
}

/** The download stream; its close() also closes the repository connection. */
export async function exportJob(req: ExportBody, signal: AbortSignal): Promise<ImageStream> {
  const target = await openRepoTarget(req.repo, { identity: req.identity, knownHosts: req.knownHosts, signal });
  try {
    const img = await openImageStream({ target, files: new NodeLocalFiles(), scratchDir: workDir() }, { vm: req.vmId, disk: req.disk, point: req.point, format: req.format, signal });
    let closed = false;
    return {
      ...img,
      close: async () => {
        if (closed) return;
        closed = true;
        await img.close().catch(() => {});
        await target.close().catch(() => {});
      },
    };
  } catch (e) {
    await target.close().catch(() => {});
    throw e;
  }
}
