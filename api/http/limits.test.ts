/**
 * Request limits through the app (no sockets; the abuse suite, api/abuse.test.ts, attacks the
 * real server): the client address behind proxies, event streams per user, body size before
 * sign-in.
 */
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryAgentGateway } from '../agents/memory.ts';
import { BASE, disksOf, makeFixture, testWorld, type Fixture } from '../testing/fixture.ts';
import { createSimulator } from '../cloudstack-sim/app.ts';
import { clientAddressOf, ProxyListError } from './client-address.ts';

describe('client address', () => {
  const app = (trustProxy: boolean, trustedProxies?: string[]) => {
    const a = new Hono();
    const of = clientAddressOf({ trustProxy, trustedProxies });
    a.get('/', (c) => c.text(of(c)));
    return async (peer: string, xff?: string) => (await a.request('/', { headers: xff ? { 'x-forwarded-for': xff } : {} }, { incoming: { socket: { remoteAddress: peer } } })).text();
  };

  it('without trustProxy: the peer, whatever the headers say', async () => {
    expect(await app(false)('192.0.2.1', '6.6.6.6')).toBe('192.0.2.1');
  });

  it('behind trusted proxies: the right-most hop that is not one of them; a forged left part is never believed', async () => {
    const ask = app(true, ['10.0.0.0/24', '127.0.0.1']);
    expect(await ask('127.0.0.1', '6.6.6.6, 203.0.113.9')).toBe('203.0.113.9');
    expect(await ask('127.0.0.1', '6.6.6.6, 203.0.113.9, 10.0.0.7')).toBe('203.0.113.9');
    expect(await ask('::ffff:127.0.0.1', '203.0.113.9')).toBe('203.0.113.9');
    // a peer that is not a trusted proxy is the client
    expect(await ask('198.51.100.4', '6.6.6.6, 203.0.113.9')).toBe('198.51.100.4');
    // garbage in the chain: nothing left of it is believed, the peer is what we know
    expect(await ask('127.0.0.1', '203.0.113.9, bogus')).toBe('127.0.0.1');
    // every hop a trusted proxy: the left-most
    expect(await ask('127.0.0.1', '10.0.0.8, 10.0.0.9')).toBe('10.0.0.8');
    expect(await ask('127.0.0.1')).toBe('127.0.0.1');
  });

  it('a bad trusted-proxy entry is refused when the server starts', () => {
    expect(() => clientAddressOf({ trustProxy: true, trustedProxies: ['10.0.0.0/99'] })).toThrow(ProxyListError);
    expect(() => clientAddressOf({ trustProxy: true, trustedProxies: ['proxy.example'] })).toThrow(/not an IP address/);
  });
});

describe('limits in the app', () => {
  let f: Fixture;
  beforeAll(async () => {
    const state = testWorld();
    const sim = createSimulator({ state });
    // an agent that takes a minute per step: the job stays running while streams are open
    const gateway = new MemoryAgentGateway({ tickMs: 60_000, disksOf: disksOf(sim) });
    f = await makeFixture({ state: sim.state, gateway, options: { limits: { sseStreamsPerUser: 3, maxBodyBytes: 4096 } } });
  });
  afterAll(async () => { await f.close(); });

  it('event streams: at most 3 open per user; one more is 429 until one closes; another user is not held back', async () => {
    const alice = await f.login('alice', '/customers/');
    const started = await f.req('POST', `/api/v1/vms/${f.vmId('web-1')}/backups`, { token: alice, body: { mode: 'full' } });
    expect(started.status).toBe(202);
    const job = ((await started.json()) as { id: string }).id;
    const open = async (token: string) => f.cp.app.request(`${BASE}/api/v1/jobs/${job}/events`, { headers: { authorization: `Bearer ${token}` } });
    const streams = [await open(alice), await open(alice), await open(alice)];
    for (const s of streams) expect(s.status).toBe(200);
    const fourth = await open(alice);
    expect(fourth.status).toBe(429);
    expect(((await fourth.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
    const admin = await f.login('admin');
    const other = await open(admin);
    expect(other.status).toBe(200);
    await other.body!.cancel();
    await streams[0].body!.cancel();
    await new Promise((r) => setTimeout(r, 50));
    const again = await open(alice);
    expect(again.status).toBe(200);
    for (const s of [again, ...streams.slice(1)]) await s.body!.cancel();
    await f.cp.runner.cancel(job);
  });

  it('a body over the limit is refused before sign-in (413), signed in or not', async () => {
    const big = JSON.stringify({ username: 'x'.repeat(8000), password: 'p' });
    const anon = await f.req('POST', '/api/v1/auth/login', { body: big });
    expect(anon.status).toBe(413);
    expect(((await anon.json()) as { error: { code: string } }).error.code).toBe('payload_too_large');
    const r = await f.req('POST', `/api/v1/vms/${f.vmId('web-1')}/backups`, { body: big, headers: { authorization: 'Bearer nonsense' } });
    expect(r.status).toBe(413);
  });
});
