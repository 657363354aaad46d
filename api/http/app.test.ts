/**
 * The REST API through app.request on a real SQLite file, with the CloudStack simulator and the
 * in-memory agent: backups and their events, restore points, cancel, failures, policies, the
 * scheduler, bad input, the OpenAPI document, /metrics and /healthz.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { MemoryAgentGateway } from '../agents/memory.ts';
import { createSimulator } from '../cloudstack-sim/app.ts';
import { disksOf, makeFixture, testWorld, type Fixture } from '../testing/fixture.ts';
import { ROUTES } from './openapi.ts';
import { ErrorBody, JobDto, JobList, PolicyDto, RepositoryDto, RestorePointList, VmDetailDto, VmList } from './schemas.ts';

type Job = z.infer<typeof JobDto>;

async function sse(res: Response): Promise<{ event: string; data: unknown }[]> {
  const text = await res.text();
  return text.split('\n\n').filter((b) => b.includes('data:')).map((block) => {
    const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
    const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
    return { event, data: JSON.parse(data) };
  });
}

async function errorOf(res: Response, status: number): Promise<{ code: string; message: string }> {
  const body = await res.json();
  expect(res.status, JSON.stringify(body)).toBe(status);
  return ErrorBody.parse(body).error;
}

describe('REST API', () => {
  let f: Fixture;
  let admin: string;
  let mem: MemoryAgentGateway;
  beforeAll(async () => {
    const world = testWorld();
    mem = new MemoryAgentGateway({
      tickMs: 5, ticks: 4, disksOf: disksOf(createSimulator({ state: structuredClone(world) })),
      script: (_h, r) => (r.vmId === failing ? { fail: { code: 'nbd', message: '[nbd] server closed the connection', atTick: 1 } } : undefined),
    });
    f = await makeFixture({ gateway: mem, state: world });
    admin = await f.login('admin');
  });
  afterAll(async () => { await f.close(); });
  let failing = '';

  it('healthz, openapi and metrics answer without a sign-in', async () => {
    const h = await f.req('GET', '/healthz');
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: 'ok', instance: f.cp.instanceId });
    const detail = await f.req('GET', '/api/v1/health', { token: admin });
    expect(await detail.json()).toMatchObject({ status: 'ok', database: 'ok', discovery: { lastError: null } });
    const doc = (await (await f.req('GET', '/api/openapi.json')).json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
    expect(doc.openapi).toBe('3.0.3');
    expect(Object.keys(doc.paths)).toContain('/api/v1/vms/{id}/backups');
    const m = await f.req('GET', '/metrics');
    expect(m.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/);
    const text = await m.text();
    expect(text).toMatch(/^sendense_vms 5$/m);
    expect(text).toMatch(/^sendense_http_requests_total\{method="GET",route="\/healthz",status="200"\} 1$/m);
  });

  it('the OpenAPI document lists exactly the routes the app has', () => {
    const toDoc = (p: string) => p.replace(/:(\w+)/g, '{$1}');
    // the plug-in's static files (/plugin, /plugin/*) are not API routes: the document leaves them out
    const inApp = new Set(f.cp.app.routes.filter((r) => r.method !== 'ALL' && !/^\/plugin(\/|$)/.test(r.path)).map((r) => `${r.method.toLowerCase()} ${toDoc(r.path)}`));
    const inDoc = new Set(ROUTES.map((r) => `${r.method} ${r.path}`));
    expect([...inApp].sort()).toEqual([...inDoc].sort());
  });

  it('lists VMs with their discovered host, instance name and disks', async () => {
    const list = VmList.parse(await (await f.req('GET', '/api/v1/vms?limit=2', { token: admin })).json());
    expect(list.total).toBe(5);
    expect(list.items).toHaveLength(2);
    const web = VmDetailDto.parse(await (await f.req('GET', `/api/v1/vms/${f.vmId('web-1')}`, { token: admin })).json());
    expect(web.instanceName).toMatch(/^i-\d+-\d+-VM$/);
    expect(web.hostName).toBe('kvm1');
    expect(web.disks.map((d) => [d.type, d.kind])).toEqual([['ROOT', 'file'], ['DATADISK', 'file']]);
    expect(web.disks[0].path).toMatch(/^\/mnt\/[0-9a-f-]{36}\/[0-9a-f-]{36}$/);
    const search = VmList.parse(await (await f.req('GET', '/api/v1/vms?search=infra', { token: admin })).json());
    expect(search.items.map((v) => v.name)).toEqual(['infra-1']);
  });

  it('a backup: 202 with the queued job, progress events until it ends, then a restore point; the next is an incremental', async () => {
    const vm = f.vmId('web-1');
    const res = await f.req('POST', `/api/v1/vms/${vm}/backups`, { token: admin, body: {} });
    expect(res.status).toBe(202);
    const job = JobDto.parse(await res.json());
    expect(job).toMatchObject({ status: 'queued', type: 'full', trigger: 'manual', requestedBy: 'admin', vmName: 'web-1' });

    const ev = await f.req('GET', `/api/v1/jobs/${job.id}/events`, { token: admin });
    expect(ev.headers.get('content-type')).toMatch(/text\/event-stream/);
    const events = await sse(ev);
    const jobs = events.filter((e) => e.event === 'job').map((e) => JobDto.parse(e.data));
    expect(events.at(-1)).toEqual({ event: 'end', data: { status: 'succeeded' } });
    expect(jobs.at(-1)).toMatchObject({ status: 'succeeded', progress: 1 });
    const progress = jobs.map((j) => j.progress);
    expect(progress.some((p) => p > 0 && p < 1)).toBe(true);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    expect(jobs.some((j) => j.status === 'running' && j.agentJobId)).toBe(true);

    const points = RestorePointList.parse(await (await f.req('GET', `/api/v1/vms/${vm}/restore-points`, { token: admin })).json());
    expect(points.total).toBe(1);
    expect(points.items[0]).toMatchObject({ type: 'full', parentId: null, jobId: job.id, vmId: vm, sourcePlatform: 'cloudstack' });

    const second = JobDto.parse(await (await f.req('POST', `/api/v1/vms/${vm}/backups`, { token: admin, body: { mode: 'auto' } })).json());
    expect(second.type).toBe('incremental');
    expect((await f.cp.runner.settled(second.id)).status).toBe('succeeded');
    const after = RestorePointList.parse(await (await f.req('GET', `/api/v1/vms/${vm}/restore-points`, { token: admin })).json());
    expect(after.items.map((p) => p.type)).toEqual(['incremental', 'full']);
    expect(after.items[0].parentId).toBe(after.items[1].id);
    expect(after.items[0].chainId).toBe(after.items[1].chainId);
    // the agent was asked for a full, then for auto
    expect(mem.requests.filter((r) => r.req.vmId === vm).map((r) => r.req.mode)).toEqual(['full', 'auto']);

    const repos = z.object({ items: z.array(RepositoryDto) }).parse(await (await f.req('GET', '/api/v1/repositories', { token: admin })).json());
    const bytes = after.items.reduce((a, p) => a + p.sizeBytes, 0);
    expect(repos.items[0].usage.bySourcePlatform.cloudstack).toEqual({ points: 2, bytes, vms: 1 });
    expect(repos.items[0].usage.bySourcePlatform.vmware).toEqual({ points: 0, bytes: 0, vms: 0 });
    const metrics = await (await f.req('GET', '/metrics')).text();
    expect(metrics).toMatch(new RegExp(`^sendense_restore_point_bytes\\{repository="[^"]+",source_platform="cloudstack"\\} ${bytes}$`, 'm'));
    expect(metrics).toMatch(/^sendense_jobs\{status="succeeded"\} 2$/m);
  });

  it('an insisted incremental that is impossible is a 409 that says why', async () => {
    const e = await errorOf(await f.req('POST', `/api/v1/vms/${f.vmId('infra-1')}/backups`, { token: admin, body: { mode: 'incremental' } }), 409);
    expect(e.code).toBe('incremental_impossible');
    expect(e.message).toMatch(/no restore point of this VM is recorded/);
  });

  it('cancel: a running job ends cancelled, with no restore point', async () => {
    const vm = f.vmId('infra-1');
    mem.pause();
    const job = JobDto.parse(await (await f.req('POST', `/api/v1/vms/${vm}/backups`, { token: admin })).json());
    await expect.poll(async () => (await f.store.jobs.get(job.id))?.status, { timeout: 5000 }).toBe('running');
    const c = await f.req('POST', `/api/v1/jobs/${job.id}/cancel`, { token: admin });
    expect(c.status).toBe(202);
    expect(JobDto.parse(await c.json()).status).toMatch(/^cancel/);
    mem.resume();
    const end = await f.cp.runner.settled(job.id);
    expect(end).toMatchObject({ status: 'cancelled', errorCode: 'cancelled' });
    expect(await f.store.points.countForVm(vm)).toBe(0);
    const again = await errorOf(await f.req('POST', `/api/v1/jobs/${job.id}/cancel`, { token: admin }), 409);
    expect(again.message).toMatch(/already been cancelled/);
  });

  it('a queued job is cancelled at once', async () => {
    mem.pause();
    const vm = f.vmId('bob-1');
    const a = JobDto.parse(await (await f.req('POST', `/api/v1/vms/${vm}/backups`, { token: admin })).json());
    const b = JobDto.parse(await (await f.req('POST', `/api/v1/vms/${vm}/backups`, { token: admin })).json());
    // one job per VM at a time: the second waits in the queue
    await expect.poll(async () => (await f.store.jobs.get(a.id))?.status, { timeout: 5000 }).toBe('running');
    expect((await f.store.jobs.get(b.id))?.status).toBe('queued');
    expect(JobDto.parse(await (await f.req('POST', `/api/v1/jobs/${b.id}/cancel`, { token: admin })).json()).status).toBe('cancelled');
    mem.resume();
    expect((await f.cp.runner.settled(a.id)).status).toBe('succeeded');
  });

  it('a failed backup says why and records no point; the audit log has it', async () => {
    failing = f.vmId('carol-1');
    const job = JobDto.parse(await (await f.req('POST', `/api/v1/vms/${failing}/backups`, { token: admin })).json());
    const end = JobDto.parse(await (await (async () => { await f.cp.runner.settled(job.id); return f.req('GET', `/api/v1/jobs/${job.id}`, { token: admin }); })()).json());
    expect(end.status).toBe('failed');
    expect(end.error).toEqual({ code: 'nbd', message: '[nbd] server closed the connection' });
    expect(await f.store.points.countForVm(failing)).toBe(0);
    const audit = (await (await f.req('GET', `/api/v1/audit?targetId=${job.id}`, { token: admin })).json()) as { items: { action: string; outcome: string }[] };
    expect(audit.items.map((a) => `${a.action}:${a.outcome}`)).toEqual(['job.failed:error']);
    const started = (await (await f.req('GET', `/api/v1/audit?action=backup.start&targetId=${failing}`, { token: admin })).json()) as { items: { actor: string; ip: string }[] };
    expect(started.items[0]).toMatchObject({ actor: 'admin', ip: '192.0.2.10' });
    failing = '';
  });

  it('jobs list: filters by VM and status, newest first', async () => {
    const all = JobList.parse(await (await f.req('GET', '/api/v1/jobs', { token: admin })).json());
    expect(all.total).toBeGreaterThanOrEqual(5);
    const dates = all.items.map((j) => j.queuedAt);
    expect([...dates].sort().reverse()).toEqual(dates);
    const failed = JobList.parse(await (await f.req('GET', '/api/v1/jobs?status=failed,cancelled', { token: admin })).json());
    expect(new Set(failed.items.map((j) => j.status))).toEqual(new Set(['failed', 'cancelled']));
    const web = JobList.parse(await (await f.req('GET', `/api/v1/jobs?vmId=${f.vmId('web-1')}`, { token: admin })).json());
    expect(web.items.every((j) => j.vmName === 'web-1')).toBe(true);
  });

  it('policies: create, assign, the scheduler queues the assigned VMs when due, update, delete', async () => {
    const created = await f.req('POST', '/api/v1/policies', {
      token: admin, body: { name: 'nightly', schedule: '0 2 * * *', fullEvery: 3, maxChainLength: 10, retention: { keepLast: 14, keepWeekly: 4 } },
    });
    expect(created.status).toBe(201);
    const p = PolicyDto.parse(await created.json());
    expect(p).toMatchObject({ timezone: 'UTC', enabled: true, repositoryId: null, assignments: [] });
    expect(p.nextRunAt).toMatch(/T02:00:00.000Z$/);
    const alice = f.sim.state.accounts.find((a) => a.name === 'alice')!;
    const as = await f.req('POST', `/api/v1/policies/${p.id}/assignments`, { token: admin, body: { kind: 'account', domainId: alice.domainId, account: 'alice' } });
    expect(as.status).toBe(201);
    const vmDetail = VmDetailDto.parse(await (await f.req('GET', `/api/v1/vms/${f.vmId('db-1')}`, { token: admin })).json());
    expect(vmDetail.policy).toEqual({ id: p.id, name: 'nightly', assignedBy: 'account' });

    const due = new Date(Date.parse(p.nextRunAt!) + 1000);
    const report = await f.cp.tick(due);
    const mine = report.policies.find((x) => x.id === p.id)!;
    // web-1 and db-1 are alice's
    expect(mine.queued).toHaveLength(2);
    await Promise.all(mine.queued.map((id) => f.cp.runner.settled(id)));
    const jobs = await Promise.all(mine.queued.map(async (id) => JobDto.parse(await (await f.req('GET', `/api/v1/jobs/${id}`, { token: admin })).json())));
    expect(jobs.every((j) => j.trigger === 'schedule' && j.policyId === p.id && j.status === 'succeeded')).toBe(true);
    expect((await f.cp.tick(due)).policies).toEqual([]);

    const patched = await f.req('PATCH', `/api/v1/policies/${p.id}`, { token: admin, body: { enabled: false } });
    expect(PolicyDto.parse(await patched.json())).toMatchObject({ enabled: false, nextRunAt: null });
    const aId = PolicyDto.parse(await (await f.req('GET', `/api/v1/policies/${p.id}`, { token: admin })).json()).assignments[0].id;
    expect((await f.req('DELETE', `/api/v1/policies/${p.id}/assignments/${aId}`, { token: admin })).status).toBe(204);
    expect((await f.req('DELETE', `/api/v1/policies/${p.id}`, { token: admin })).status).toBe(204);
    await errorOf(await f.req('GET', `/api/v1/policies/${p.id}`, { token: admin }), 404);
  });

  it('policy limits reach the agent: full every 3rd', async () => {
    const p = PolicyDto.parse(await (await f.req('POST', '/api/v1/policies', {
      token: admin, body: { name: 'every-third', schedule: '0 3 * * *', fullEvery: 3, maxChainLength: 10, retention: { keepLast: 3 } },
    })).json());
    const vm = f.vmId('db-1');
    await f.req('POST', `/api/v1/policies/${p.id}/assignments`, { token: admin, body: { kind: 'vm', vmId: vm } });
    const types: string[] = [];
    for (let i = 0; i < 4; i++) {
      const j = JobDto.parse(await (await f.req('POST', `/api/v1/vms/${vm}/backups`, { token: admin })).json());
      await f.cp.runner.settled(j.id);
      types.push(`${j.type}`);
    }
    // db-1 already had one full from the schedule test: chain length 1, then 2, 3 → full
    expect(types).toEqual(['incremental', 'incremental', 'full', 'incremental']);
    const points = RestorePointList.parse(await (await f.req('GET', `/api/v1/vms/${vm}/restore-points`, { token: admin })).json());
    expect(new Set(points.items.map((x) => x.chainId)).size).toBe(2);
  });

  it('bad input is a 400 that names the field', async () => {
    const vm = f.vmId('web-1');
    const cases: [string, string, unknown, RegExp][] = [
      ['POST', '/api/v1/vms/not-a-uuid/backups', {}, /invalid path: id: must be a UUID/],
      ['POST', `/api/v1/vms/${vm}/backups`, { mode: 'sometimes' }, /invalid body: mode: .*"auto"\|"full"\|"incremental"/],
      ['POST', `/api/v1/vms/${vm}/backups`, { mode: 'full', extra: 1 }, /invalid body: .*Unrecognized key.*extra/],
      ['POST', `/api/v1/vms/${vm}/backups`, { quiesce: 'yes' }, /invalid body: quiesce: .*expected boolean/],
      ['POST', '/api/v1/auth/login', { username: 'admin' }, /invalid body: password: .*expected string/],
      ['GET', '/api/v1/vms?limit=0', undefined, /invalid query: limit: .*>=1/],
      ['GET', '/api/v1/jobs?status=done', undefined, /invalid query: status: unknown status done/],
      ['POST', '/api/v1/policies', { name: 'x', schedule: 'every night', retention: { keepLast: 1 } }, /invalid schedule 'every night'/],
      ['POST', '/api/v1/policies', { name: 'x', schedule: '0 2 * * *', retention: {} }, /retention: retention needs at least one rule/],
      ['POST', '/api/v1/policies', { name: 'x', schedule: '0 2 * * *', fullEvery: 0, retention: { keepLast: 1 } }, /fullEvery: .*>=1/],
      ['POST', `/api/v1/policies/${crypto.randomUUID()}/assignments`, { kind: 'cluster', id: 'x' }, /invalid body: kind: /],
    ];
    for (const [method, p, body, msg] of cases) {
      const e = await errorOf(await f.req(method, p, { token: admin, body }), 400);
      expect(e.message, `${method} ${p}`).toMatch(msg);
      expect(e.code).toBe('bad_request');
    }
    const malformed = await errorOf(await f.req('POST', `/api/v1/vms/${vm}/backups`, { token: admin, body: '{"mode":', headers: { 'content-type': 'application/json' } }), 400);
    expect(malformed.message).toMatch(/Malformed JSON/);
    const form = await errorOf(await f.req('POST', '/api/v1/auth/login', { body: 'username=admin&password=password', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415);
    expect(form.code).toBe('unsupported_media_type');
    await errorOf(await f.req('GET', '/api/v1/nothing-here', { token: admin }), 404);
    await errorOf(await f.req('GET', `/api/v1/jobs/${crypto.randomUUID()}`, { token: admin }), 404);
    await errorOf(await f.req('GET', `/api/v1/vms/${crypto.randomUUID()}`, { token: admin }), 404);
  });

  it('an agent that cannot be reached fails the job with the reason', async () => {
    const host = f.sim.state.hosts[0].id;
    mem.setReachable(host, false);
    try {
      const job = JobDto.parse(await (await f.req('POST', `/api/v1/vms/${f.vmId('infra-1')}/backups`, { token: admin })).json());
      const end = await f.cp.runner.settled(job.id);
      expect(end).toMatchObject({ status: 'failed', errorCode: 'agent_unreachable' });
      expect(end.error).toMatch(/the agent on host kvm1 \(127\.0\.0\.1\) did not take the job/);
      await f.cp.heartbeat();
      const agents = (await (await f.req('GET', '/api/v1/agents', { token: admin })).json()) as { items: { status: string; statusMessage: string }[] };
      expect(agents.items[0]).toMatchObject({ status: 'inactive' });
    } finally { mem.setReachable(host, true); }
    await f.cp.heartbeat();
    const hosts = (await (await f.req('GET', '/api/v1/hosts', { token: admin })).json()) as { items: { name: string; vms: number; agent: { status: string; agentVersion: string } }[] };
    expect(hosts.items[0]).toMatchObject({ name: 'kvm1', vms: 4, agent: { status: 'active', agentVersion: '0.1.0-memory' } });
  });
});
