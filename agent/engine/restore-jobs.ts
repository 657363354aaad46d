/**
 * @layer entry
 * The restore-side jobs on this host, wired to the real adapters: a restore to its one
 * destination — a file, a stopped VM's volume in place (on the process's hypervisor), an HTTP
 * upload —, a verification with an optional restore test, and a download stream. Each opens its
 * own repository connection and closes it at the end (for a stream: when the stream is closed).
 */
import { randomUUID } from 'node:crypto';
import { nodeFreeSpace } from '../restore/free-space.ts';
import { HttpUploadPoster } from '../restore/http-upload.ts';
import { openImageStream } from '../restore/image-stream.ts';
import { restoreInPlace } from '../restore/in-place.ts';
import { LocalRestoreFile } from '../restore/local-file.ts';
import { NodeLocalFiles } from '../restore/local-files.ts';
import type { ImageStream } from '../restore/port.ts';
import { addRestoreTests } from '../restore/restore-test.ts';
import { restoreDisk } from '../restore/restore.ts';
import { restoreUpload } from '../restore/upload.ts';
import { verifyPoints } from '../restore/verify.ts';
import { QemuImgVolumeProbe } from '../restore/in-place-probe-qemu.ts';
import { underLease } from '../repository/vm-work.ts';
import { isAlive } from '../system/proc.ts';
import type { BackupTarget } from '../target/port.ts';
import { checkImage, type HostContext } from './context.ts';
import { withVmLock } from './vm-lock.ts';
import type { EngineRun } from './port.ts';
import type { ExportBody, RestoreBody, RestoreOutcome, VerifyBody, VerifyOutcome } from './requests.ts';


export function restoreJob(ctx: HostContext, req: RestoreBody, run: EngineRun): Promise<RestoreOutcome> {
  // in place: exclusive on the VM (no backup, prune or second in-place restore meanwhile)
  return req.inPlace ? withVmLock(ctx, req.vmId, 'restore-in-place', () => restoreTo(ctx, req, run)) : restoreTo(ctx, req, run);
}

function restoreTo(ctx: HostContext, req: RestoreBody, run: EngineRun): Promise<RestoreOutcome> {
  const onProgress = (done: number, total: number) => run.onProgress({ bytesDone: done, bytesTotal: total, disk: req.disk });
  const base = { vm: req.vmId, disk: req.disk, point: req.point, signal: run.signal, onProgress };
  return ctx.withRepo(req, run.signal, async (target) => {
    if (req.inPlace) {
      const r = await restoreInPlace({ target, hypervisor: ctx.hypervisor, files: new NodeLocalFiles(), probe: new QemuImgVolumeProbe(), log: run.log, host: ctx.host, processAlive: isAlive }, {
        ...base, path: req.inPlace.path, format: req.inPlace.format, job: randomUUID().slice(0, 8),
      });
      return {
        pointId: r.pointId, disk: r.disk, destination: 'volume', to: r.path, format: r.format, virtualSize: r.virtualSize, bytesRead: r.bytesRead,
        bytesWritten: r.bytesWritten, chain: r.chain, contentSha256: r.contentSha256, durationMs: r.durationMs,
      };
    }
    if (req.upload) {
      const r = await restoreUpload({ target, files: new NodeLocalFiles(), scratchDir: ctx.workDir(), freeSpace: nodeFreeSpace, poster: new HttpUploadPoster() }, {
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

/**
 * A verification with a restore test holds the VM's host lock and repository lease (a prune
 * meanwhile would remove the points it restores); a plain one reads without them.
 */
export function verifyJob(ctx: HostContext, req: VerifyBody, run: EngineRun): Promise<VerifyOutcome> {
  const verify = (target: BackupTarget, signal: AbortSignal) => async () => {
    let r = await verifyPoints({ target, checkImage }, req.vmId, { point: req.point, signal });
    if (req.restoreTest) r = await addRestoreTests({ target, files: new NodeLocalFiles(), scratchDir: ctx.workDir(), freeSpace: nodeFreeSpace }, r, signal);
    return { vmId: r.vm, ok: r.ok, points: r.points, durationMs: r.durationMs };
  };
  if (!req.restoreTest) return ctx.withRepo(req, run.signal, (target) => verify(target, run.signal)());
  const owner = `verify-${randomUUID().slice(0, 8)}`;
  return withVmLock(ctx, req.vmId, 'verify', () => ctx.withRepo(req, run.signal, (target) => underLease(target, req.vmId, {
    owner, work: 'verify', host: ctx.host, processAlive: isAlive, log: run.log, signal: run.signal,
  }, (signal) => verify(target, signal)())));
}

/** The download stream; its close() also closes the repository connection. */
export async function exportJob(ctx: HostContext, req: ExportBody, signal: AbortSignal): Promise<ImageStream> {
  const target = await ctx.openRepo(req, signal);
  try {
    const img = await openImageStream({ target, files: new NodeLocalFiles(), scratchDir: ctx.workDir(), freeSpace: nodeFreeSpace }, { vm: req.vmId, disk: req.disk, point: req.point, format: req.format, signal });
    let closed = false;
    return {
      ...img,
      close: async () => {
        if (closed) return;
        closed = true;
        await img.close().catch(() => {});
        await ctx.release(target);
      },
    };
  } catch (e) {
    await ctx.release(target);
    throw e;
  }
}
