/**
 * @layer entry
 * Serves a simulator on a real socket with @hono/node-server (plain HTTP, or HTTPS with a key
 * and certificate), for clients in other processes: the `cs` CLI, python3-cs, the control plane.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import type { Simulator } from './app.ts';

export interface ServeOptions {
  port?: number;
  /** default 127.0.0.1 */
  hostname?: string;
  tls?: { key: string | Buffer; cert: string | Buffer };
}

export interface ServedSimulator {
  /** http(s)://host:port */
  origin: string;
  /** origin + /client/api */
  endpoint: string;
  port: number;
  server: ServerType;
  close(): Promise<void>;
}

export function serveSimulator(sim: Simulator, opts: ServeOptions = {}): Promise<ServedSimulator> {
  const hostname = opts.hostname ?? '127.0.0.1';
  return new Promise((resolve, reject) => {
    const base = { fetch: sim.app.fetch, port: opts.port ?? 0, hostname };
    const server = opts.tls
      ? serve({ ...base, createServer: https.createServer, serverOptions: { key: opts.tls.key, cert: opts.tls.cert } }, listening)
      : serve(base, listening);
    server.once('error', reject);
    function listening(info: AddressInfo) {
      const host = hostname.includes(':') ? `[${hostname}]` : hostname;
      const origin = `${opts.tls ? 'https' : 'http'}://${host}:${info.port}`;
      resolve({
        origin, endpoint: `${origin}/client/api`, port: info.port, server,
        close: () => new Promise<void>((res) => {
          server.close(() => res());
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        }),
      });
    }
  });
}
