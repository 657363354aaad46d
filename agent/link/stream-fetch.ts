/**
 * @layer adapter
 * A fetch over byte streams: `streamFetch(open)` answers each Request by opening a fresh duplex
 * stream (an SSH streamlocal channel to the agent's socket, or a plain unix socket) and speaking
 * HTTP/1.1 over it with node:http (a custom `createConnection`, `Connection: close`). The response
 * body streams as it arrives, so server-sent events work; cancelling the body, or the request's
 * signal, destroys the stream. One stream per request keeps it simple and robust: SSH channels are
 * cheap and a dropped one fails only its own request.
 */
import http from 'node:http';
import { Readable, type Duplex } from 'node:stream';

export type LinkFetch = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** Opens the stream a request travels on; rejects with an error that says why it cannot. */
export type OpenStream = (signal: AbortSignal) => Promise<Duplex>;

/** What node:http calls on a socket, for a stream that is not one. */
function socketLike(stream: Duplex): Duplex {
  const s = stream as Duplex & Record<string, unknown>;
  for (const m of ['setNoDelay', 'setKeepAlive', 'ref', 'unref']) if (typeof s[m] !== 'function') s[m] = () => s;
  if (typeof s.setTimeout !== 'function') s.setTimeout = () => s;
  return s;
}

export function streamFetch(open: OpenStream, opts: { describe?: (e: Error) => Error } = {}): LinkFetch {
  const describe = opts.describe ?? ((e: Error) => e);
  return async (input, init) => {
    const req = new Request(input, init);
    req.signal.throwIfAborted();
    const url = new URL(req.url);
    const body = req.body ? Buffer.from(await req.arrayBuffer()) : undefined;
    const stream = await open(req.signal);
    const headers: Record<string, string> = {};
    req.headers.forEach((v, k) => { headers[k] = v; });
    headers.host = url.host || 'sendense-agent';
    headers.connection = 'close';
    if (body) headers['content-length'] = String(body.length);
    return new Promise<Response>((resolve, reject) => {
      let settled = false;
      const onAbort = () => {
        cr.destroy(req.signal.reason instanceof Error ? req.signal.reason : new Error(String(req.signal.reason)));
        stream.destroy();
      };
      const cr = http.request({
        method: req.method, path: `${url.pathname}${url.search}`, headers,
        createConnection: () => socketLike(stream) as unknown as import('node:net').Socket,
      }, (res) => {
        settled = true;
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) {
          if (Array.isArray(v)) for (const x of v) h.append(k, x);
          else if (v !== undefined) h.set(k, v);
        }
        const status = res.statusCode ?? 502;
        const noBody = req.method === 'HEAD' || status === 204 || status === 304;
        res.once('close', () => req.signal.removeEventListener('abort', onAbort));
        if (noBody) res.resume();
        resolve(new Response(noBody ? null : (Readable.toWeb(res) as ReadableStream<Uint8Array>), { status, statusText: res.statusMessage, headers: h }));
      });
      req.signal.addEventListener('abort', onAbort, { once: true });
      cr.once('error', (e) => {
        req.signal.removeEventListener('abort', onAbort);
        stream.destroy();
        if (!settled) reject(req.signal.aborted ? req.signal.reason : describe(e));
      });
      cr.end(body);
    });
  };
}
