/**
 * @layer entry
 * Sign-in (docs/PLUGIN.md):
 *
 *   POST /api/v1/auth/login    CloudStack username/password/domain → `{token, expiresAt, user}`;
 *                              when CloudStack asks for two-factor authentication, first a 202
 *                              `{twoFactor: {challenge, expiresAt, provider, issuer}}`, then the
 *                              same body with `challenge` and `code` → the token
 *   POST /api/v1/auth/sso      single sign-on behind a same-origin proxy: CloudStack's JSESSIONID
 *                              cookie + sessionkey (cookie, `X-CloudStack-Sessionkey` header or
 *                              `{sessionkey}` body; the `userid` cookie picks the user) → a token
 *   POST /api/v1/auth/logout   ends the caller's token (204)
 *   POST /api/v1/auth/revoke   `{userId}`: ends every token of a user (root admin; 204)
 *   GET  /api/v1/auth/me
 *
 * A refused token is a 401 whose code says why (token_expired, token_revoked, account_disabled …:
 * api/auth/sign-in-error.ts). Every sign-in attempt but CloudStack being down is audited.
 */
import { Hono } from 'hono';
import { getCookie } from 'hono/cookie';
import { AuthError } from '../../auth/errors.ts';
import type { LoginResult } from '../../auth/identity.ts';
import type { RouteDeps } from '../deps.ts';
import type { AppContext, AppEnv } from '../env.ts';
import { RevokeBody, SignInBody, SsoBody } from '../auth-schemas.ts';
import { zJson } from '../validate.ts';

const tokenAnswer = (r: LoginResult) => {
  const { tokenId: _t, ...p } = r.principal;
  return { token: r.token, expiresAt: r.expiresAt.toISOString(), user: { ...p, accountId: p.accountId ?? null } };
};

export function authRoutes(d: RouteDeps) {
  const { identity, audit } = d;
  const signedIn = async (c: AppContext, r: LoginResult, via: 'password' | 'sso', extra: Record<string, unknown> = {}) => {
    const p = r.principal;
    await audit.record(c, 'auth.login', { type: 'user', id: p.userId }, 'ok', { role: p.role, ...extra },
      { username: p.username, userId: p.userId, account: p.account, domainId: p.domainId, via });
  };
  return new Hono<AppEnv>()
    .post('/api/v1/auth/login', zJson(SignInBody), async (c) => {
      const body = c.req.valid('json');
      const ip = d.addressOf(c);
      try {
        const r = await identity.login({ ...body, clientAddress: ip });
        if (r.kind === 'two-factor') {
          await audit.record(c, 'auth.login', { type: 'user', id: null }, 'ok', { step: 'two-factor asked', provider: r.provider ?? null },
            { username: body.username, via: 'password' });
          return c.json({ twoFactor: { challenge: r.challenge, expiresAt: r.expiresAt.toISOString(), provider: r.provider ?? null, issuer: r.issuer ?? null } }, 202);
        }
        await signedIn(c, r, 'password', body.challenge ? { twoFactor: true } : {});
        return c.json(tokenAnswer(r), 200);
      } catch (e) {
        if (e instanceof AuthError && e.code !== 'unavailable') {
          await audit.record(c, 'auth.login', { type: 'user', id: null }, 'denied',
            { reason: e.message, domain: body.domain ?? body.domainId ?? '/', ...(body.challenge ? { step: 'two-factor' } : {}) }, { username: body.username, via: 'password' });
        }
        throw e;
      }
    })
    .post('/api/v1/auth/sso', zJson(SsoBody), async (c) => {
      const body = c.req.valid('json');
      const ip = d.addressOf(c);
      const cookies = getCookie(c);
      const sessionkey = body.sessionkey ?? c.req.header('x-cloudstack-sessionkey') ?? cookies.sessionkey;
      try {
        const r = await identity.fromCloudStackSession({ jsessionid: cookies.JSESSIONID, sessionkey, userId: cookies.userid, clientAddress: ip });
        await signedIn(c, r, 'sso');
        return c.json(tokenAnswer(r), 200);
      } catch (e) {
        if (e instanceof AuthError && e.code !== 'unavailable') {
          await audit.record(c, 'auth.sso', { type: 'user', id: null }, 'denied', { reason: e.message }, { username: 'anonymous', via: 'sso' });
        }
        throw e;
      }
    })
    .post('/api/v1/auth/logout', async (c) => {
      const token = /^Bearer\s+(\S+)$/i.exec(c.req.header('authorization') ?? '')?.[1];
      if (token) await identity.signOut(token);
      await audit.record(c, 'auth.logout', { type: 'user', id: c.get('principal').userId }, 'ok');
      return c.body(null, 204);
    })
    .post('/api/v1/auth/revoke', zJson(RevokeBody), async (c) => {
      const { userId } = c.req.valid('json');
      const p = c.get('principal');
      try {
        d.authorizer.admin(p, "revoking a user's sign-ins");
      } catch (e) {
        await audit.record(c, 'auth.revoke', { type: 'user', id: userId }, 'denied', { reason: (e as Error).message });
        throw e;
      }
      await identity.revokeUser(userId);
      await audit.record(c, 'auth.revoke', { type: 'user', id: userId }, 'ok');
      return c.body(null, 204);
    })
    .get('/api/v1/auth/me', (c) => {
      const { tokenId: _t, ...p } = c.get('principal');
      return c.json({ ...p, accountId: p.accountId ?? null }, 200);
    });
}
