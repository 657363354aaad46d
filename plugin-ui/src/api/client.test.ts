/**
 * The typed client: the API's base from the plug-in page's URL (direct and behind a proxy path),
 * the bearer token on every request, a 401 to a signed-in request reported as an expiry (and a
 * 401 to the sign-in itself not), the API's error body as an ApiFailure, no answer as `offline`.
 */
import { describe, expect, it } from 'vitest';
import { baseFromLocation, createApi } from './client.ts';
import { ApiFailure, ok } from './failure.ts';
import { MemorySessionStore, type Session } from './types.ts';

describe('the plug-in API client', () => {
  it('finds the control plane above /plugin/', () => {
    expect(baseFromLocation('https://cp.example:8443/plugin/index.html#/vms')).toBe('https://cp.example:8443/');
    expect(baseFromLocation('https://cloud.example/client/sendense/plugin/?x=1')).toBe('https://cloud.example/client/sendense/');
  });

  it('sends the token, reports an expiry on a 401, and turns error bodies into ApiFailure', async () => {
    const seen: { url: string; auth: string | null }[] = [];
    let expired = 0;
    const session = new MemorySessionStore();
    const api = createApi({
      base: 'https://cp.example/', session, onExpired: () => { expired++; },
      fetch: async (input, init) => {
        const url = String(input instanceof Request ? input.url : input);
        const auth = new Headers(init?.headers).get('authorization');
        seen.push({ url, auth });
        if (url.endsWith('/auth/login')) return new Response(JSON.stringify({ error: { code: 'unauthenticated', message: 'wrong password' } }), { status: 401 });
        return new Response(JSON.stringify({ error: { code: 'token_expired', message: 'the sign-in expired' } }), { status: 401 });
      },
    });
    const login = ok(api.api.v1.auth.login.$post({ json: { username: 'a', password: 'b' } }));
    await expect(login).rejects.toMatchObject({ status: 401, code: 'unauthenticated', message: 'wrong password' });
    expect(expired).toBe(0);
    session.set({ token: 'T1', expiresAt: new Date(Date.now() + 60_000).toISOString(), user: {} } as Session);
    const e = await ok(api.api.v1.vms.$get({ query: {} })).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiFailure);
    expect((e as ApiFailure).code).toBe('token_expired');
    expect(expired).toBe(1);
    expect(seen.at(-1)).toEqual({ url: 'https://cp.example/api/v1/vms', auth: 'Bearer T1' });
  });

  it('a control plane that does not answer is an offline ApiFailure', async () => {
    const api = createApi({ base: 'https://cp.example/', session: new MemorySessionStore(), onExpired: () => {}, fetch: async () => { throw new TypeError('Failed to fetch'); } });
    await expect(ok(api.api.v1.vms.$get({ query: {} }))).rejects.toMatchObject({ status: 0, code: 'offline' });
  });
});
