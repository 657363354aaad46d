/**
 * @layer entry
 * Who may frame Sendense and call it from a browser: the configured CloudStack UI origins
 * (`plugin.uiOrigins` in the config file, e.g. ["https://cloud.example.com"]).
 *
 * - Every answer carries `Content-Security-Policy: frame-ancestors 'self' <origins…>` (CloudStack's
 *   UI shows a plug-in in an iframe: only those pages may), and never `X-Frame-Options` (it
 *   cannot name several origins; a SAMEORIGIN one would block the other-origin deployment).
 *   `X-Content-Type-Options: nosniff` and `Referrer-Policy: same-origin` too.
 * - CORS only for those origins: a request whose `Origin` is one of them gets
 *   `Access-Control-Allow-Origin: <that origin>` (+ `Vary: Origin`); a preflight from one gets the
 *   methods and headers the API takes (Authorization, Content-Type, X-CloudStack-Sessionkey),
 *   a preflight from any other origin a 403. Credentials (cookies) are allowed only with
 *   `allowCredentials` — the plug-in authenticates with a Bearer token, not cookies, so the
 *   default is off.
 */
import type { MiddlewareHandler } from 'hono';

export interface FramingOptions {
  /** scheme://host[:port] of the CloudStack UIs that show the plug-in */
  uiOrigins: readonly string[];
  allowCredentials?: boolean;
}

export class FramingConfigError extends Error {
  override name = 'FramingConfigError';
}

/** Normalises an origin ("https://Cloud.example.com/" → "https://cloud.example.com"); throws on anything else. */
export function normalizeOrigin(o: string): string {
  let u: URL;
  try { u = new URL(o); } catch (e) { throw new FramingConfigError(`[http] plugin.uiOrigins: ${JSON.stringify(o)} is not an origin (give scheme://host[:port])`, { cause: e }); }
  if (!/^https?:$/.test(u.protocol) || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash || u.username) {
    throw new FramingConfigError(`[http] plugin.uiOrigins: ${JSON.stringify(o)} is not an origin (give scheme://host[:port], no path)`);
  }
  return u.origin;
}

/** The CSP header value for the allowed origins. */
export function frameAncestors(origins: readonly string[]): string {
  return `frame-ancestors ${["'self'", ...origins].join(' ')}`;
}

const METHODS = 'GET, POST, PATCH, DELETE, OPTIONS';
const HEADERS = 'Authorization, Content-Type, X-CloudStack-Sessionkey, Last-Event-ID';

export function framing(o: FramingOptions): MiddlewareHandler {
  const allowed = new Set(o.uiOrigins.map(normalizeOrigin));
  const csp = frameAncestors([...allowed]);
  return async function framingHeaders(c, next) {
    const origin = c.req.header('origin');
    const ok = origin !== undefined && allowed.has(origin);
    if (c.req.method === 'OPTIONS' && origin !== undefined && c.req.header('access-control-request-method')) {
      if (!ok) {
        return c.json({ error: { code: 'forbidden', message: `origin ${origin} is not a configured CloudStack UI origin (plugin.uiOrigins)` } }, 403, { 'content-security-policy': csp, vary: 'Origin' });
      }
      return c.body(null, 204, {
        'access-control-allow-origin': origin, 'access-control-allow-methods': METHODS, 'access-control-allow-headers': HEADERS,
        'access-control-max-age': '600', vary: 'Origin', ...(o.allowCredentials ? { 'access-control-allow-credentials': 'true' } : {}),
      });
    }
    await next();
    const h = c.res.headers;
    h.set('content-security-policy', csp);
    h.delete('x-frame-options');
    h.set('x-content-type-options', 'nosniff');
    h.set('referrer-policy', 'same-origin');
    h.append('vary', 'Origin');
    if (ok) {
      h.set('access-control-allow-origin', origin);
      h.set('access-control-expose-headers', 'Retry-After, WWW-Authenticate');
      if (o.allowCredentials) h.set('access-control-allow-credentials', 'true');
    }
  };
}
