/**
 * The daemon's HTTP API through `app.request()` (no socket), with the fake engine, the memory
 * journal and the memory hypervisor, driven by the typed client the control plane uses.
 */
import { describe, expect, it } from 'vitest';
import { MemoryHypervisor } from '../hypervisor/memory.ts';
import { agentClient, agentJson, type AgentClient } from '../link/client.ts';
import { followJob, jobEvents } from '../link/follow.ts';
import { SseParser } from '../link/sse.ts';
import { createAgentApp, type AgentApp } from './app.ts';
import { FakeEngine } from './fake-engine.ts';
import type { JobEvent } from './job.ts';
import { MemoryJournal } from './journal.ts';
import type { Capabilities } from './service.ts';
import { FAKE_CAPS } from '../../test/lab/agent-daemon.ts';

const CAPS = FAKE_CAPS;

function setup(o: { concurrency?: number; engine?: FakeEngine; caps?: Capabilities } = {}) {
  const hv = new MemoryHypervisor();
  const domains = ['vm1', 'vm2', 'vm3', 'vm4'].map((name) => hv.createDomain({ name, disks: [{ size: 1 << 20 }] }));
  const engine = o.engine ?? new FakeEngine({ steps: 10, stepMs: 15 });
  const journal = new MemoryJournal();
  let probes = 0;
  const agent: AgentApp = createAgentApp({
    engine, journal, hypervisor: hv, version: '0.1.0-test', hostname: 'kvm-test',
    probe: async () => { probes += 1; return o.caps ?? CAPS; },
    problems: (c) => (c.libvirt.backup ? [] : ['no pull-mode backup']),
    concurrency: o.concurrency ?? 2, progressIntervalMs: 20,
  });
  const client: AgentClient = agentClient((input, init) => Promise.resolve(agent.app.request(input instanceof Request ? input : String(input), init)));
  return { hv, domains, engine, journal, agent, client, probes: () => probes };
}

const REPO = '/srv/repo';

async function startBackup(client: AgentClient, domain: string, extra: Record<string, unknown> = {}) {
  const res = await client.v1.backups.$post({ json: { domain, repo: REPO, ...extra } });
  expect(res.status, await res.clone().text()).toBe(202);
  return (await res.json()).job;
}

async function rawEvents(client: AgentClient, id: string): Promise<{ text: string; events: JobEvent[]; contentType: string | null }> {
  const res = await client.v1.jobs[':id'].events.$get({ param: { id } });
  expect(res.status).toBe(200);
  const text = await res.text();
  const events = new SseParser().push(text).map((m) => {
    const e = JSON.parse(m.data) as JobEvent;
    expect(m.event).toBe(e.type);
    return e;
  });
  return { text, events, contentType: res.headers.get('content-type') };
}

async function error(res: Response | { status: number; json(): Promise<unknown> }) {
  const body = (await res.json()) as { error: { code: string; message: string; jobId?: string } };
  return { status: res.status, ...body.error };
}

