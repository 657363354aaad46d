/**
 * @layer usecase
 * Restore as an upload: one disk of one point POSTed as multipart/form-data to a URL such as the
 * one CloudStack's getUploadParamsForVolume hands out (the SSVM's /upload/<id>), with its
 * headers. Raw is streamed from the repository (checked block by block as it goes: a damaged
 * block cuts the upload short, so the server never stores a complete image); qcow2 is built and
 * checked in a scratch file first (openImageStream), because the POST needs its length up front.
 */
import type { ImageStreamDeps } from './image-stream.ts';
import { openImageStream } from './image-stream.ts';
import type { UploadPoster } from './port.ts';
import { DiskRestoreError, type DiskRestoreResult } from './restore.ts';

export interface UploadDeps extends ImageStreamDeps {
  poster: UploadPoster;
}

export interface UploadRequest {
  vm: string;
  disk: string;
  point?: string;
  format: 'qcow2' | 'raw';
  url: string;
  headers: Record<string, string>;
  inFlight?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export type UploadResult = Omit<DiskRestoreResult, 'sums'> & { url: string; format: 'qcow2' | 'raw'; bytesWritten: number; status: number; answer: string };

/** `url` without its query (which may carry credentials), for messages and records. */
export function urlForDisplay(url: string): string {
  return url.split('?')[0];
}

export async function restoreUpload(deps: UploadDeps, req: UploadRequest): Promise<UploadResult> {
  const t0 = Date.now();
  const img = await openImageStream(deps, { vm: req.vm, disk: req.disk, point: req.point, format: req.format, inFlight: req.inFlight, signal: req.signal, onProgress: req.onProgress });
  try {
    let sent = 0;
    const body = (async function* () {
      for await (const chunk of img.body) {
        sent += chunk.length;
        req.onProgress?.(sent, img.length);
        yield chunk;
      }
    })();
    const name = `${req.vm}-${img.disk}-${img.pointId}.${req.format}`;
    const r = await deps.poster.post(req.url, req.headers, { name, length: img.length, body }, req.signal).catch((e) => {
      throw new DiskRestoreError(`[restore] upload of ${req.vm} disk ${req.disk} (point ${img.pointId}) to ${urlForDisplay(req.url)} failed: ${(e as Error).message}`, { cause: e });
    });
    return {
      pointId: img.pointId, disk: img.disk, virtualSize: img.virtualSize, bytesRead: img.bytesRead(), chain: img.chain, contentSha256: img.contentSha256,
      durationMs: Date.now() - t0, url: urlForDisplay(req.url), format: req.format, bytesWritten: img.length, status: r.status, answer: r.body,
    };
  } finally {
    await img.close();
  }
}
