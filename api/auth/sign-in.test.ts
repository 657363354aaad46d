/**
 * Sign-in against the simulator through the real API (issue 12 items 8 and 13, issue 10 §1):
 * CloudStack's two-factor step before any token, sign-out and admin revoke, tokens checked
 * again with CloudStack at least every 5 minutes (a disabled user, account or domain loses
 * access), 401 answers whose code says why, and single sign-on with a forwarded CloudStack session.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { CloudStackClient } from '../cloudstack/client.ts';
import { newTotpKey, totpCode } from '../cloudstack-sim/totp.ts';
import { ENDPOINT, makeFixture, testWorld, type Fixture } from '../testing/fixture.ts';

let f: Fixture | undefined;
afterEach(async () => { await f?.close(); f = undefined; });

const TOTP_KEY = newTotpKey();

/** testWorld plus dave (TOTP) and erin (static PIN), users in alice's domain with accounts of their own */
function world() {
  const s = testWorld();
  const customers = s.domains.find((d) => d.name === 'customers')!;
  for (const [name, twoFactor] of [['dave', { provider: 'totp' as const, key: TOTP_KEY }], ['erin', { provider: 'staticpin' as const, key: '90210' }]] as const) {
    const acct = { id: randomUUID(), name, domainId: customers.id, type: 0 as const, state: 'enabled' as const, internalId: 90 + s.accounts.length };
    s.accounts.push(acct);
    s.users.push({ id: randomUUID(), username: name, accountId: acct.id, password: 'password', firstname: '', lastname: '', email: '', state: 'enabled', twoFactor });
  }
  return s;
}

async function json(res: Response) {
  return { status: res.status, body: await res.json() as Record<string, any> };
}

describe('two-factor authentication (issue 12 item 8)', () => {
  it('a 2FA user gets no token on the password alone; the code is checked on that CloudStack session first', async () => {
    f = await makeFixture({ state: world(), options: { loginLimit: { max: 20, windowMs: 60_000 } } }); // both steps count as attempts
    const first = await json(await f.req('POST', '/api/v1/auth/login', { body: { username: 'dave', password: 'password', domain: '/customers' } }));
    // before the fix this was a 200 with a full token
    expect(first.status).toBe(202);
    expect(first.body.token).toBeUndefined();
    expect(first.body.twoFactor).toMatchObject({ provider: 'totp', issuer: 'CloudStack' });
    const challenge = first.body.twoFactor.challenge as string;
    // the half-open CloudStack session can do nothing else (the simulator ends it on a 511)
    const wrong = await json(await f.req('POST', '/api/v1/auth/login', { body: { username: 'dave', password: 'password', domain: '/customers', challenge, code: totpCode(TOTP_KEY, Date.now()) === '123456' ? '654321' : '123456' } }));
    expect(wrong).toMatchObject({ status: 401, body: { error: { code: 'two_factor_failed' } } });
    // that challenge is spent
    const again = await json(await f.req('POST', '/api/v1/auth/login', { body: { username: 'dave', password: 'password', domain: '/customers', challenge, code: totpCode(TOTP_KEY, Date.now()) } }));
    expect(again).toMatchObject({ status: 401, body: { error: { code: 'two_factor_failed' } } });

    const second = await json(await f.req('POST', '/api/v1/auth/login', { body: { username: 'dave', password: 'password', domain: '/customers' } }));
    const other = await json(await f.req('POST', '/api/v1/auth/login', { body: { username: 'alice', password: 'password', domain: '/customers', challenge: second.body.twoFactor.challenge, code: totpCode(TOTP_KEY, Date.now()) } }));
    expect(other.status).toBe(401); // a challenge is one user's
    const third = await json(await f.req('POST', '/api/v1/auth/login', { body: { username: 'dave', password: 'password', domain: '/customers' } }));
    const ok = await json(await f.req('POST', '/api/v1/auth/login', { body: { username: 'dave', password: 'password', domain: '/customers', challenge: third.body.twoFactor.challenge, code: totpCode(TOTP_KEY, Date.now()) } }));
    expect(ok.status).toBe(200);
    expect(ok.body.user).toMatchObject({ username: 'dave', role: 'user' });
    const me = await json(await f.req('GET', '/api/v1/auth/me', { token: ok.body.token }));
    expect(me.body).toMatchObject({ username: 'dave' });
    expect(me.body.tokenId).toBeUndefined();
    const audit = await f.store.audit.list({ limit: 20, offset: 0 });
    expect(audit.filter((a) => a.action === 'auth.login' && a.actor === 'dave').map((a) => a.outcome)).toEqual(expect.arrayContaining(['ok', 'denied']));
  });

  it('static PIN', async () => {
    f = await makeFixture({ state: world() });
    const first = await json(await f.req('POST', '/api/v1/auth/login', { body: { username: 'erin', password: 'password', domain: '/customers' } }));
    expect(first.body.twoFactor.provider).toBe('staticpin');
    const ok = await json(await f.req('POST', '/api/v1/auth/login', { body: { username: 'erin', password: 'password', domain: '/customers', challenge: first.body.twoFactor.challenge, code: '90210' } }));
    expect(ok.status).toBe(200);
  });
});

