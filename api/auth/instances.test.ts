/**
 * Issue 12 (items 12, 13 across instances): the per-user sign-in limit and token revocations are
 * kept in the Store, so two control planes on one PostgreSQL 15 (test/lab/postgres.ts) agree —
 * failed sign-ins spread over both instances count together, a sign-out or an admin's revoke on
 * one is refused by the other at once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPgStore } from '../../db/pg/open.ts';
import { pgLab } from '../../db/testing/stores.ts';
import { MemoryAgentGateway } from '../agents/memory.ts';
import { createSimulator } from '../cloudstack-sim/app.ts';
import { createControlPlane } from '../control-plane.ts';
import { BASE, disksOf, ENDPOINT, REPO_URL, testWorld } from '../testing/fixture.ts';

const SECRET = 'test-secret-that-is-long-enough-0123456789';

describe('sign-in limits and revocations across two instances on one PostgreSQL', () => {
  let lab: Awaited<ReturnType<typeof pgLab>>;
  beforeAll(async () => { lab = await pgLab(); });
  afterAll(() => lab?.cluster.destroy());

  async function world() {
    const sim = createSimulator({ state: testWorld(), asyncDelayMs: 1 });
    const memory = new MemoryAgentGateway({ tickMs: 5, ticks: 2, disksOf: disksOf(sim) });
    const url = await lab.database();
    const first = await openPgStore(url, { max: 1 });
    await first.repositories.sync([{ name: 'repo1', url: REPO_URL, kind: 'ssh', isDefault: true }]);
    await first.close();
    const instance = async (id: string, address: string) => {
      const store = await openPgStore(url, { max: 4 });
      const cp = createControlPlane({
        store, gateway: memory, tokenSecret: SECRET, instanceId: id,
        cloudstack: { endpoint: ENDPOINT, credentials: sim.adminKeys, fetch: sim.fetch },
        log: () => {}, clientAddress: () => address,
        limits: { login: { perUser: { max: 3, windowMs: 60_000 }, perAddress: { max: 100, windowMs: 60_000 } } },
      });
      const req = (method: string, p: string, o: { token?: string; body?: unknown } = {}) => cp.app.request(`${BASE}${p}`, {
        method, headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(o.body ? { 'content-type': 'application/json' } : {}) },
        body: o.body ? JSON.stringify(o.body) : undefined,
      });
      return { cp, store, req, close: async () => { await cp.stop(); await store.close(); } };
    };
    // each instance sees the callers from other addresses (a load balancer spreading them)
    const a = await instance('A', '192.0.2.10');
    const b = await instance('B', '192.0.2.20');
    const user = (name: string) => sim.state.users.find((x) => x.username === name)!;
    const domainOf = (name: string) => sim.state.accounts.find((x) => x.id === user(name).accountId)!.domainId;
    const login = (on: typeof a, username: string, password = user(username).password) => on.req('POST', '/api/v1/auth/login', { body: { username, password, domainId: domainOf(username) } });
    return { sim, a, b, user, login };
  }

  it('failed sign-ins of one user name spread over both instances count together: the 4th is 429 on either', async () => {
    const { a, b, login } = await world();
    for (const on of [a, b, a]) expect((await login(on, 'alice', 'wrong')).status).toBe(401);
    const over = await login(b, 'alice', 'wrong');
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await login(a, 'alice')).status).toBe(429); // even with the right password, until the window ends
    expect((await login(b, 'bob')).status).toBe(200); // another name is not held back
    await a.close(); await b.close();
  });

  it('a sign-out on B ends the token on A; an admin revoking a user on A ends their tokens on B', async () => {
    const { a, b, login, user } = await world();
    const token = ((await (await login(a, 'bob')).json()) as { token: string }).token;
    expect((await a.req('GET', '/api/v1/vms', { token })).status).toBe(200);
    expect((await b.req('POST', '/api/v1/auth/logout', { token })).status).toBeLessThan(300);
    const onA = await a.req('GET', '/api/v1/vms', { token });
    expect(onA.status).toBe(401);
    expect(await onA.text()).toMatch(/signed out, or revoked/);

    const alice = ((await (await login(b, 'alice')).json()) as { token: string }).token;
    const admin = ((await (await login(a, 'admin')).json()) as { token: string }).token;
    expect((await b.req('GET', '/api/v1/vms', { token: alice })).status).toBe(200);
    expect((await a.req('POST', '/api/v1/auth/revoke', { token: admin, body: { userId: user('alice').id } })).status).toBe(204);
    expect((await b.req('GET', '/api/v1/vms', { token: alice })).status).toBe(401);
    await a.close(); await b.close();
  });
});
