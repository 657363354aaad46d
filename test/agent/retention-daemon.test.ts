/**
 * The daemon's prune job and scan through its HTTP API (app.request, typed client) with the fake
 * engine: POST /v1/prunes is a job like /v1/verify, one prune or backup per VM at a time (409 busy
 * naming the job), and POST /v1/scan answers synchronously.
 */
import { describe, expect, it } from 'vitest';
import { MemoryHypervisor } from '../../agent/hypervisor/memory.ts';
import { agentClient } from '../../agent/link/client.ts';
import { createAgentApp } from '../../agent/daemon/app.ts';
import { FakeEngine } from '../../agent/daemon/fake-engine.ts';
import { MemoryJournal } from '../../agent/daemon/journal.ts';
import { FAKE_CAPS } from '../lab/agent-daemon.ts';

const REPO = '/srv/repo';

function setup() {
  const hv = new MemoryHypervisor();
  const dom = hv.createDomain({ name: 'vm1', disks: [{ size: 1 << 20 }] });
  const engine = new FakeEngine({ steps: 10, stepMs: 15 });
  const agent = createAgentApp({ engine, journal: new MemoryJournal(), hypervisor: hv, version: 't', hostname: 'h', probe: async () => FAKE_CAPS, concurrency: 4, progressIntervalMs: 20 });
  const client = agentClient((input, init) => Promise.resolve(agent.app.request(input instanceof Request ? input : String(input), init)));
  return { dom, engine, agent, client };
}

async function settle(client: ReturnType<typeof setup>['client'], id: string) {
  for (;;) {
    const job = (await (await client.v1.jobs[':id'].$get({ param: { id } })).json()).job;
    if (['succeeded', 'failed', 'cancelled'].includes(job.state)) return job;
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('agent daemon: prune and scan', () => {
  it('runs a prune as a job, refuses a second prune or a backup of the VM meanwhile, scans synchronously', async () => {
    const { dom, client, agent } = setup();
    const vmId = dom.uuid;
    for (let i = 0; i < 3; i++) {
      const b = await client.v1.backups.$post({ json: { domain: 'vm1', repo: REPO } });
      await settle(client, (await b.json()).job.id);
    }
    const pts = (await (await client.v1.jobs.$get({ query: { kind: 'backup' } })).json()).jobs.map((j: any) => j.result.pointId).sort();
    expect(pts).toHaveLength(3);

    const res = await client.v1.prunes.$post({ json: { repo: REPO, vmId, remove: [pts[0]], requestId: 'p-1' } });
    expect(res.status).toBe(202);
    const job = (await res.json()).job;
    expect(job).toMatchObject({ kind: 'prune', vmId, state: 'queued' });

    // the same VM: a second prune and a backup are refused while it runs, naming the job
    const again = await client.v1.prunes.$post({ json: { repo: REPO, vmId, remove: [pts[1]] } });
    expect(again.status).toBe(409);
    expect(((await again.json()) as any).error).toMatchObject({ code: 'busy', jobId: job.id });
    const backup = await client.v1.backups.$post({ json: { domain: 'vm1', repo: REPO } });
    expect(backup.status).toBe(409);
    expect(((await backup.json()) as any).error).toMatchObject({ code: 'busy', jobId: job.id });
    // a retry with the same requestId is the same job
    const retry = await client.v1.prunes.$post({ json: { repo: REPO, vmId, remove: [pts[0]], requestId: 'p-1' } });
    expect(retry.status).toBe(200);

    const done = await settle(client, job.id);
    expect(done).toMatchObject({ state: 'succeeded', result: { vmId, removed: [pts[0]], merged: [{ pointId: pts[1], from: [pts[0]] }] } });
    expect(done.progress?.bytesDone).toBeGreaterThan(0);
    // jobs list by kind
    const list = (await (await client.v1.jobs.$get({ query: { kind: 'prune' } })).json()).jobs;
    expect(list.map((j: any) => j.id)).toEqual([job.id]);
    // once it has finished, a backup of the VM is accepted again
    expect((await client.v1.backups.$post({ json: { domain: 'vm1', repo: REPO } })).status).toBe(202);

    // a prune of a point that does not exist fails as a job, with the engine's message
    const bad = await client.v1.prunes.$post({ json: { repo: REPO, vmId: 'other-vm', remove: ['20200101-000000'] } });
    const badJob = await settle(client, (await bad.json()).job.id);
    expect(badJob).toMatchObject({ state: 'failed', error: { code: 'prune-failed' } });
    expect(badJob.error?.message).toMatch(/no point 20200101-000000/);

    // the body is validated
    const invalid = await client.v1.prunes.$post({ json: { repo: REPO, vmId, remove: [] } as any });
    expect(invalid.status).toBe(400);

    const scan = await client.v1.scan.$post({ json: { repo: REPO, vmId } });
    expect(scan.status).toBe(200);
    expect((await scan.json()).vms).toMatchObject([{ vmId, problems: [] }]);
    await agent.close();
  });
});
