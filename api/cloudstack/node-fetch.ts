/**
 * @layer adapter
 * An HttpFetch over node:http/node:https, for what the built-in fetch cannot do without undici:
 * trusting a private CA (`ca`, PEM) for a CloudStack behind an internal certificate, and an
 * `insecure` mode that skips certificate checks and says so loudly on stderr. Request and
 * response bodies stream; the signal aborts the request at any point.
 */
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import type { HttpFetch } from './port.ts';

export interface NodeFetchOptions {
  /** PEM certificate(s) of the CA(s) to trust instead of the system's */
  ca?: string | Buffer | (string | Buffer)[];
  /** skip TLS verification (never in production): warns on stderr when created */
  insecure?: boolean;
  /** where the insecure warning goes (default: process.stderr) */
  warn?: (message: string) => void;
}

export const INSECURE_WARNING =
  '[cloudstack] WARNING: TLS certificate verification is OFF (insecure mode). Anyone between Sendense and ' +
  'CloudStack can read and change the traffic, API keys and session keys included. Use --ca with the CA certificate instead.';

export function createNodeFetch(opts: NodeFetchOptions = {}): HttpFetch {
  if (opts.insecure) (opts.warn ?? ((m) => process.stderr.write(`${m}\n`)))(INSECURE_WARNING);
  const httpsAgent = new https.Agent({ keepAlive: true, ca: opts.ca, rejectUnauthorized: !opts.insecure });
  const httpAgent = new http.Agent({ keepAlive: true });

  return (url, init) => new Promise<Response>((resolve, reject) => {
    const u = new URL(url);
    const secure = u.protocol === 'https:';
    if (!secure && u.protocol !== 'http:') return reject(new Error(`[cloudstack] unsupported URL scheme ${u.protocol}`));
    const signal = init.signal;
    if (signal?.aborted) return reject(signal.reason);
    const req = (secure ? https : http).request(u, {
      method: init.method,
      headers: init.headers,
      agent: secure ? httpsAgent : httpAgent,
    }, (res) => {
      const headers = new Headers();
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
      const status = res.statusCode ?? 500;
      const noBody = status === 204 || status === 304 || init.method === ('HEAD' as string);
      if (noBody) res.resume();
      const body = noBody ? null : (Readable.toWeb(res) as unknown as ReadableStream<Uint8Array>);
      resolve(new Response(body, { status, statusText: res.statusMessage, headers }));
    });
    const onAbort = () => {
      req.destroy(signal!.reason instanceof Error ? signal!.reason : new Error('aborted'));
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    req.on('close', () => signal?.removeEventListener('abort', onAbort));
    req.on('error', reject);
    const body = init.body;
    if (body === undefined) req.end();
    else if (typeof body === 'string' || body instanceof Uint8Array) req.end(body);
    else {
      const src = Readable.fromWeb(body as import('node:stream/web').ReadableStream<Uint8Array>);
      src.on('error', (e) => req.destroy(e));
      src.pipe(req);
    }
  });
}
