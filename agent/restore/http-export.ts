/**
 * @layer adapter
 * An ImageStream as a web-standard HTTP Response (the daemon's POST /v1/exports): 200
 * application/octet-stream with Content-Length and the point's identity in headers. The body is
 * pulled as the client reads (back-pressure reaches the repository reads). A damaged block ends
 * the body with an error: the server cuts the connection and the client gets fewer bytes than
 * Content-Length, which every HTTP client reports as a failed (truncated) download. The image's
 * close() runs once, at the end, on an error, or when the client goes away.
 */
import type { ImageStream } from './port.ts';

export const EXPORT_HEADERS = {
  point: 'x-sendense-point',
  disk: 'x-sendense-disk',
  format: 'x-sendense-format',
  virtualSize: 'x-sendense-virtual-size',
  contentSha256: 'x-sendense-content-sha256',
} as const;

export function exportResponse(img: ImageStream, vm: string, onError?: (e: unknown) => void): Response {
  const it = img.body[Symbol.asyncIterator]();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await img.close().catch(() => {});
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      try {
        const r = await it.next();
        if (r.done) {
          await close();
          ctrl.close();
        } else {
          ctrl.enqueue(new Uint8Array(r.value.buffer, r.value.byteOffset, r.value.byteLength));
        }
      } catch (e) {
        onError?.(e);
        await close();
        ctrl.error(e);
      }
    },
    async cancel() {
      await it.return?.(undefined).catch(() => {});
      await close();
    },
  }, { highWaterMark: 0 });
  const name = `${vm}-${img.disk}-${img.pointId}.${img.format}`.replace(/[^A-Za-z0-9._-]/g, '_');
  return new Response(body, {
    status: 200,
    headers: {
      'content-type': 'application/octet-stream',
      'content-length': String(img.length),
      'content-disposition': `attachment; filename="${name}"`,
      [EXPORT_HEADERS.point]: img.pointId,
      [EXPORT_HEADERS.disk]: img.disk,
      [EXPORT_HEADERS.format]: img.format,
      [EXPORT_HEADERS.virtualSize]: String(img.virtualSize),
      [EXPORT_HEADERS.contentSha256]: img.contentSha256,
    },
  });
}
