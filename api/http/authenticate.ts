/**
 * @layer entry
 * Sign-in middleware for the /api/v1 tree: who is calling — a Sendense token
 * (`Authorization: Bearer …`) or a request signed with a CloudStack API key
 * (api/auth/request-signature.ts) — set as `principal`. Paths in `open` (sign-in itself) pass
 * without one; anything else without credentials is a 401 saying how to get them. Signed requests
 * pass the SignedRequestGuard first (bogus keys, floods) and, when they change something, once
 * only (replay).
 */
import type { Context, MiddlewareHandler } from 'hono';
import { AuthError } from '../auth/errors.ts';
import type { Identity } from '../auth/identity.ts';
import type { Principal } from '../auth/principal.ts';
import { hasSignature } from '../auth/request-signature.ts';
import type { SignedRequestGuard } from '../auth/signed-request-guard.ts';
import { CloudStackError } from '../cloudstack/errors.ts';
import { parseExpires } from '../cloudstack/signer.ts';
import type { AppEnv } from './env.ts';

export interface AuthenticateOptions {
  identity: Identity;
  /** paths that need no sign-in */
  open: readonly string[];
  guard: SignedRequestGuard;
  addressOf: (c: Context) => string;
}

export function authenticate(o: AuthenticateOptions): MiddlewareHandler<AppEnv> {
  return async function authenticateRequest(c, next) {
    if (o.open.includes(c.req.path)) return next();
    const auth = c.req.header('authorization');
    const url = new URL(c.req.url);
    let principal: Principal;
    if (auth) {
      const m = /^Bearer\s+(\S+)$/i.exec(auth);
      if (!m) throw new AuthError('unauthenticated', 'Authorization must be "Bearer <token>"');
      principal = await o.identity.fromToken(m[1]);
    } else if (hasSignature(url.searchParams)) {
      const reads = c.req.method === 'GET' || c.req.method === 'HEAD';
      const body = reads ? undefined : await c.req.text();
      const q = url.searchParams;
      const apiKey = q.get('apiKey') ?? q.get('apikey') ?? '';
      const address = o.addressOf(c);
      o.guard.admit(apiKey, address);
      try {
        principal = await o.identity.fromSignedRequest(c.req.method, url.pathname, q, body);
      } catch (e) {
        if (e instanceof AuthError && e.code === 'unauthenticated') o.guard.failed(apiKey, address, e.cause instanceof CloudStackError);
        throw e;
      }
      o.guard.succeeded(apiKey);
      if (!reads) o.guard.once(q.get('signature') ?? '', parseExpires(q.get('expires') ?? '') ?? 0);
    } else {
      throw new AuthError('unauthenticated', 'sign in (POST /api/v1/auth/login) and send "Authorization: Bearer <token>", or sign the request with your CloudStack API key');
    }
    c.set('principal', principal);
    return next();
  };
}
