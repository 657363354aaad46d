/**
 * Types flow from the routes: a typed `hc<AppType>` client against the app (no hand-written DTOs).
 */
import { hc } from 'hono/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { BASE, makeFixture, type Fixture } from '../testing/fixture.ts';
import type { AppType } from './app.ts';

let f: Fixture;
beforeAll(async () => { f = await makeFixture(); });
afterAll(async () => { await f.close(); });

it('a typed client signs in, lists VMs, starts a backup and reads the job', async () => {
  const client = hc<AppType>(BASE, { fetch: (input: RequestInfo | URL, init?: RequestInit) => f.cp.app.request(input instanceof Request ? input : String(input), init) });
  const login = await client.api.v1.auth.login.$post({ json: { username: 'alice', password: 'password', domain: '/customers/' } });
  expect(login.status).toBe(200);
  if (login.status !== 200) return;
  const { token, user } = await login.json();
  expect(user.role).toBe('user');
  const headers = { authorization: `Bearer ${token}` };
  const vms = await client.api.v1.vms.$get({ query: { limit: '10' } }, { headers });
  const list = await vms.json();
  if (!('items' in list)) throw new Error('expected a list');
  const web = list.items.find((v) => v.name === 'web-1')!;
  const started = await client.api.v1.vms[':id'].backups.$post({ param: { id: web.id }, json: { mode: 'full' } }, { headers });
  expect(started.status).toBe(202);
  const job = await started.json();
  if (!('id' in job)) throw new Error('expected a job');
  await f.cp.runner.settled(job.id);
  const read = await client.api.v1.jobs[':id'].$get({ param: { id: job.id } }, { headers });
  const done = await read.json();
  expect('status' in done && done.status).toBe('succeeded');
});
