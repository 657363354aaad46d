/**
 * @layer adapter
 * UploadPoster on Node's http/https client: one multipart/form-data part (field `file`), streamed
 * with back-pressure — never the whole image in memory — and a Content-Length computed up front
 * (CloudStack's SSVM refuses a request without one). A body that throws (a damaged block) destroys
 * the request, so the server sees a truncated upload and stores nothing.
 */
import http from 'node:http';
import https from 'node:https';
import { randomBytes } from 'node:crypto';
import { UploadError, type UploadFile, type UploadPoster } from './port.ts';

const MAX_ANSWER = 64 << 10;

function multipartFrame(boundary: string, fileName: string): { head: Buffer; tail: Buffer } {
  const safe = fileName.replace(/["\r\n\\]/g, '_');
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${safe}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
  return { head, tail: Buffer.from(`\r\n--${boundary}--\r\n`) };
}

/** The body's message in one line: a JSON error's text when there is one, else the text. */
function answerMessage(body: string): string {
  try {
    const j = JSON.parse(body) as unknown;
    const found = JSON.stringify(j).match(/"(?:errortext|message|error)":"([^"]+)"/);
    if (found) return found[1];
  } catch { /* not JSON */ }
  return body.replace(/\s+/g, ' ').trim().slice(0, 500) || '(empty answer)';
}

/** the caller's headers, less those the multipart body sets (in any letter case) */
function ownHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !['content-type', 'content-length', 'transfer-encoding', 'host'].includes(k.toLowerCase())));
}

export class HttpUploadPoster implements UploadPoster {
  constructor(private readonly opts: { timeoutMs?: number; rejectUnauthorized?: boolean } = {}) {}

  post(url: string, headers: Record<string, string>, file: UploadFile, signal?: AbortSignal): Promise<{ status: number; body: string; bytesSent: number }> {
    const u = new URL(url);
    const shown = `${u.origin}${u.pathname}`;
    const boundary = `sendense-${randomBytes(12).toString('hex')}`;
    const { head, tail } = multipartFrame(boundary, file.name);
    const total = head.length + file.length + tail.length;
    const client = u.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      let settled = false;
      let sent = 0;
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        req.destroy();
        reject(e);
      };
      const req = client.request(u, {
        method: 'POST', signal,
        headers: { ...ownHeaders(headers), 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(total) },
        ...(u.protocol === 'https:' && this.opts.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
      });
      req.setTimeout(this.opts.timeoutMs ?? 300_000, () => fail(new UploadError(`[upload] POST ${shown}: no progress for ${(this.opts.timeoutMs ?? 300_000) / 1000} s`)));
      req.on('error', (e) => fail(new UploadError(`[upload] POST ${shown}: ${e.message}`, undefined, { cause: e })));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let n = 0;
        res.on('data', (c: Buffer) => { if (n < MAX_ANSWER) { chunks.push(c); n += c.length; } });
        res.on('error', (e) => fail(new UploadError(`[upload] POST ${shown}: reading the answer: ${e.message}`, res.statusCode, { cause: e })));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 299) return fail(new UploadError(`[upload] POST ${shown} answered HTTP ${status}: ${answerMessage(body)}`, status));
          if (sent !== file.length) return fail(new UploadError(`[upload] POST ${shown} answered HTTP ${status} after ${sent} of ${file.length} bytes`, status));
          settled = true;
          resolve({ status, body, bytesSent: sent });
        });
      });
      const write = (b: Buffer) => new Promise<void>((res, rej) => {
        if (req.destroyed) return rej(new UploadError(`[upload] POST ${shown}: the connection closed after ${sent} bytes`));
        if (req.write(b)) return res();
        const onDrain = () => { req.off('close', onClose); res(); };
        const onClose = () => { req.off('drain', onDrain); rej(new UploadError(`[upload] POST ${shown}: the connection closed after ${sent} bytes`)); };
        req.once('drain', onDrain);
        req.once('close', onClose);
      });
      (async () => {
        await write(head);
        for await (const chunk of file.body) {
          if (sent + chunk.length > file.length) throw new UploadError(`[upload] the image is longer than the ${file.length} bytes announced`);
          await write(chunk);
          sent += chunk.length;
        }
        if (sent !== file.length) throw new UploadError(`[upload] the image ended after ${sent} of the ${file.length} bytes announced`);
        await write(tail);
        req.end();
      })().catch((e: Error) => fail(e instanceof UploadError ? e : new UploadError(`[upload] POST ${shown} stopped after ${sent} of ${file.length} bytes: ${e.message}`, undefined, { cause: e })));
    });
  }
}
