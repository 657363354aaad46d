/**
 * @layer entry
 * The control plane's listening socket: HTTPS with the configured certificate and key, or plain
 * HTTP — which is refused on anything but a loopback address unless `insecureHttp` is said
 * explicitly (sign-in passwords and tokens would cross the network in clear). The server is
 * bounded whatever a client does: time to send the headers and the whole request, idle
 * keep-alive, a cap on open connections (more are refused by the kernel backlog, not queued in
 * memory), and at most `maxHeadersCount` headers.
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';

export interface ListenOptions {
  host: string;
  port: number;
  tls?: { certFile: string; keyFile: string };
  insecureHttp?: boolean;
  /** open connections at most (default 1024) */
  maxConnections?: number;
  /** to receive the request headers (default 20 s) and the whole request (default 60 s) */
  headersTimeoutMs?: number;
  requestTimeoutMs?: number;
  /** an idle keep-alive connection is closed after (default 5 s) */
  keepAliveTimeoutMs?: number;
}

export class ListenError extends Error {
  override name = 'ListenError';
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}

export interface Listening {
  server: ServerType;
  port: number;
  url: string;
}

export async function listen(fetch: (req: Request, env?: unknown) => Response | Promise<Response>, o: ListenOptions): Promise<Listening> {
  if (!o.tls && !isLoopback(o.host) && !o.insecureHttp) {
    throw new ListenError(`[serve] listen.host ${o.host} is not a loopback address and no TLS is configured: set listen.tls {certFile, keyFile}, `
      + 'put a TLS proxy in front and listen on 127.0.0.1, or accept plain HTTP on the network with listen.insecureHttp (--insecure-http)');
  }
  let tls: { cert: Buffer; key: Buffer } | undefined;
  if (o.tls) {
    try {
      tls = { cert: readFileSync(o.tls.certFile), key: readFileSync(o.tls.keyFile) };
    } catch (e) {
      throw new ListenError(`[serve] cannot read the TLS certificate or key: ${(e as Error).message}`, { cause: e });
    }
  }
  const { server, port } = await new Promise<{ server: ServerType; port: number }>((resolve, reject) => {
    const s = serve({
      fetch, hostname: o.host, port: o.port,
      ...(tls ? { createServer: createHttpsServer, serverOptions: { cert: tls.cert, key: tls.key } } : {}),
    }, (info: AddressInfo) => resolve({ server: s, port: info.port }));
    s.once('error', (e) => reject(new ListenError(`[serve] cannot listen on ${o.host}:${o.port}: ${e.message}`, { cause: e })));
  });
  const http = server as ServerType & { headersTimeout: number; requestTimeout: number; keepAliveTimeout: number; maxHeadersCount: number | null; maxConnections: number };
  http.headersTimeout = o.headersTimeoutMs ?? 20_000;
  http.requestTimeout = o.requestTimeoutMs ?? 60_000;
  http.keepAliveTimeout = o.keepAliveTimeoutMs ?? 5_000;
  http.maxHeadersCount = 100;
  http.maxConnections = o.maxConnections ?? 1024;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return { server, port, url: `${tls ? 'https' : 'http'}://${host}:${port}` };
}
