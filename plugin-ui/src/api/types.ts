/**
 * @layer port
 * What the views need from the outside: the control plane's API as a typed Hono client (its
 * types come from the routes, `hc<AppType>`: no hand-copied shapes) and where the sign-in is
 * kept. `MemorySessionStore` is the in-memory adapter (tests); the browser's is
 * api/session-storage.ts.
 */
import type { hc, InferResponseType } from 'hono/client';
import type { AppType } from '../../../api/http/app.ts';

export type Api = ReturnType<typeof hc<AppType>>;

/** the sign-in answer: token, expiry, who */
export type Session = InferResponseType<Api['api']['v1']['auth']['login']['$post'], 200>;
export type User = Session['user'];

export interface SessionStore {
  get(): Session | undefined;
  set(s: Session): void;
  clear(): void;
}

export class MemorySessionStore implements SessionStore {
  private s: Session | undefined;
  constructor(initial?: Session) { this.s = initial; }
  get() { return this.s; }
  set(s: Session) { this.s = s; }
  clear() { this.s = undefined; }
}

/** a session is usable until shortly before it expires (clock skew, a request in flight) */
export function isLive(s: Session | undefined, now: Date = new Date()): s is Session {
  return !!s && new Date(s.expiresAt).getTime() - 5_000 > now.getTime();
}
