/**
 * Placement (pure): a running VM only on its own host's healthy agent ("host unavailable"
 * otherwise), a stopped VM on shared storage on the least busy healthy agent reaching its pools,
 * failing over when one agent is lost, never onto unshared storage.
 */
import { describe, expect, it } from 'vitest';
import { choosePlacement, type PlacementAgent, type PlacementHost, type PlacementPool } from './placement.ts';

const hosts: PlacementHost[] = [
  { id: 'h1', name: 'kvm1', zoneId: 'z1', clusterId: 'c1', state: 'Up', resourceState: 'Enabled' },
  { id: 'h2', name: 'kvm2', zoneId: 'z1', clusterId: 'c1', state: 'Up', resourceState: 'Enabled' },
  { id: 'h3', name: 'kvm3', zoneId: 'z1', clusterId: 'c2', state: 'Up', resourceState: 'Enabled' },
];
const at = new Date('2026-12-01T23:40:00.000Z');
const active = (hostId: string): PlacementAgent => ({ hostId, status: 'active', lastHeartbeatAt: at });
const nfs: PlacementPool = { id: 'p1', name: 'nfs-c1', type: 'NetworkFilesystem', scope: 'CLUSTER', clusterId: 'c1', zoneId: 'z1' };
const stopped = { id: 'vm', name: 'db-1', hostId: null };

describe('placement of a running VM', () => {
  it('goes to its own host when that agent is active, even when others are idler', () => {
    const p = choosePlacement({ vm: { id: 'vm', name: 'web-1', hostId: 'h1' }, pools: [nfs], hosts, agents: hosts.map((h) => active(h.id)), load: { h1: { running: 5, queued: 3 } } });
    expect(p).toMatchObject({ ok: true, hostId: 'h1', hostIsCurrent: true });
  });

  it('fails "host unavailable: <host> agent <state> since <time>" when its agent is down, never elsewhere', () => {
    const agents = [{ hostId: 'h1', status: 'inactive' as const, statusMessage: 'no link: connection refused', lastHeartbeatAt: at }, active('h2')];
    const p = choosePlacement({ vm: { id: 'vm', name: 'web-1', hostId: 'h1' }, pools: [nfs], hosts, agents });
    expect(p.ok).toBe(false);
    if (p.ok) return;
    expect(p.code).toBe('host_unavailable');
    expect(p.message).toMatch(/^host unavailable: kvm1 agent inactive since 2026-12-01T23:40:00\.000Z: no link: connection refused/);
  });

  it('an agent no heartbeat has checked yet is tried (no verdict: the gateway answers); one that never answered is down', () => {
    expect(choosePlacement({ vm: { id: 'vm', name: 'web-1', hostId: 'h1' }, pools: [], hosts, agents: [] })).toMatchObject({ ok: true, hostId: 'h1' });
    expect(choosePlacement({ vm: { id: 'vm', name: 'web-1', hostId: 'h1' }, pools: [], hosts, agents: [{ hostId: 'h1', status: 'inactive' }] })).toMatchObject({ ok: true, hostId: 'h1' });
    const never = choosePlacement({ vm: { id: 'vm', name: 'web-1', hostId: 'h1' }, pools: [], hosts, agents: [{ hostId: 'h1', status: 'error', statusMessage: 'protocol' }] });
    expect(!never.ok && never.message).toMatch(/kvm1 agent error since it was registered \(it never answered\): protocol/);
  });

  it('a migrated VM is placed on its new host', () => {
    const p = choosePlacement({ vm: { id: 'vm', name: 'web-1', hostId: 'h2' }, pools: [nfs], hosts, agents: hosts.map((h) => active(h.id)) });
    expect(p).toMatchObject({ ok: true, hostId: 'h2', hostIsCurrent: true });
  });
});

