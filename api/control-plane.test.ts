/**
 * The periodic tasks started by ControlPlane.start (croner): the scheduler queues a due policy's
 * VMs, the heartbeat marks agents active, discovery picks up a new VM — all without a call.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { makeFixture, type Fixture } from './testing/fixture.ts';

let f: Fixture | undefined;
afterEach(async () => { await f?.close(); f = undefined; });

it('scheduler, heartbeat and discovery run on their own once started', async () => {
  f = await makeFixture({ start: { schedulerTickSeconds: 1, heartbeatSeconds: 1, discoveryIntervalSeconds: 1 } });
  const now = new Date();
  await f.store.policies.create({
    id: randomUUID(), name: 'every-second', schedule: '* * * * * *', fullEvery: 7, maxChainLength: 30, retention: { keepLast: 3 },
    createdAt: now, updatedAt: now,
  });
  const [p] = await f.store.policies.list();
  await f.store.policies.assign({ policyId: p.id, kind: 'vm', target: f.vmId('infra-1') });
  await expect.poll(async () => (await f!.store.jobs.list({ vmId: f!.vmId('infra-1') })).length, { timeout: 10_000 }).toBeGreaterThan(0);
  const [job] = await f.store.jobs.list({ vmId: f.vmId('infra-1') });
  expect(job).toMatchObject({ trigger: 'schedule', policyId: p.id });
  await expect.poll(async () => (await f!.store.agents.list())[0]?.status, { timeout: 10_000 }).toBe('active');

  const s = f.sim.state;
  s.vms.push({ ...s.vms[2], id: randomUUID(), name: 'late-1', internalId: 77, instanceName: 'i-2-77-VM' });
  await expect.poll(async () => (await f!.store.vms.list({ search: 'late-1' })).length, { timeout: 10_000 }).toBe(1);
});
