/**
 * @layer adapter
 * Serves a fetch handler (the daemon's Hono app) over HTTP/1.1 on a UNIX socket with
 * @hono/node-server. No TCP port is ever opened: the control plane reaches the socket through
 * SSH streamlocal forwarding, as the user that owns it.
 *
 * - The socket is created with mode 0600 from the first instant (umask 0177 around bind), then
 *   given its final mode and, when asked, its owner. A missing directory is created 0700 (and
 *   given to the owner too).
 * - A socket file left by a daemon that died is replaced; one a live daemon answers on is not
 *   ('in-use' error), and neither is anything that is not a socket.
 * - close() stops accepting, gives open requests (event streams finishing with their last event)
 *   a moment, then cuts what is left and removes the socket.
 */
import { createAdaptorServer } from '@hono/node-server';
import { chmodSync, chownSync, lstatSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const C = '[daemon] [socket]';

export interface SocketServerOptions {
  socketPath: string;
  /** default 0o600 */
  mode?: number;
  /** give the socket (and a directory this creates) to this user */
  owner?: { uid: number; gid: number };
}

export interface SocketServer {
  socketPath: string;
  /** `graceMs`: how long open requests may take to finish (default 1000) */
  close(opts?: { graceMs?: number }): Promise<void>;
}

export class SocketServerError extends Error {
  override name = 'SocketServerError';
  constructor(readonly code: 'in-use' | 'not-socket' | 'listen', message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Resolves true when something accepts connections on the socket. */
function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(socketPath);
    const done = (v: boolean) => { s.destroy(); resolve(v); };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    s.setTimeout(2000, () => done(false));
  });
}

async function clearStale(socketPath: string): Promise<void> {
  let st;
  try {
    st = lstatSync(socketPath);
  } catch {
    return;
  }
  if (!st.isSocket()) throw new SocketServerError('not-socket', `${C} ${socketPath} exists and is not a socket: refusing to replace it`);
  if (await answers(socketPath)) throw new SocketServerError('in-use', `${C} another daemon is already serving on ${socketPath}`);
  rmSync(socketPath, { force: true });
}

export async function serveOnSocket(fetch: (req: Request) => Response | Promise<Response>, o: SocketServerOptions): Promise<SocketServer> {
  const socketPath = path.resolve(o.socketPath);
  const dir = path.dirname(socketPath);
  const made = mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (made && o.owner) chownSync(dir, o.owner.uid, o.owner.gid);
  await clearStale(socketPath);
  const server = createAdaptorServer({ fetch, autoCleanupIncoming: true }) as import('node:http').Server;
  await new Promise<void>((resolve, reject) => {
    const fail = (e: Error) => reject(new SocketServerError('listen', `${C} cannot listen on ${socketPath}: ${e.message}`, { cause: e }));
    server.once('error', fail);
    const old = process.umask(0o177);
    try {
      server.listen(socketPath, () => { server.off('error', fail); resolve(); });
    } finally {
      process.umask(old);
    }
  });
  chmodSync(socketPath, o.mode ?? 0o600);
  if (o.owner) chownSync(socketPath, o.owner.uid, o.owner.gid);
  let closing: Promise<void> | undefined;
  return {
    socketPath,
    close: (opts = {}) => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), opts.graceMs ?? 1000).unref();
      }).finally(() => rmSync(socketPath, { force: true }));
      return closing;
    },
  };
}
