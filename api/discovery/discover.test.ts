/**
 * Discovery from the CloudStack simulator into a real SQLite file: VMs, hosts, agents and disk
 * paths; renames, migrations, state changes and removals followed and audited.
 */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { makeFixture, type Fixture } from '../testing/fixture.ts';

let f: Fixture | undefined;
afterEach(async () => { await f?.close(); f = undefined; });

describe('discovery', () => {
  it('stores every KVM VM with its host, instance name, owner and disk paths; hosts get an agent row', async () => {
    f = await makeFixture();
    const report = f.cp.discovery.last!;
    expect(report).toMatchObject({ hosts: 1, vms: 5, disks: 6 });
    expect(report.changes.filter((c) => c.kind === 'added')).toHaveLength(5);
    const web = await f.store.vms.get(f.vmId('web-1'));
    const sim = f.sim.state.vms.find((v) => v.name === 'web-1')!;
    expect(web).toMatchObject({ name: 'web-1', instanceName: sim.instanceName, state: 'Running', hostName: 'kvm1', account: 'alice', zoneName: 'zone1' });
    expect(web?.domainPath).toBe('ROOT/customers');
    const pool = f.sim.state.storagePools[0];
    const disks = await f.store.vms.disks(web!.id);
    const vols = f.sim.state.volumes.filter((v) => v.vmId === sim.id);
    expect(disks.map((d) => d.path)).toEqual(vols.map((v) => `/mnt/${pool.id}/${v.path}`));
    expect(disks.map((d) => [d.deviceId, d.type, d.format])).toEqual([[0, 'ROOT', 'qcow2'], [1, 'DATADISK', 'qcow2']]);
    const db1 = await f.store.vms.get(f.vmId('db-1'));
    expect(db1).toMatchObject({ state: 'Stopped', hostId: null });
    expect((await f.store.agents.list()).map((a) => [a.hostname, a.hostIp, a.status])).toEqual([['kvm1', '127.0.0.1', 'inactive']]);
  });

  it('follows renames, migrations, state changes and removals; a removed VM keeps its row', async () => {
    f = await makeFixture();
    const s = f.sim.state;
    const host2 = { ...s.hosts[0], id: randomUUID(), name: 'kvm2', ip: '127.0.0.2' };
    s.hosts.push(host2);
    const web = s.vms.find((v) => v.name === 'web-1')!;
    web.name = 'web-renamed';
    web.hostId = host2.id;
    const infra = s.vms.find((v) => v.name === 'infra-1')!;
    infra.state = 'Stopped';
    infra.hostId = undefined;
    const carol = s.vms.findIndex((v) => v.name === 'carol-1');
    const carolId = s.vms[carol].id;
    s.volumes = s.volumes.filter((v) => v.vmId !== carolId);
    s.vms.splice(carol, 1);

    const r = await f.cp.discovery.refresh();
    const kinds = r.changes.map((c) => `${c.kind}:${c.name}`).sort();
    expect(kinds).toEqual(['migrated:web-renamed', 'removed:carol-1', 'renamed:web-renamed', 'state:infra-1'].sort());
    expect(r.changes.find((c) => c.kind === 'migrated')).toMatchObject({ from: s.hosts[0].id, to: host2.id });
    expect(await f.store.vms.get(web.id)).toMatchObject({ name: 'web-renamed', hostId: host2.id, hostName: 'kvm2' });
    expect(await f.store.vms.get(infra.id)).toMatchObject({ state: 'Stopped', hostId: null });
    expect((await f.store.vms.get(carolId))?.removedAt).toBeInstanceOf(Date);
    expect(await f.store.vms.count()).toBe(4);
    expect((await f.store.agents.list()).map((a) => a.hostname).sort()).toEqual(['kvm1', 'kvm2']);
    const audit = await f.store.audit.list({ limit: 10 });
    expect(audit.filter((a) => a.actor === 'system:discovery').map((a) => a.action).sort())
      .toEqual(expect.arrayContaining(['vm.migrated', 'vm.removed', 'vm.renamed', 'discovery.sync']));

    // on demand through the API (root admin only), and the VM comes back
    s.vms.push({ ...web, id: carolId, name: 'carol-1', accountId: s.accounts.find((a) => a.name === 'carol')!.id, internalId: 99, instanceName: 'i-9-99-VM' });
    const admin = await f.login('admin');
    const res = await f.req('POST', '/api/v1/discovery', { token: admin });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { changes: { kind: string; name: string }[] };
    expect(body.changes).toEqual([expect.objectContaining({ kind: 'added', name: 'carol-1' })]);
    expect((await f.store.vms.get(carolId))?.removedAt).toBeNull();
    expect((await f.req('POST', '/api/v1/discovery', { token: await f.login('dadmin', '/customers/') })).status).toBe(403);
  });

  it('a backup follows the VM to its new host', async () => {
    f = await makeFixture();
    const s = f.sim.state;
    const host2 = { ...s.hosts[0], id: randomUUID(), name: 'kvm2', ip: '127.0.0.2' };
    s.hosts.push(host2);
    s.vms.find((v) => v.name === 'web-1')!.hostId = host2.id;
    // discovery has not run: the cached host is stale, the runner asks CloudStack at dispatch
    const job = await f.cp.runner.enqueue({ vmId: f.vmId('web-1'), trigger: 'manual' });
    expect(job.kvmHostId).toBe(s.hosts[0].id);
    const end = await f.cp.runner.settled(job.id);
    expect(end).toMatchObject({ status: 'succeeded', kvmHostId: host2.id });
    expect(f.memory!.requests.at(-1)?.hostId).toBe(host2.id);
  });

  it('CloudStack refusing the keys: discovery fails, health says degraded, the stored VMs stay', async () => {
    f = await makeFixture();
    // the admin's secret key was rotated in CloudStack: Sendense's signatures no longer verify
    f.sim.state.users.find((u) => u.username === 'admin')!.secretKey = 'rotated';
    await expect(f.cp.discovery.refresh()).rejects.toThrow(/unable to verify/);
    const h = await f.req('GET', '/healthz');
    expect(h.status).toBe(503);
    expect(await h.json()).toEqual({ status: 'degraded', instance: f.cp.instanceId });
    expect(f.cp.discovery.lastError?.message).toMatch(/unable to verify/); // the reason: GET /api/v1/health (root admins)
    expect(await f.store.vms.count()).toBe(5);
  });
});