describe('placement of a stopped VM on shared storage', () => {
  it('picks the least busy healthy agent of the pool\'s cluster (jobs, then running, then name)', () => {
    const agents = hosts.map((h) => active(h.id));
    expect(choosePlacement({ vm: stopped, pools: [nfs], hosts, agents })).toMatchObject({ ok: true, hostId: 'h1', hostIsCurrent: false });
    expect(choosePlacement({ vm: stopped, pools: [nfs], hosts, agents, load: { h1: { running: 1, queued: 0 } } })).toMatchObject({ ok: true, hostId: 'h2' });
    expect(choosePlacement({ vm: stopped, pools: [nfs], hosts, agents, load: { h1: { running: 0, queued: 2 }, h2: { running: 1, queued: 0 } } })).toMatchObject({ ok: true, hostId: 'h2' });
    expect(choosePlacement({ vm: stopped, pools: [nfs], hosts, agents, load: { h1: { running: 1, queued: 1 }, h2: { running: 2, queued: 0 } } })).toMatchObject({ ok: true, hostId: 'h1' });
    // kvm3 is in another cluster: never chosen for a CLUSTER pool of c1, however idle
    expect(choosePlacement({ vm: stopped, pools: [nfs], hosts, agents, load: { h1: { running: 9, queued: 0 }, h2: { running: 9, queued: 0 } } })).toMatchObject({ ok: true, hostId: 'h1' });
  });

  it('a ZONE-wide pool is reached from every cluster of its zone', () => {
    const zone: PlacementPool = { id: 'p2', name: 'smp-zone', type: 'SharedMountPoint', scope: 'ZONE', zoneId: 'z1' };
    const p = choosePlacement({ vm: stopped, pools: [zone], hosts, agents: hosts.map((h) => active(h.id)), load: { h1: { running: 1, queued: 0 }, h2: { running: 1, queued: 0 } } });
    expect(p).toMatchObject({ ok: true, hostId: 'h3' });
  });

  it('fails over: a lost agent is skipped, the next healthy one takes the work', () => {
    const agents = [{ hostId: 'h1', status: 'inactive' as const, lastHeartbeatAt: at }, active('h2'), active('h3')];
    const p = choosePlacement({ vm: stopped, pools: [nfs], hosts, agents });
    expect(p).toMatchObject({ ok: true, hostId: 'h2' });
    expect(p.ok && p.reason).toMatch(/1 host\(s\) skipped/);
  });

  it('a healthy agent comes before one not checked yet, however busy', () => {
    const agents: PlacementAgent[] = [{ hostId: 'h1', status: 'inactive' }, active('h2')];
    expect(choosePlacement({ vm: stopped, pools: [nfs], hosts, agents, load: { h2: { running: 4, queued: 4 } } })).toMatchObject({ ok: true, hostId: 'h2' });
  });

  it('skips hosts CloudStack has down or in maintenance', () => {
    const hs = hosts.map((h) => (h.id === 'h1' ? { ...h, resourceState: 'Maintenance' } : h.id === 'h2' ? { ...h, state: 'Down' } : h));
    const p = choosePlacement({ vm: stopped, pools: [nfs], hosts: hs, agents: hosts.map((h) => active(h.id)) });
    expect(p).toMatchObject({ ok: false, code: 'host_unavailable' });
    expect(!p.ok && p.message).toMatch(/no Up, Enabled KVM host reaches its storage \(nfs-c1\)/);
  });

  it('every agent of the cluster down: host unavailable naming each one', () => {
    const agents: PlacementAgent[] = [{ hostId: 'h1', status: 'inactive', lastHeartbeatAt: at }, { hostId: 'h2', status: 'error', statusMessage: 'libvirt: no pull-mode backup', lastHeartbeatAt: at }, active('h3')];
    const p = choosePlacement({ vm: stopped, pools: [nfs], hosts, agents });
    expect(p.ok).toBe(false);
    expect(!p.ok && p.message).toBe('host unavailable: no healthy agent reaches the storage of stopped VM db-1: kvm1 agent inactive since 2026-12-01T23:40:00.000Z; kvm2 agent error since 2026-12-01T23:40:00.000Z: libvirt: no pull-mode backup');
  });

  it('a disk on every pool must be reached: two clusters\' pools have no common host', () => {
    const other: PlacementPool = { ...nfs, id: 'p3', name: 'nfs-c2', clusterId: 'c2' };
    expect(choosePlacement({ vm: stopped, pools: [nfs, other], hosts, agents: hosts.map((h) => active(h.id)) })).toMatchObject({ ok: false, code: 'host_unavailable' });
  });

  it('local or unshared storage is not placeable, saying what to do', () => {
    for (const pool of [{ ...nfs, type: 'Filesystem' }, { ...nfs, scope: 'HOST' }, { ...nfs, type: 'RBD' }]) {
      const p = choosePlacement({ vm: stopped, pools: [pool], hosts, agents: hosts.map((h) => active(h.id)) });
      expect(p).toMatchObject({ ok: false, code: 'not_placeable' });
      expect(!p.ok && p.message).toMatch(/start the VM, or keep its volumes on NFS or SharedMountPoint storage/);
    }
    expect(choosePlacement({ vm: stopped, pools: [], hosts, agents: [] })).toMatchObject({ ok: false, code: 'not_placeable' });
  });
});
