/**
 * @layer entry
 * Sign-in: `POST /api/v1/auth/login` (CloudStack username/password/domain → a Sendense token;
 * every attempt but CloudStack being down is audited) and `GET /api/v1/auth/me`.
 */
import { Hono } from 'hono';
import { AuthError } from '../../auth/errors.ts';
import type { RouteDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';
import { LoginBody } from '../schemas.ts';
import { zJson } from '../validate.ts';

export function authRoutes(d: RouteDeps) {
  const { identity, audit } = d;
  return new Hono<AppEnv>()
    .post('/api/v1/auth/login', zJson(LoginBody), async (c) => {
      const body = c.req.valid('json');
      const ip = d.addressOf(c);
      try {
        const r = await identity.login({ ...body, clientAddress: ip });
        const p = r.principal;
        await audit.record(c, 'auth.login', { type: 'user', id: p.userId }, 'ok', { role: p.role },
          { username: p.username, userId: p.userId, account: p.account, domainId: p.domainId, via: 'password' });
        return c.json({ token: r.token, expiresAt: r.expiresAt.toISOString(), user: { ...p, accountId: p.accountId ?? null } }, 200);
      } catch (e) {
        if (e instanceof AuthError && e.code !== 'unavailable') {
          await audit.record(c, 'auth.login', { type: 'user', id: null }, 'denied',
            { reason: e.message, domain: body.domain ?? body.domainId ?? '/' }, { username: body.username, via: 'password' });
        }
        throw e;
      }
    })
    .get('/api/v1/auth/me', (c) => {
      const p = c.get('principal');
      return c.json({ ...p, accountId: p.accountId ?? null }, 200);
    });
}
