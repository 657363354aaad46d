/**
 * Requests signed with a CloudStack API key, attacked: names that live on Object.prototype are
 * signed like any other (a `constructor=` or `__proto__=` added on the way is refused), a signed
 * change cannot be replayed, and bogus keys neither make CloudStack work per request nor flood
 * it (one lookup per bogus key; a flooding address is held back with 429).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpFetch } from '../cloudstack/port.ts';
import { BASE, makeFixture, type Fixture } from '../testing/fixture.ts';
import { readSignedRequest, signApiRequest, verifySignature } from './request-signature.ts';

describe('signed API requests under attack', () => {
  let f: Fixture;
  const getUserCalls: string[] = [];
  beforeAll(async () => {
    f = await makeFixture();
    const inner = f.sim.fetch;
    const counting: HttpFetch = (url, init) => {
      const body = typeof init.body === 'string' ? init.body : '';
      const q = new URLSearchParams(url.split('?')[1] ?? '');
      const form = new URLSearchParams(body);
      if ((q.get('command') ?? form.get('command')) === 'getUser') getUserCalls.push(q.get('userapikey') ?? form.get('userapikey') ?? '?');
      return inner(url, init);
    };
    f.sim.fetch = counting;
    await f.restart();
  });
  afterAll(async () => { await f.close(); });

  const error = async (res: Response) => ((await res.json()) as { error: { code: string; message: string } }).error;

  it('prototype names are parameters like any other: signed by the client, checked by the server', () => {
    const keys = f.sim.keysOf('alice');
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const url = signApiRequest({ method: 'GET', url: `${BASE}/api/v1/vms?${name}=1&limit=5`, ...keys });
      const q = new URL(url).searchParams;
      expect(q.get(name), `${name} stays in the signed URL`).toBe('1');
      const req = readSignedRequest('GET', '/api/v1/vms', q, undefined, Date.now());
      expect(Object.keys(req.params)).toContain(name);
      expect(verifySignature(req, keys.secretKey)).toBe(true);
      // the same signature without the parameter does not verify: it was signed
      q.delete(name);
      expect(verifySignature(readSignedRequest('GET', '/api/v1/vms', q, undefined, Date.now()), keys.secretKey)).toBe(false);
    }
  });

  it('a prototype-named parameter added to a signed request on the way is refused', async () => {
    expect((await f.signed('alice', 'GET', '/api/v1/vms?limit=5')).status).toBe(200);
    for (const name of ['constructor', 'toString', '__proto__', 'valueOf']) {
      const res = await f.signed('alice', 'GET', '/api/v1/vms?limit=5', { tamper: (u) => `${u}&${name}=evil` });
      expect(res.status, name).toBe(401);
      expect((await error(res)).message).toMatch(/unable to verify/);
    }
  });

  it('a signed change is accepted once; the same URL again is a replay (401); reads may repeat', async () => {
    const keys = f.sim.keysOf('bob');
    const body = JSON.stringify({ mode: 'full' });
    const url = signApiRequest({ method: 'POST', url: `${BASE}/api/v1/vms/${f.vmId('bob-1')}/backups`, body, ...keys });
    const send = () => f.cp.app.request(url, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
    const first = await send();
    expect(first.status).toBe(202);
    await f.cp.runner.settled(((await first.json()) as { id: string }).id);
    const again = await send();
    expect(again.status).toBe(401);
    expect((await error(again)).message).toMatch(/already used/);
    const jobs = await f.store.jobs.list({ vmId: f.vmId('bob-1') });
    expect(jobs).toHaveLength(1);
    const read = signApiRequest({ method: 'GET', url: `${BASE}/api/v1/vms`, ...keys });
    expect((await f.cp.app.request(read)).status).toBe(200);
    expect((await f.cp.app.request(read)).status).toBe(200);
  });

  const bogus = (apiKey: string, address: string) => {
    const url = signApiRequest({ method: 'GET', url: `${BASE}/api/v1/vms`, apiKey, secretKey: 'whatever' });
    return f.cp.app.request(url, { headers: { 'x-test-client': address } });
  };

  it('a bogus API key costs CloudStack one lookup, not one per request', async () => {
    getUserCalls.length = 0;
    for (let i = 0; i < 10; i++) expect((await bogus('bogus-key-1', `198.51.100.${i}`)).status).toBe(401);
    expect(getUserCalls.filter((k) => k === 'bogus-key-1').length).toBe(1);
  });

  it('random keys from one address: held back with 429 after 20 failures; other addresses and good keys go on', async () => {
    getUserCalls.length = 0;
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await bogus(`random-${i}`, '203.0.113.77')).status);
    expect(statuses.slice(0, 20).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(20).every((s) => s === 429)).toBe(true);
    expect(getUserCalls.length).toBeLessThanOrEqual(20);
    const limited = await bogus('random-x', '203.0.113.77');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    const keys = f.sim.keysOf('alice');
    const good = signApiRequest({ method: 'GET', url: `${BASE}/api/v1/vms`, ...keys });
    expect((await f.cp.app.request(good, { headers: { 'x-test-client': '203.0.113.78' } })).status).toBe(200);
  });
});
