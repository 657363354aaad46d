/**
 * Two control planes on one PostgreSQL 15 (test/lab/postgres.ts), each with its own LISTEN/NOTIFY
 * change feed (db/pg/changes.ts), one CloudStack simulator and one agent (the in-memory one,
 * shared as a real host's daemon would be), no sticky sessions:
 * - a token signed in on A is valid on B; /healthz and /metrics name the instance that answered;
 * - the event stream (SSE) of a backup run by A, asked of B, shows its progress and its end;
 * - a restore and a verification run by A, A killed: B takes them over within the lease time and
 *   follows the same agent jobs to their ends (not started again).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPgChangeFeed } from '../db/pg/changes.ts';
import { openPgStore } from '../db/pg/open.ts';
import { pgLab } from '../db/testing/stores.ts';
import { MemoryAgentGateway } from './agents/memory.ts';
import { createSimulator } from './cloudstack-sim/app.ts';
import { createControlPlane, type ControlPlane } from './control-plane.ts';
import { BASE, disksOf, ENDPOINT, REPO_URL, testWorld } from './testing/fixture.ts';

const SECRET = 'test-secret-that-is-long-enough-0123456789';
const LEASE_MS = 1500;

describe('two control-plane instances on one PostgreSQL', () => {
  let lab: Awaited<ReturnType<typeof pgLab>>;
  beforeAll(async () => { lab = await pgLab(); });
  afterAll(() => lab?.cluster.destroy());

  async function world(agent: { tickMs: number; ticks: number }) {
    const sim = createSimulator({ state: testWorld(), asyncDelayMs: 1 });
    const memory = new MemoryAgentGateway({ ...agent, disksOf: disksOf(sim) });
    const url = await lab.database();
    const instance = async (id: string) => {
      const store = await openPgStore(url, { max: 4 });
      const changes = await openPgChangeFeed(url);
      const cp = createControlPlane({
        store, gateway: memory, tokenSecret: SECRET, instanceId: id, jobLeaseMs: LEASE_MS, changes,
        cloudstack: { endpoint: ENDPOINT, credentials: sim.adminKeys, fetch: sim.fetch },
        pollMs: 20, progressWriteMs: 0, log: () => {}, clientAddress: () => '192.0.2.10',
      });
      await cp.start({ discoveryIntervalSeconds: 0, schedulerTickSeconds: 0, heartbeatSeconds: 0, discoverNow: id === 'A' });
      const req = (method: string, p: string, o: { token?: string; body?: unknown } = {}) => cp.app.request(`${BASE}${p}`, {
        method, headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(o.body ? { 'content-type': 'application/json' } : {}) },
        body: o.body ? JSON.stringify(o.body) : undefined,
      });
      /** a kill: nothing more reaches the database (its leases stay until they expire) */
      const kill = async () => { await changes.close(); await store.close(); await cp.stop(); };
      const close = async () => { await cp.stop(); await changes.close(); await store.close(); };
      return { id, cp, store, req, kill, close };
    };
    const first = await openPgStore(url, { max: 1 });
    await first.repositories.sync([{ name: 'repo1', url: REPO_URL, kind: 'ssh', isDefault: true, capacityBytes: 2 ** 40 }]);
    await first.close();
    const a = await instance('A');
    await a.cp.heartbeat();
    const b = await instance('B');
    const vmId = (name: string) => sim.state.vms.find((v) => v.name === name)!.id;
    const login = async (on: typeof a, username: string) => {
      const u = sim.state.users.find((x) => x.username === username)!;
      const res = await on.req('POST', '/api/v1/auth/login', { body: { username, password: u.password, domain: '/' } });
      expect(res.status).toBe(200);
      return ((await res.json()) as { token: string }).token;
    };
    return { sim, memory, a, b, vmId, login };
  }

  it('no sticky sessions: a token from A works on B; /healthz and /metrics name each instance', async () => {
    const { a, b, login } = await world({ tickMs: 5, ticks: 5 });
    const token = await login(a, 'admin');
    const onB = await b.req('GET', '/api/v1/vms?limit=5', { token });
    expect(onB.status).toBe(200);
    expect(((await onB.json()) as { total: number }).total).toBeGreaterThan(0);
    expect((await b.req('GET', '/api/v1/vms', { token: `${token}x` })).status).toBe(401);
    expect(await (await a.req('GET', '/healthz')).json()).toEqual({ status: 'ok', instance: 'A' });
    expect(await (await b.req('GET', '/healthz')).json()).toEqual({ status: 'ok', instance: 'B' });
    expect(await (await b.req('GET', '/metrics')).text()).toMatch(/^sendense_instance_info\{instance="B",version="[^"]+"\} 1$/m);
    await a.close(); await b.close();
  });

  it('SSE on B of a backup job run by A: its progress and its end', async () => {
    const { a, b, vmId, login } = await world({ tickMs: 60, ticks: 12 });
    const token = await login(b, 'admin');
    const job = await a.cp.runner.enqueue({ vmId: vmId('web-1'), trigger: 'manual', requested: 'full' });
    const res = await b.req('GET', `/api/v1/jobs/${job.id}/events`, { token });
    expect(res.status).toBe(200);
    const text = await res.text(); // the stream ends with the job
    const events = [...text.matchAll(/^event: (\w+)\ndata: (.*)$/gm)].map((m) => ({ event: m[1], data: JSON.parse(m[2]) as { status: string; bytesDone?: number | null } }));
    const jobs = events.filter((e) => e.event === 'job').map((e) => e.data);
    expect(events.at(-1)).toEqual({ event: 'end', data: { status: 'succeeded' } });
    expect(jobs.at(-1)?.status).toBe('succeeded');
    const progress = jobs.filter((j) => j.status === 'running').map((j) => j.bytesDone ?? 0);
    expect(new Set(progress).size, `progress seen on B: ${progress.join(', ')}`).toBeGreaterThanOrEqual(3);
    expect(progress).toEqual([...progress].sort((x, y) => x - y));
    expect((await b.store.leases.get(`job:${job.id}`))?.holder ?? 'A').toBe('A'); // run by A, not by B
    await a.close(); await b.close();
  });

  it('a restore and a verification run by A, A killed: B follows the same agent jobs to their ends', async () => {
    const { a, b, memory, vmId } = await world({ tickMs: 40, ticks: 50 });
    const backup = await a.cp.runner.enqueue({ vmId: vmId('db-1'), trigger: 'manual', requested: 'full' });
    expect((await a.cp.runner.settled(backup.id)).status).toBe('succeeded');
    const [point] = await a.store.points.listForVm(vmId('db-1'));
    // the verification is of another VM's point: a VM under an in-place restore refuses other work
    const other = await a.cp.runner.enqueue({ vmId: vmId('web-1'), trigger: 'manual', requested: 'full' });
    expect((await a.cp.runner.settled(other.id)).status).toBe('succeeded');
    const [otherPoint] = await a.store.points.listForVm(vmId('web-1'));
    const restore = await a.cp.restores.start({ restorePointId: point.id, mode: 'in-place' });
    const verify = await a.cp.maintenance.verify(otherPoint.id, { trigger: 'manual' });
    await expect.poll(async () => (await a.store.maintenance.get(verify.id))?.agentJobId, { timeout: 10_000 }).toBeTruthy();
    await expect.poll(async () => JSON.stringify((await a.store.restores.get(restore.id))?.result), { timeout: 10_000 }).toMatch(/agentJobId/);
    expect((await b.store.leases.get(`restore:${restore.id}`))?.holder).toBe('A');
    expect((await b.store.leases.get(`maintenance:${verify.id}`))?.holder).toBe('A');
    const killedAt = Date.now();
    await a.kill();
    const [r, v] = await Promise.all([b.cp.restores.settled(restore.id), (async () => {
      await expect.poll(async () => (await b.store.maintenance.get(verify.id))?.status, { timeout: 30_000 }).toBe('succeeded');
      return (await b.store.maintenance.get(verify.id))!;
    })()]);
    const tookOver = Date.now() - killedAt;
    expect(r.status, r.error ?? '').toBe('succeeded');
    expect(v.status, v.error ?? '').toBe('succeeded');
    expect((await b.store.leases.get(`restore:${restore.id}`))).toBeUndefined(); // released at the end by B
    // one agent job each: B re-attached, it did not ask again
    expect(memory.otherRequests.filter((x) => x.kind === 'restore')).toHaveLength(1);
    expect(memory.otherRequests.filter((x) => x.kind === 'verify')).toHaveLength(1);
    expect(await b.store.restores.unfinished()).toHaveLength(0);
    expect(await b.store.maintenance.unfinished()).toHaveLength(0);
    // lease 1.5 s + renewal 0.5 s + the rest of the agent jobs (50 ticks of 40 ms)
    expect(tookOver).toBeLessThan(15_000);
    process.stdout.write(`take-over of a restore and a verification: both ended ${tookOver} ms after the kill\n`);
    await b.close();
  });
});
