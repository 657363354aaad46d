/**
 * @layer adapter
 * The typed API client over the browser's fetch: `hc<AppType>` with the session's bearer token
 * on every request. A 401 to a signed-in request means the token expired or was revoked:
 * `onExpired` fires (the app shows the sign-in over the current view, so nothing typed is lost).
 */
import { hc } from 'hono/client';
import type { AppType } from '../../../api/http/app.ts';
import type { Api, SessionStore } from './types.ts';

export interface ClientOptions {
  /** the control plane's base URL, the folder above /plugin/ (e.g. https://cp.example/ or https://cloud.example/client/sendense/) */
  base: string;
  session: SessionStore;
  onExpired: () => void;
  fetch?: typeof fetch;
}

export function createApi(o: ClientOptions): Api {
  const f = o.fetch ?? ((input: RequestInfo | URL, init?: RequestInit) => globalThis.fetch(input, init));
  return hc<AppType>(o.base, {
    headers: (): Record<string, string> => {
      const s = o.session.get();
      return s ? { authorization: `Bearer ${s.token}` } : {};
    },
    fetch: async (input: RequestInfo | URL, init?: RequestInit) => {
      const signedIn = new Headers(init?.headers).has('authorization');
      const r = await f(input, init);
      if (r.status === 401 && signedIn) o.onExpired();
      return r;
    },
  });
}

/** the control plane's base URL from where the plug-in's page is served (…/plugin/index.html → …/) */
export function baseFromLocation(href: string): string {
  const u = new URL(href);
  u.hash = '';
  u.search = '';
  const i = u.pathname.lastIndexOf('/plugin/');
  u.pathname = i >= 0 ? u.pathname.slice(0, i + 1) : '/';
  return u.toString();
}