describe('tokens (issue 12 item 13)', () => {
  it('sign-out ends the token; an admin revokes a user; a non-admin may not', async () => {
    f = await makeFixture({ state: world() });
    const alice = await f.login('alice', '/customers');
    expect((await f.req('GET', '/api/v1/auth/me', { token: alice })).status).toBe(200);
    expect((await f.req('POST', '/api/v1/auth/logout', { token: alice })).status).toBe(204);
    expect(await json(await f.req('GET', '/api/v1/vms', { token: alice }))).toMatchObject({ status: 401, body: { error: { code: 'token_revoked' } } });

    const alice2 = await f.login('alice', '/customers');
    const bob = await f.login('bob', '/customers');
    const aliceId = f.sim.state.users.find((u) => u.username === 'alice')!.id;
    expect((await f.req('POST', '/api/v1/auth/revoke', { token: bob, body: { userId: aliceId } })).status).toBe(403);
    expect((await f.req('GET', '/api/v1/vms', { token: alice2 })).status).toBe(200);
    const admin = await f.login('admin');
    expect((await f.req('POST', '/api/v1/auth/revoke', { token: admin, body: { userId: aliceId } })).status).toBe(204);
    expect(await json(await f.req('GET', '/api/v1/vms', { token: alice2 }))).toMatchObject({ status: 401, body: { error: { code: 'token_revoked' } } });
    expect((await f.req('GET', '/api/v1/vms', { token: bob })).status).toBe(200);
    // a new sign-in after the revoke works
    await new Promise((r) => setTimeout(r, 2));
    expect((await f.req('GET', '/api/v1/vms', { token: await f.login('alice', '/customers') })).status).toBe(200);
  });

  it('re-checked with CloudStack at least every 5 minutes: a disabled account, user or domain loses access; an expired token says so', async () => {
    let now = Date.now();
    f = await makeFixture({ state: world(), options: { clock: () => new Date(now) } });
    const alice = await f.login('alice', '/customers');
    const bob = await f.login('bob', '/customers');
    const carol = await f.login('carol');
    const sim = f.sim.state;
    sim.accounts.find((a) => a.name === 'alice')!.state = 'disabled';
    sim.users.find((u) => u.username === 'bob')!.state = 'disabled';
    sim.domains.find((d) => d.name === 'other')!.state = 'Inactive';
    now += 4 * 60_000;
    expect((await f.req('GET', '/api/v1/auth/me', { token: alice })).status).toBe(200); // not asked again yet
    now += 60_000 + 1;
    expect(await json(await f.req('GET', '/api/v1/auth/me', { token: alice }))).toMatchObject({ status: 401, body: { error: { code: 'account_disabled' } } });
    expect(await json(await f.req('GET', '/api/v1/auth/me', { token: bob }))).toMatchObject({ status: 401, body: { error: { code: 'user_disabled' } } });
    expect(await json(await f.req('GET', '/api/v1/auth/me', { token: carol }))).toMatchObject({ status: 401, body: { error: { code: 'domain_inactive' } } });
    // enabled again: the old token stays ended, a new sign-in works
    sim.accounts.find((a) => a.name === 'alice')!.state = 'enabled';
    expect(await json(await f.req('GET', '/api/v1/auth/me', { token: alice }))).toMatchObject({ status: 401, body: { error: { code: 'token_revoked' } } });
    now += 1;
    const fresh = await f.login('alice', '/customers');
    expect((await f.req('GET', '/api/v1/auth/me', { token: fresh })).status).toBe(200);
    now += 3_600_000 + 1;
    const expired = await json(await f.req('GET', '/api/v1/auth/me', { token: fresh }));
    expect(expired).toMatchObject({ status: 401, body: { error: { code: 'token_expired' } } });
    expect(expired.body.error.message).toMatch(/token expired at .*: sign in again/);
    expect(await json(await f.req('GET', '/api/v1/auth/me', { token: 'garbage' }))).toMatchObject({ status: 401, body: { error: { code: 'token_invalid' } } });
  });

  it("the role is CloudStack's current one after a re-check", async () => {
    let now = Date.now();
    f = await makeFixture({ state: world(), options: { clock: () => new Date(now) } });
    const bob = await f.login('bob', '/customers');
    expect((await json(await f.req('GET', '/api/v1/auth/me', { token: bob }))).body.role).toBe('user');
    f.sim.state.accounts.find((a) => a.name === 'bob')!.type = 2;
    now += 5 * 60_000;
    expect((await json(await f.req('GET', '/api/v1/auth/me', { token: bob }))).body.role).toBe('domain-admin');
  });
});

