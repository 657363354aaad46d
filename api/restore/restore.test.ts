/**
 * Restores through the API (app.request) with the in-memory agent, the CloudStack simulator and
 * a real SQLite file: new volume (uploaded to the simulator's SSVM URL, attached), in place (a
 * running VM refused, stopVm/startVm, whole VM, a failing disk, cancel), download, who may do
 * what, bad input, the list and SSE, and a control plane killed mid-restore.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MemoryAgentGateway, type MemoryAgentScript } from '../agents/memory.ts';
import type { AgentRestoreRequest } from '../agents/port.ts';
import { targetOfDevice } from '../agents/targets.ts';
import type { Simulator } from '../cloudstack-sim/app.ts';
import { RestoreDto } from '../http/restore-schemas.ts';
import { makeFixture, testWorld, type Fixture } from '../testing/fixture.ts';

const M = 2 ** 20;
let f: Fixture | undefined;
afterEach(async () => { await f?.close(); f = undefined; });

/** small disks (the simulator's sizes / 1024) and uploads POSTed to the simulator's SSVM endpoint */
async function world(script?: (req: AgentRestoreRequest) => MemoryAgentScript | undefined) {
  let sim: Simulator | undefined;
  const memory = new MemoryAgentGateway({
    tickMs: 3,
    disksOf: (req) => sim!.state.volumes.filter((v) => v.vmId === req.vmId).sort((a, b) => (a.deviceId ?? 0) - (b.deviceId ?? 0))
      .map((v) => ({ target: targetOfDevice(v.deviceId ?? 0), size: v.size / 1024 })),
    script: (_h, req, kind) => (kind === 'restore' ? script?.(req as AgentRestoreRequest) : undefined),
    upload: async (dest, image) => {
      const form = new FormData();
      form.append('file', new Blob([await new Response(image.stream).arrayBuffer()]), `image.${image.format}`);
      const body = new Response(form);
      const bytes = new Uint8Array(await body.arrayBuffer());
      const res = await sim!.fetch(dest.url, {
        method: 'POST', body: bytes,
        headers: { ...dest.headers, 'content-type': body.headers.get('content-type')!, 'content-length': String(bytes.byteLength) },
      });
      if (!res.ok) throw new Error(`SSVM answered ${res.status}: ${await res.text()}`);
    },
  });
  f = await makeFixture({ state: testWorld(), gateway: memory });
  sim = f.sim;
  await f.cp.heartbeat();
  return { memory, f };
}

async function backedUp(fx: Fixture, vm: string) {
  const job = await fx.cp.runner.enqueue({ vmId: fx.vmId(vm), trigger: 'manual', requested: 'full' });
  expect((await fx.cp.runner.settled(job.id)).status).toBe('succeeded');
  const [point] = await fx.store.points.listForVm(fx.vmId(vm));
  return (await fx.store.points.get(point.id))!;
}

async function restore(fx: Fixture, token: string, pointId: string, body: unknown) {
  const res = await fx.req('POST', `/api/v1/restore-points/${pointId}/restore`, { token, body });
  return { status: res.status, body: await res.json() as Record<string, any> };
}

const settled = async (fx: Fixture, id: string) => RestoreDto.parse((await (await fx.req('GET', `/api/v1/restores/${id}`, { token: await fx.login('admin') })).json()));

