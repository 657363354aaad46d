/**
 * @layer usecase
 * Discovery: reads CloudStack (root admin keys: instancename, hostid and volume paths are
 * admin-only) — KVM hosts, VMs, volumes and storage pools, four paged lists — and brings the
 * store in line: hosts and their agent rows, VMs (renames and migrations followed, removed ones
 * marked, never deleted: their points stay), and each VM's disks with their paths on the host.
 * A migrated VM's queued backups move to its new host (the per-host limit counts them there; the
 * dispatch places the job on the host CloudStack names then: api/jobs/place.ts).
 * Renames, migrations and removals go to the audit log one by one; the rest as one summary.
 *
 * `Discovery.refresh()` is single-flight: a call while a pass runs gets that pass's result.
 */
import type { CallOptions, CloudStackApi } from '../cloudstack/port.ts';
import type { Store } from '../../db/store.ts';
import { buildSnapshot, type VmChange } from './snapshot.ts';

export type DiscoveryApi = Pick<CloudStackApi, 'listVirtualMachines' | 'listVolumes' | 'listStoragePools' | 'listKvmHosts'>;

export interface DiscoveryDeps {
  cs: DiscoveryApi;
  store: Store;
  clock?: () => Date;
}

export interface DiscoveryReport {
  at: string;
  durationMs: number;
  hosts: number;
  vms: number;
  disks: number;
  changes: VmChange[];
}

const AUDIT_ONE_BY_ONE: VmChange['kind'][] = ['renamed', 'migrated', 'removed'];

export async function discover(deps: DiscoveryDeps, opts: CallOptions = {}): Promise<DiscoveryReport> {
  const clock = deps.clock ?? (() => new Date());
  const t0 = clock();
  const [hosts, vms, volumes, pools] = await Promise.all([
    deps.cs.listKvmHosts({}, opts),
    deps.cs.listVirtualMachines({}, opts),
    deps.cs.listVolumes({}, opts),
    deps.cs.listStoragePools({}, opts),
  ]);
  const { store } = deps;
  const stored = await store.vms.all();
  const storedHosts = await store.hosts.list();
  const snap = buildSnapshot({ hosts, vms, volumes, pools }, stored, t0);

  await store.hosts.upsert(snap.hosts);
  const seenHosts = new Set(snap.hosts.map((h) => h.id));
  await store.hosts.markRemoved(storedHosts.filter((h) => !seenHosts.has(h.id)).map((h) => h.id), t0);
  for (const h of snap.hosts) if (h.ip) await store.agents.ensure({ hostId: h.id, hostIp: h.ip, hostname: h.name });
  await store.vms.upsert(snap.vms);
  await store.vms.markRemoved(snap.removedVmIds, t0);
  let diskCount = 0;
  for (const [vmId, disks] of snap.disks) {
    diskCount += disks.length;
    await store.vms.replaceDisks(vmId, disks, t0);
  }

  // a migrated VM's queued backups count against its new host from now on (placement asks CloudStack again at dispatch)
  for (const c of snap.changes.filter((x) => x.kind === 'migrated' && x.to)) {
    for (const j of await store.jobs.list({ vmId: c.id, status: ['queued'] })) await store.jobs.update(j.id, { kvmHostId: c.to!, updatedAt: t0 }, ['queued']);
  }

  const base = { at: t0, actor: 'system:discovery', via: 'system', outcome: 'ok' } as const;
  for (const c of snap.changes.filter((x) => AUDIT_ONE_BY_ONE.includes(x.kind))) {
    await store.audit.append({ ...base, action: `vm.${c.kind}`, targetType: 'vm', targetId: c.id, details: { name: c.name, from: c.from ?? null, to: c.to ?? null } });
  }
  const counts: Record<string, number> = {};
  for (const c of snap.changes) counts[c.kind] = (counts[c.kind] ?? 0) + 1;
  if (snap.changes.length) {
    await store.audit.append({ ...base, action: 'discovery.sync', targetType: 'cloudstack', targetId: null, details: { counts, added: snap.changes.filter((c) => c.kind === 'added').slice(0, 100).map((c) => c.id) } });
  }
  return {
    at: t0.toISOString(), durationMs: clock().getTime() - t0.getTime(),
    hosts: snap.hosts.length, vms: snap.vms.length, disks: diskCount, changes: snap.changes,
  };
}

/** Single-flight discovery with the time and outcome of the last pass (for /metrics and /healthz). */
export class Discovery {
  private inFlight?: Promise<DiscoveryReport>;
  last?: DiscoveryReport;
  lastError?: { at: string; message: string };

  constructor(private readonly deps: DiscoveryDeps) {}

  refresh(opts: CallOptions = {}): Promise<DiscoveryReport> {
    this.inFlight ??= discover(this.deps, opts).then(
      (r) => { this.last = r; this.lastError = undefined; return r; },
      (e: unknown) => { this.lastError = { at: new Date().toISOString(), message: e instanceof Error ? e.message : String(e) }; throw e; },
    ).finally(() => { this.inFlight = undefined; });
    return this.inFlight;
  }
}