describe('agent daemon API', () => {
  it('health: version, hostname, uptime, capabilities (probed once, cached), job counts', async () => {
    const { client, probes } = setup();
    const h = await agentJson(await client.v1.health.$get());
    expect(h).toMatchObject({ ok: true, problems: [], version: '0.1.0-test', hostname: 'kvm-test', capabilities: CAPS, jobs: { running: 0, queued: 0, concurrency: 2 } });
    expect(h.uptimeSec).toBeGreaterThanOrEqual(0);
    await client.v1.health.$get();
    expect(probes()).toBe(1);
  });

  it('health says ok:false with the problems when the host cannot back up', async () => {
    const { client } = setup({ caps: { ...CAPS, libvirt: { ...CAPS.libvirt, backup: false } } });
    const h = await agentJson(await client.v1.health.$get());
    expect(h.ok).toBe(false);
    expect(h.problems).toEqual(['no pull-mode backup']);
  });

  it('domains: the host\'s domains, with their disks on request', async () => {
    const { client, domains } = setup();
    const plain = await agentJson(await client.v1.domains.$get({ query: {} }));
    expect(plain.domains.map((d) => d.name).sort()).toEqual(['vm1', 'vm2', 'vm3', 'vm4']);
    expect(plain.domains[0].disks).toBeUndefined();
    const full = await agentJson(await client.v1.domains.$get({ query: { disks: 'true' } }));
    const vm1 = full.domains.find((d) => d.uuid === domains[0].uuid)!;
    expect(vm1.state).toBe('running');
    expect(vm1.disks?.map((d) => d.target)).toEqual(['vda']);
  });

  it('a backup job: 202 queued, then running with progress, then succeeded with a point; found by id and in the list', async () => {
    const { client, domains } = setup();
    const job = await startBackup(client, 'vm1', { vmId: 'CS-VM-1', platformMetadata: { cloudstack: { vm_id: 'x' } } });
    expect(job).toMatchObject({ kind: 'backup', state: 'queued', domain: 'vm1', domainUuid: domains[0].uuid, vmId: 'cs-vm-1', seq: 1 });
    expect(job.request).toMatchObject({ domain: 'vm1', repo: REPO, mode: 'auto', quiesce: false });
    const seen: JobEvent[] = [];
    const done = await followJob(client, job.id, { onEvent: (e) => seen.push(e) });
    expect(done.state).toBe('succeeded');
    expect(done.kind === 'backup' && done.result).toMatchObject({ type: 'full', vmId: 'cs-vm-1', reason: 'no previous point' });
    expect(done.kind === 'backup' && done.result?.manifest).toMatchObject({ format: 'sendense-point', vm_uuid: 'cs-vm-1', type: 'full', disks: [{ target: 'vda' }] });
    expect(done.progress).toMatchObject({ bytesDone: 64 << 20, bytesTotal: 64 << 20, disk: 'vda' });
    expect(seen.map((e) => e.type)).toContain('progress');
    const got = await agentJson(await client.v1.jobs[':id'].$get({ param: { id: job.id } }));
    expect(got.job).toEqual(done);
    // the second backup of the VM is an incremental
    const second = await followJob(client, (await startBackup(client, domains[0].uuid, { vmId: 'cs-vm-1' })).id);
    expect(second.kind === 'backup' && second.result?.type).toBe('incremental');
    const list = await agentJson(await client.v1.jobs.$get({ query: { domain: 'vm1' } }));
    expect(list.jobs.map((j) => j.id)).toEqual([second.id, job.id]);
    expect((await agentJson(await client.v1.jobs.$get({ query: { state: 'running' } }))).jobs).toEqual([]);
  });

  it('the event stream: state first, progress in order, done last, then it ends; a finished job gives just done', async () => {
    const { client } = setup();
    const job = await startBackup(client, 'vm2');
    const { events, contentType, text } = await rawEvents(client, job.id);
    expect(contentType).toMatch(/^text\/event-stream/);
    expect(text).toMatch(/^event: state\ndata: \{/);
    expect(events[0].type).toBe('state');
    expect(events.at(-1)!.type).toBe('done');
    expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
    const states = events.flatMap((e) => (e.type === 'progress' ? [] : [e.job.state]));
    expect(states).toEqual([...new Set(states)]); // no state twice
    expect(states.at(-1)).toBe('succeeded');
    expect(states).toContain('running');
    const progress = events.flatMap((e) => (e.type === 'progress' ? [e.progress.bytesDone] : []));
    expect(progress.length).toBeGreaterThan(1);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    expect(progress.at(-1)).toBe(64 << 20);
    const again = await rawEvents(client, job.id);
    expect(again.events.map((e) => e.type)).toEqual(['done']);
    expect(again.events[0].type === 'done' && again.events[0].job.state).toBe('succeeded');
  });

  it('a client that connects mid-job gets the current state and the latest progress first', async () => {
    const { client } = setup({ engine: new FakeEngine({ steps: 20, stepMs: 25 }) });
    const job = await startBackup(client, 'vm1');
    await new Promise((r) => setTimeout(r, 200));
    const res = await client.v1.jobs[':id'].events.$get({ param: { id: job.id } });
    const it = jobEvents(res);
    const first = (await it.next()).value as JobEvent;
    const second = (await it.next()).value as JobEvent;
    await it.return(undefined);
    expect(first.type === 'state' && first.job.state).toBe('running');
    expect(second.type).toBe('progress');
    expect(second.type === 'progress' && second.progress.bytesDone).toBeGreaterThan(0);
  });

  it('cancel a running backup: 202 cancelRequested, the engine is aborted and cleans up, the job ends cancelled, no point', async () => {
    const engine = new FakeEngine({ steps: 100, stepMs: 20, cleanupMs: 50 });
    const { client } = setup({ engine });
    const job = await startBackup(client, 'vm1');
    const done = followJob(client, job.id);
    await new Promise((r) => setTimeout(r, 150));
    const res = await client.v1.jobs[':id'].cancel.$post({ param: { id: job.id } });
    expect(res.status).toBe(202);
    const body = await agentJson(res);
    expect(body.job).toMatchObject({ state: 'running', cancelRequested: true });
    const end = await done;
    expect(end.state).toBe('cancelled');
    expect(end.error).toMatchObject({ code: 'cancelled' });
    expect(end.error!.message).toMatch(/no restore point recorded: cancelled by request/);
    expect(end.progress!.bytesDone).toBeLessThan(64 << 20);
    expect(engine.points.size).toBe(0);
    expect(engine.running).toBe(0);
    const again = await client.v1.jobs[':id'].cancel.$post({ param: { id: job.id } });
    expect(await error(again)).toMatchObject({ status: 409, code: 'finished' });
  });

  it('cancel a queued job: 200, cancelled at once, it never runs', async () => {
    const engine = new FakeEngine();
    const { client } = setup({ engine, concurrency: 1 });
    const release = engine.hold();
    const a = await startBackup(client, 'vm1');
    const b = await startBackup(client, 'vm2');
    expect((await agentJson(await client.v1.jobs[':id'].$get({ param: { id: b.id } }))).job.state).toBe('queued');
    const res = await client.v1.jobs[':id'].cancel.$post({ param: { id: b.id } });
    expect(res.status).toBe(200);
    expect((await agentJson(res)).job).toMatchObject({ state: 'cancelled', error: { code: 'cancelled' } });
    release();
    expect((await followJob(client, a.id)).state).toBe('succeeded');
    expect(engine.calls.map((c) => (c.request as { domain: string }).domain)).toEqual(['vm1']);
  });

  it('one job per domain: a second backup of a running domain (by name or UUID) is refused with 409 naming the job', async () => {
    const engine = new FakeEngine();
    const { client, domains } = setup({ engine });
    const release = engine.hold();
    const a = await startBackup(client, 'vm1');
    for (const ref of ['vm1', domains[0].uuid]) {
      const res = await client.v1.backups.$post({ json: { domain: ref, repo: REPO } });
      const e = await error(res);
      expect(e).toMatchObject({ status: 409, code: 'busy', jobId: a.id });
      expect(e.message).toMatch(new RegExp(`job ${a.id} is already backing up vm1`));
    }
    // another domain is fine
    const b = await startBackup(client, 'vm2');
    release();
    await followJob(client, a.id);
    await followJob(client, b.id);
    // once finished, the domain takes a new backup
    expect((await followJob(client, (await startBackup(client, 'vm1')).id)).state).toBe('succeeded');
  });

  it('a concurrency limit: at most N jobs run, the rest queue and all finish', async () => {
    const engine = new FakeEngine({ steps: 5, stepMs: 20 });
    const { client } = setup({ engine, concurrency: 2 });
    const jobs = [];
    for (const d of ['vm1', 'vm2', 'vm3', 'vm4']) jobs.push(await startBackup(client, d));
    const h = await agentJson(await client.v1.health.$get());
    expect(h.jobs).toMatchObject({ running: 2, queued: 2 });
    const done = await Promise.all(jobs.map((j) => followJob(client, j.id)));
    expect(done.map((j) => j.state)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    expect(engine.maxRunning).toBe(2);
  });

  it('an engine failure: the job fails with the engine\'s message', async () => {
    const engine = new FakeEngine();
    engine.failures.set('vm3', '[backup] backup of vm3 failed, no restore point recorded: [target] no space left');
    const { client } = setup({ engine });
    const end = await followJob(client, (await startBackup(client, 'vm3')).id);
    expect(end).toMatchObject({ state: 'failed', error: { code: 'backup-failed', message: '[backup] backup of vm3 failed, no restore point recorded: [target] no space left' } });
    expect(end.kind === 'backup' && end.result).toBeUndefined();
  });

  it('restore and verify jobs', async () => {
    const { client } = setup();
    const b = await followJob(client, (await startBackup(client, 'vm1', { vmId: 'vm-a' })).id);
    const point = b.kind === 'backup' ? b.result!.pointId : '';
    const r = await client.v1.restores.$post({ json: { repo: REPO, vmId: 'vm-a', disk: 'vda', to: '/tmp/x.qcow2' } });
    expect(r.status).toBe(202);
    const rj = await followJob(client, (await agentJson(r)).job.id);
    expect(rj).toMatchObject({ kind: 'restore', state: 'succeeded', result: { pointId: point, disk: 'vda', to: '/tmp/x.qcow2', format: 'qcow2' } });
    const v = await followJob(client, (await agentJson(await client.v1.verify.$post({ json: { repo: REPO, vmId: 'vm-a', point } }))).job.id);
    expect(v).toMatchObject({ kind: 'verify', state: 'succeeded', result: { ok: true, points: [{ pointId: point, ok: true }] } });
    const none = await followJob(client, (await agentJson(await client.v1.restores.$post({ json: { repo: REPO, vmId: 'vm-b', disk: 'vda', to: '/tmp/y.raw', format: 'raw' } }))).job.id);
    expect(none).toMatchObject({ state: 'failed', error: { code: 'restore-failed', message: '[restore] VM vm-b has no restore point' } });
  });

  it('a retried submission (same requestId) gets the first job back with 200; another body with that requestId is 409', async () => {
    const engine = new FakeEngine();
    const { client } = setup({ engine });
    const body = { domain: 'vm1', repo: REPO, requestId: 'cp-job-42' };
    const first = await client.v1.backups.$post({ json: body });
    expect(first.status).toBe(202);
    const job = (await agentJson(first)).job;
    const retry = await client.v1.backups.$post({ json: body });
    expect(retry.status).toBe(200);
    expect((await agentJson(retry)).job.id).toBe(job.id);
    expect(await error(await client.v1.backups.$post({ json: { ...body, mode: 'full' } }))).toMatchObject({ status: 409, code: 'request-conflict', jobId: job.id });
    expect(await error(await client.v1.verify.$post({ json: { repo: REPO, vmId: 'x', requestId: 'cp-job-42' } }))).toMatchObject({ status: 409, code: 'request-conflict' });
    await followJob(client, job.id);
    // still the same job once it has finished (a retry after a long outage)
    expect((await agentJson(await client.v1.backups.$post({ json: body }))).job).toMatchObject({ id: job.id, state: 'succeeded' });
    expect(engine.calls).toHaveLength(1);
  });

  it('two restores writing the same file at once: the second is refused', async () => {
    const engine = new FakeEngine();
    const { client } = setup({ engine });
    await followJob(client, (await startBackup(client, 'vm1', { vmId: 'vm-a' })).id);
    const release = engine.hold();
    const body = { repo: REPO, vmId: 'vm-a', disk: 'vda', to: '/tmp/same.qcow2' };
    const a = await agentJson(await client.v1.restores.$post({ json: body }));
    expect(await error(await client.v1.restores.$post({ json: body }))).toMatchObject({ status: 409, code: 'busy', jobId: a.job.id });
    release();
    await followJob(client, a.job.id);
  });
});

describe('agent daemon API: bad requests', () => {
  const post = async (path: string, body: string, ct = 'application/json') => {
    const { agent } = setup();
    const res = await agent.app.request(path, { method: 'POST', body, headers: { 'content-type': ct } });
    return error(res);
  };

  it.each([
    ['{}', /domain: .*expected string/i],
    ['{"domain":"vm1"}', /repo: /],
    ['{"domain":"vm1","repo":"/r","mode":"sometimes"}', /mode: .*"auto"\|"full"\|"incremental"/],
    ['{"domain":"vm1","repo":"/r","domian":"x"}', /Unrecognized key: "domian"/],
    ['{"domain":"vm1","repo":"/r","disks":["vda","../x"]}', /disks\[1\]: a target dev like 'vda'/],
    ['{"domain":"vm1","repo":"/r","disks":[]}', /disks: /],
    ['{"domain":"vm1","repo":"gopher://x/y"}', /repo: \[target\] cannot use "gopher:\/\/x\/y" as a repository: unknown scheme/],
    ['{"domain":"vm1","repo":"ssh://h/r","identity":"id_ed25519"}', /identity: must be an absolute path on the agent host/],
    ['{"domain":"vm1","repo":"/r","vmId":"../../etc"}', /vmId: /],
    ['{"domain":"vm1","repo":"/r","quiesce":"yes"}', /quiesce: .*boolean/],
    ['{"domain":"vm1","repo":"/r","sourcePlatform":"xen"}', /sourcePlatform: /],
  ])('POST /v1/backups %s → 400 (%s)', async (body, re) => {
    const e = await post('/v1/backups', body);
    expect(e.status).toBe(400);
    expect(e.code).toBe('invalid-request');
    expect(e.message).toMatch(/^\[agent\] /);
    expect(e.message).toMatch(re);
  });

  it('malformed JSON and a body that is not JSON are 400 with a clear message', async () => {
    expect(await post('/v1/backups', '{"domain":')).toMatchObject({ status: 400, code: 'invalid-request', message: '[agent] Malformed JSON in request body' });
    expect(await post('/v1/backups', 'domain=vm1', 'application/x-www-form-urlencoded')).toMatchObject({ status: 400, message: expect.stringMatching(/the body must be JSON \(Content-Type: application\/json, got 'application\/x-www-form-urlencoded'\)/) });
  });

  it('restore and verify bodies are checked too', async () => {
    expect((await post('/v1/restores', '{"repo":"/r","vmId":"v","disk":"vda","to":"relative.qcow2"}')).message).toMatch(/to: must be an absolute path/);
    expect((await post('/v1/restores', '{"repo":"/r","vmId":"v","disk":"vda","to":"/x","format":"vmdk"}')).message).toMatch(/format: /);
    expect((await post('/v1/verify', '{"repo":"/r","vmId":"v","point":"yesterday"}')).message).toMatch(/point: a point id like 20250101-120000/);
  });

  it('queries are checked: an unknown state or limit is 400', async () => {
    const { agent } = setup();
    expect(await error(await agent.app.request('/v1/jobs?state=paused'))).toMatchObject({ status: 400, message: expect.stringMatching(/query: state: /) });
    expect(await error(await agent.app.request('/v1/jobs?limit=0'))).toMatchObject({ status: 400, message: expect.stringMatching(/query: limit: /) });
    expect(await error(await agent.app.request('/v1/jobs?colour=red'))).toMatchObject({ status: 400, message: expect.stringMatching(/Unrecognized key: "colour"/) });
  });

  it('404s: an unknown job (get, events, cancel), an unknown domain, an unknown route', async () => {
    const { agent, client } = setup();
    for (const res of [
      await client.v1.jobs[':id'].$get({ param: { id: 'nope' } }),
      await client.v1.jobs[':id'].events.$get({ param: { id: 'nope' } }),
      await client.v1.jobs[':id'].cancel.$post({ param: { id: 'nope' } }),
    ]) {
      expect(await error(res)).toMatchObject({ status: 404, code: 'not-found', message: '[daemon] [jobs] no job nope on this agent' });
    }
    expect(await error(await client.v1.backups.$post({ json: { domain: 'vm9', repo: REPO } }))).toMatchObject({ status: 404, code: 'domain-not-found', message: expect.stringMatching(/no domain 'vm9' on this host/) });
    expect(await error(await agent.app.request('/v1/nothing'))).toMatchObject({ status: 404, code: 'not-found', message: '[agent] no route GET /v1/nothing' });
  });

  it('a stopping agent refuses new jobs with 503', async () => {
    const { agent, client } = setup();
    await agent.close();
    expect(await error(await client.v1.backups.$post({ json: { domain: 'vm1', repo: REPO } }))).toMatchObject({ status: 503, code: 'stopping' });
  });
});