describe('restore API', () => {
  it('new-volume: each disk uploaded to CloudStack, listed as Uploaded, attached to the chosen VM; recorded and audited', async () => {
    const { memory, f: fx } = await world();
    const point = await backedUp(fx, 'web-1');
    const alice = await fx.login('alice');
    const r = await restore(fx, alice, point.id, { mode: 'new-volume', attachToVmId: fx.vmId('db-1') });
    expect(r.status, JSON.stringify(r.body)).toBe(202);
    expect(RestoreDto.parse(r.body)).toMatchObject({ kind: 'new-volume', status: expect.stringMatching(/queued|running/), requestedBy: 'alice' });
    const done = RestoreDto.parse(await fx.cp.restores.settled(r.body.id).then(() => settled(fx, r.body.id)));
    expect(done.status, JSON.stringify(done.error)).toBe('succeeded');
    expect(done.volumeIds).toHaveLength(2);
    for (const [i, volumeId] of done.volumeIds.entries()) {
      const vol = fx.sim.state.volumes.find((v) => v.id === volumeId)!;
      expect(vol.name).toBe(`web-1-${['vda', 'vdb'][i]}-restore-${point.pointId}`);
      expect(vol.vmId).toBe(fx.vmId('db-1'));
      const image = await fx.sim.uploads.get(volumeId);
      expect(image?.byteLength).toBeGreaterThan(0);
      expect(vol.size).toBe(point.disks[i].virtualSizeBytes);
      expect(done.disks[i].contentSha256).toBe(point.disks[i].contentSha256);
    }
    const uploads = memory.otherRequests.filter((x) => x.kind === 'restore').map((x) => (x.req as AgentRestoreRequest).destination);
    expect(uploads.map((d) => d.kind)).toEqual(['upload', 'upload']);
    const audit = await fx.store.audit.list({ targetId: done.id });
    expect(audit.map((a) => a.action)).toContain('restore.succeeded');
    expect((await fx.store.audit.list({ action: 'restore.start' }))[0]).toMatchObject({ actor: 'alice', outcome: 'ok' });
  });

  it('in-place: a running VM is refused (409); stopVm stops it, every disk goes back onto its volume, startVm starts it', async () => {
    const { memory, f: fx } = await world();
    const point = await backedUp(fx, 'web-1');
    const alice = await fx.login('alice');
    const refused = await restore(fx, alice, point.id, { mode: 'in-place' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/web-1 is Running: an in-place restore needs it Stopped.*stopVm: true/);
    expect(memory.otherRequests).toHaveLength(0);
    const r = await restore(fx, alice, point.id, { mode: 'in-place', stopVm: true, startVm: true });
    expect(r.status).toBe(202);
    const done = await fx.cp.restores.settled(r.body.id);
    expect(done.status, done.error ?? '').toBe('succeeded');
    const dto = await settled(fx, done.id);
    expect(dto).toMatchObject({ vmStopped: true, vmStarted: true, progress: 1 });
    const paths = fx.sim.state.volumes.filter((v) => v.vmId === fx.vmId('web-1')).sort((a, b) => (a.deviceId ?? 0) - (b.deviceId ?? 0)).map((v) => v.path);
    for (const [i, d] of point.disks.entries()) {
      const written = [...memory.volumes.entries()].find(([p]) => p.endsWith(paths[i]!));
      expect(written?.[1]).toBe(d.contentSha256);
      expect(dto.disks[i].volumeId).toBe(fx.sim.state.volumes.find((v) => v.path === paths[i])!.id);
    }
    expect(fx.sim.state.vms.find((v) => v.name === 'web-1')!.state).toBe('Running');
  });

  it('in-place, whole VM: the first failing disk ends the restore, saying the agent put it back; no further disk is started', async () => {
    const { memory, f: fx } = await world((req) => (req.disk === 'vda' ? { fail: { code: 'verify', message: '[restore] block 3 does not match its digest', atTick: 1 } } : undefined));
    const point = await backedUp(fx, 'db-1');
    const r = await restore(fx, await fx.login('alice'), point.id, { mode: 'in-place' });
    const done = await fx.cp.restores.settled(r.body.id);
    expect(done).toMatchObject({ status: 'failed', errorCode: 'verify' });
    expect(done.error).toMatch(/disk vda: \[restore\] block 3 does not match its digest \(the agent put volume .* back as it was\)/);
    expect(memory.otherRequests.map((x) => (x.req as AgentRestoreRequest).disk)).toEqual(['vda']);
    expect(memory.volumes.size).toBe(0);
  });

  it('cancel half-way: the agent job is cancelled, the volume untouched, the restore cancelled', async () => {
    const { memory, f: fx } = await world(() => ({ ticks: 1000 }));
    const point = await backedUp(fx, 'db-1');
    const alice = await fx.login('alice');
    const r = await restore(fx, alice, point.id, { mode: 'in-place', disks: ['vda'] });
    await expect.poll(async () => (await settled(fx, r.body.id)).disks[0].agentJobId, { timeout: 5000 }).toBeTruthy();
    const c = await fx.req('POST', `/api/v1/restores/${r.body.id}/cancel`, { token: alice });
    expect(c.status).toBe(202);
    const done = await fx.cp.restores.settled(r.body.id);
    expect(done.status).toBe('cancelled');
    expect(memory.volumes.size).toBe(0);
    expect((await fx.req('POST', `/api/v1/restores/${r.body.id}/cancel`, { token: alice })).status).toBe(409);
  });

  it('download: the image streamed with Content-Length and Content-Disposition, recorded as a download', async () => {
    const { f: fx } = await world();
    const point = await backedUp(fx, 'web-1');
    const res = await fx.req('GET', `/api/v1/restore-points/${point.id}/download?disk=vdb&format=raw`, { token: await fx.login('alice') });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="web-1-vdb-${point.pointId}.raw"`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    expect(bytes.byteLength).toBe(point.disks[1].virtualSizeBytes);
    expect(Number(res.headers.get('content-length'))).toBe(bytes.byteLength);
    const id = res.headers.get('x-sendense-restore-id')!;
    await expect.poll(async () => (await settled(fx, id)).status).toBe('succeeded');
    expect((await settled(fx, id))).toMatchObject({ kind: 'download', bytesSent: bytes.byteLength, target: { format: 'raw', disks: ['vdb'] } });
    const bad = await fx.req('GET', `/api/v1/restore-points/${point.id}/download?disk=vdz`, { token: await fx.login('alice') });
    expect(bad.status).toBe(404);
  });

  it('who may: the VM\'s owner and admins; others 404 (as a point that does not exist); the attach target must be visible too; anonymous 401', async () => {
    const { f: fx } = await world();
    const point = await backedUp(fx, 'web-1');
    for (const who of ['bob', 'carol']) {
      const r = await restore(fx, await fx.login(who), point.id, { mode: 'new-volume' });
      expect(r.status, who).toBe(404);
      const dl = await fx.req('GET', `/api/v1/restore-points/${point.id}/download`, { token: await fx.login(who) });
      expect(dl.status, who).toBe(404);
    }
    const attach = await restore(fx, await fx.login('alice'), point.id, { mode: 'new-volume', attachToVmId: fx.vmId('bob-1') });
    expect(attach.status).toBe(404);
    expect((await fx.req('POST', `/api/v1/restore-points/${point.id}/restore`, { body: { mode: 'new-volume' } })).status).toBe(401);
    expect((await fx.store.audit.list({ action: 'restore.start' })).filter((a) => a.outcome === 'denied').length).toBe(3);
    const dadmin = await restore(fx, await fx.login('dadmin'), point.id, { mode: 'new-volume', disks: ['vda'] });
    expect(dadmin.status).toBe(202);
    await fx.cp.restores.settled(dadmin.body.id);
    // lists follow the same rule
    const mine = await (await fx.req('GET', '/api/v1/restores', { token: await fx.login('alice') })).json() as { total: number };
    const bobs = await (await fx.req('GET', '/api/v1/restores', { token: await fx.login('bob') })).json() as { total: number };
    expect(mine.total).toBe(1);
    expect(bobs.total).toBe(0);
    expect((await fx.req('GET', `/api/v1/restores/${dadmin.body.id}`, { token: await fx.login('carol') })).status).toBe(404);
  });

  it('bad input: 400 naming the field; a disk the point does not have 404; an unknown point 404', async () => {
    const { f: fx } = await world();
    const point = await backedUp(fx, 'web-1');
    const alice = await fx.login('alice');
    const cases: [unknown, RegExp][] = [
      [{}, /mode/],
      [{ mode: 'sideways' }, /mode/],
      [{ mode: 'in-place', name: 'x' }, /name: only for mode new-volume/],
      [{ mode: 'new-volume', stopVm: true }, /stopVm: only for mode in-place/],
      [{ mode: 'new-volume', disks: ['VDA'] }, /disks/],
      [{ mode: 'new-volume', attachToVmId: 'nope' }, /attachToVmId/],
      [{ mode: 'new-volume', surprise: 1 }, /surprise|unrecognized/i],
    ];
    for (const [body, msg] of cases) {
      const r = await restore(fx, alice, point.id, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.message).toMatch(msg);
    }
    const missing = await restore(fx, alice, point.id, { mode: 'new-volume', disks: ['vdq'] });
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toMatch(/no disk vdq \(it has vda, vdb\)/);
    expect((await restore(fx, alice, crypto.randomUUID(), { mode: 'new-volume' })).status).toBe(404);
  });

  it('progress events (SSE) until the end', async () => {
    const { f: fx } = await world(() => ({ ticks: 8 }));
    const point = await backedUp(fx, 'web-1');
    const alice = await fx.login('alice');
    const r = await restore(fx, alice, point.id, { mode: 'new-volume', disks: ['vda'] });
    const res = await fx.req('GET', `/api/v1/restores/${r.body.id}/events`, { token: alice });
    const text = await res.text();
    const events = [...text.matchAll(/event: (\w+)\ndata: (.*)\n/g)].map((m) => ({ type: m[1], data: JSON.parse(m[2]) }));
    expect(events[0].type).toBe('restore');
    expect(events.at(-1)).toEqual({ type: 'end', data: { status: 'succeeded' } });
    const progress = events.filter((e) => e.type === 'restore').map((e) => e.data.progress as number);
    expect(progress.some((p) => p > 0 && p < 1)).toBe(true);
  });

  it('the control plane killed mid-restore: the restart follows the same agent job to its end (no second request)', async () => {
    const { memory, f: fx } = await world(() => ({ ticks: 40 }));
    const point = await backedUp(fx, 'db-1');
    const r = await restore(fx, await fx.login('alice'), point.id, { mode: 'in-place' });
    await expect.poll(async () => (await settled(fx, r.body.id)).disks[0].agentJobId, { timeout: 5000 }).toBeTruthy();
    await fx.restart({ kill: true });
    const done = await fx.cp.restores.settled(r.body.id);
    expect(done.status, done.error ?? '').toBe('succeeded');
    // one request: the restarted control plane followed the agent job it had recorded
    expect(memory.otherRequests.map((x) => (x.req as AgentRestoreRequest).disk)).toEqual(['vda']);
    expect(memory.volumes.size).toBe(1);
  });
});

describe('in-place restores are exclusive per VM (issue 12 item 2)', () => {
  it('refused (409) while CloudStack lists VM snapshots of the VM, naming what would be lost; force: true restores', async () => {
    const { f: fx } = await world();
    const point = await backedUp(fx, 'db-1');
    const alice = await fx.login('alice');
    fx.sim.state.vmSnapshots.push({
      id: crypto.randomUUID(), name: 'i-3-12-VM_VS_1', displayName: 'before-upgrade', description: '', vmId: fx.vmId('db-1'),
      type: 'Disk', state: 'Ready', current: true, created: '2026-12-01T10:00:00+0000',
    });
    const refused = await restore(fx, alice, point.id, { mode: 'in-place' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toMatch(/db-1 has 1 VM snapshot\(s\) in CloudStack: before-upgrade \(2026-12-01T10:00:00\+0000\)\. They live inside its qcow2 volumes.*would be lost.*force: true/);
    expect(await fx.store.restores.list({ vmId: fx.vmId('db-1') })).toEqual([]);
    const forced = await restore(fx, alice, point.id, { mode: 'in-place', force: true });
    expect(forced.status, JSON.stringify(forced.body)).toBe(202);
    expect((await fx.cp.restores.settled(forced.body.id)).status).toBe('succeeded');
    expect((await restore(fx, alice, point.id, { mode: 'new-volume', force: true })).status).toBe(400);
  });

  it('a second in-place restore or a backup of the VM while one runs, or one while a backup of the VM is running: 409 naming the other', async () => {
    const { f: fx } = await world(() => ({ ticks: 1000 }));
    const point = await backedUp(fx, 'db-1');
    const alice = await fx.login('alice');
    const first = await restore(fx, alice, point.id, { mode: 'in-place', disks: ['vda'] });
    expect(first.status).toBe(202);
    const [second, third] = await Promise.all([restore(fx, alice, point.id, { mode: 'in-place' }), restore(fx, alice, point.id, { mode: 'in-place' })]);
    for (const r of [second, third]) {
      expect(r.status).toBe(409);
      expect(r.body.error.message).toMatch(new RegExp(`in-place restore ${first.body.id} of VM .* is already (queued|running)`));
    }
    // nor a backup of the VM meanwhile (API and scheduler go through the same enqueue)
    const backup = await fx.req('POST', `/api/v1/vms/${fx.vmId('db-1')}/backups`, { token: alice, body: {} });
    expect(backup.status).toBe(409);
    expect(((await backup.json()) as any).error.message).toMatch(new RegExp(`a backup of VM .* must wait: in-place restore ${first.body.id} of the VM is (queued|running)`));
    // nor maintenance of it
    await expect(fx.cp.maintenance.prune(fx.vmId('db-1'), { trigger: 'manual', requestedBy: 'alice' })).rejects.toThrow(/a prune of VM .* must wait: in-place restore/);
    await expect(fx.cp.maintenance.verify(point.id, { trigger: 'manual', requestedBy: 'alice' })).rejects.toThrow(/a verification of VM .* must wait: in-place restore/);
    // a restore as a new volume touches no VM volume: it is not refused
    expect((await restore(fx, alice, point.id, { mode: 'new-volume', disks: ['vda'] })).status).toBe(202);
    await fx.req('POST', `/api/v1/restores/${first.body.id}/cancel`, { token: alice });
    await fx.cp.restores.settled(first.body.id);

    // a backup of the VM still running (its record says so, as a running agent job's does)
    const [job] = await fx.store.jobs.list({ vmId: fx.vmId('db-1') });
    await fx.store.jobs.update(job.id, { status: 'running' });
    const during = await restore(fx, alice, point.id, { mode: 'in-place' });
    expect(during.status).toBe(409);
    expect(during.body.error.message).toMatch(new RegExp(`backup ${job.id} of VM .* is running: an in-place restore waits until it has finished`));
    await fx.store.jobs.update(job.id, { status: 'succeeded' });
    expect((await restore(fx, alice, point.id, { mode: 'in-place' })).status).toBe(202);
  });
});