describe('single sign-on with a forwarded CloudStack session (issue 10 §1)', () => {
  const csLogin = (fx: Fixture, username: string, domain: string) =>
    CloudStackClient.login({ endpoint: ENDPOINT, fetch: fx.sim.fetch, username, password: 'password', domain });

  it("JSESSIONID + sessionkey become a short-lived token for the session's user; forged, foreign and unverified sessions are refused", async () => {
    f = await makeFixture({ state: world() });
    const cs = await csLogin(f, 'alice', '/customers');
    const s = cs.session!;
    const sso = (headers: Record<string, string>, body: unknown = {}) => f!.req('POST', '/api/v1/auth/sso', { headers, body });
    const ok = await json(await sso({ cookie: `JSESSIONID=${s.cookies.JSESSIONID}; userid=${s.userid}`, 'x-cloudstack-sessionkey': s.sessionkey }));
    expect(ok.status).toBe(200);
    expect(ok.body.user).toMatchObject({ username: 'alice', role: 'user', accountId: f.sim.state.accounts.find((a) => a.name === 'alice')!.id });
    expect(Date.parse(ok.body.expiresAt) - Date.now()).toBeLessThanOrEqual(15 * 60_000);
    const vms = await json(await f.req('GET', '/api/v1/vms', { token: ok.body.token }));
    expect(vms.body.items.map((v: { name: string }) => v.name).sort()).toEqual(['db-1', 'web-1']);
    // the sessionkey as a cookie or in the body works too
    expect((await sso({ cookie: `JSESSIONID=${s.cookies.JSESSIONID}; sessionkey=${s.sessionkey}` })).status).toBe(200);
    expect((await sso({ cookie: `JSESSIONID=${s.cookies.JSESSIONID}` }, { sessionkey: s.sessionkey })).status).toBe(200);

    expect(await json(await sso({ cookie: `JSESSIONID=${s.cookies.JSESSIONID}` }))).toMatchObject({ status: 401, body: { error: { code: 'session_invalid' } } });
    const bobId = f.sim.state.users.find((u) => u.username === 'bob')!.id;
    expect(await json(await sso({ cookie: `JSESSIONID=${s.cookies.JSESSIONID}; userid=${bobId}`, 'x-cloudstack-sessionkey': s.sessionkey })))
      .toMatchObject({ status: 401, body: { error: { code: 'session_invalid' } } });
    // a wrong sessionkey: CloudStack refuses (and ends that session)
    const cs2 = await csLogin(f, 'bob', '/customers');
    expect(await json(await sso({ cookie: `JSESSIONID=${cs2.session!.cookies.JSESSIONID}`, 'x-cloudstack-sessionkey': 'forged' })))
      .toMatchObject({ status: 401, body: { error: { code: 'session_invalid' } } });
    // a 2FA user's session before its code: CloudStack answers 511, no token
    const cs3 = await csLogin(f, 'dave', '/customers');
    expect(await json(await sso({ cookie: `JSESSIONID=${cs3.session!.cookies.JSESSIONID}`, 'x-cloudstack-sessionkey': cs3.session!.sessionkey })))
      .toMatchObject({ status: 401, body: { error: { code: 'session_invalid' } } });
    // after logout in CloudStack the session is dead
    await cs.logout();
    expect((await sso({ cookie: `JSESSIONID=${s.cookies.JSESSIONID}`, 'x-cloudstack-sessionkey': s.sessionkey })).status).toBe(401);
  });
});
