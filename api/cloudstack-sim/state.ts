/**
 * @layer logic
 * The simulator's world, as a JSON state file (validated with zod): zones, KVM hosts, storage
 * pools, domains, accounts, users (with password and API keys), service offerings, templates,
 * VMs and volumes, plus the VM and volume snapshots the API creates.
 *
 * A VM may be mapped onto a real lab libvirt domain (`libvirtDomain`, and `domainXmlPath` for a
 * transient domain started with `virsh create`); its instancename is then the domain's name, and
 * its volumes can live in a `Filesystem` pool whose `path` is the directory of the real disk files,
 * so `<pool path>/<volume path>` is the real file (see addMappedVm).
 *
 * Ids are CloudStack-style UUIDs; `internalId` is the numeric id CloudStack uses in names such as
 * `i-<account internal id>-<vm internal id>-VM`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { z } from 'zod';

const Id = z.string().min(1);
const date = z.string().optional();

export const ZoneStateSchema = z.object({ id: Id, name: z.string(), networktype: z.string().default('Advanced') });

export const HostStateSchema = z.object({
  id: Id, name: z.string(), ip: z.string(), zoneId: Id,
  podId: Id.default('6d0a2e4c-0000-4000-8000-000000000001'),
  clusterId: Id.default('6d0a2e4c-0000-4000-8000-000000000002'),
  state: z.string().default('Up'),
  resourceState: z.string().default('Enabled'),
  hypervisorVersion: z.string().default('7.2.0'),
});

export const PoolType = z.enum(['NetworkFilesystem', 'Filesystem', 'SharedMountPoint', 'RBD', 'CLVM']);
export const StoragePoolStateSchema = z.object({
  id: Id, name: z.string(), type: PoolType, path: z.string(),
  ipaddress: z.string().default('127.0.0.1'),
  zoneId: Id, clusterId: Id.optional(),
  scope: z.enum(['CLUSTER', 'ZONE', 'HOST']).default('CLUSTER'),
  capacityBytes: z.number().default(2 ** 40),
});

export const DomainStateSchema = z.object({ id: Id, name: z.string(), parentId: Id.optional(), state: z.enum(['Active', 'Inactive']).default('Active') });

/** account type: 0 user, 1 root admin, 2 domain admin */
export const AccountStateSchema = z.object({
  id: Id, name: z.string(), domainId: Id, type: z.union([z.literal(0), z.literal(1), z.literal(2)]),
  internalId: z.number().int().positive().optional(),
  state: z.enum(['enabled', 'disabled', 'locked']).default('enabled'),
});

export const UserStateSchema = z.object({
  id: Id, username: z.string(), accountId: Id, password: z.string(),
  apiKey: z.string().optional(), secretKey: z.string().optional(),
  firstname: z.string().default(''), lastname: z.string().default(''), email: z.string().default(''),
  state: z.enum(['enabled', 'disabled', 'locked']).default('enabled'),
  created: date,
  /**
   * two-factor authentication: `totp` (key: Base32, as an authenticator app holds it) or
   * `staticpin` (key: the PIN); login then answers is2faenabled=true, is2faverified=false
   */
  twoFactor: z.object({ provider: z.enum(['totp', 'staticpin']), key: z.string().min(1) }).optional(),
});

/** createGuiTheme: a theme for host names (commonNames), domains or accounts; jsonconfiguration may add plugins */
export const GuiThemeStateSchema = z.object({
  id: Id, name: z.string(), description: z.string().default(''), css: z.string().optional(),
  jsonConfiguration: z.string().optional(),
  commonNames: z.array(z.string()).default([]), domainIds: z.array(Id).default([]), accountIds: z.array(Id).default([]),
  isPublic: z.boolean().default(true), created: date,
});

export const ServiceOfferingStateSchema = z.object({
  id: Id, name: z.string(), cpuNumber: z.number().int().default(1), cpuSpeed: z.number().int().default(1000), memory: z.number().int().default(512),
});

export const TemplateStateSchema = z.object({ id: Id, name: z.string(), osTypeName: z.string().default('Other Linux (64-bit)') });

export const VmStateSchema = z.object({
  id: Id, name: z.string(), displayName: z.string().optional(), accountId: Id, zoneId: Id,
  hostId: Id.optional(), lastHostId: Id.optional(),
  state: z.enum(['Running', 'Stopped', 'Starting', 'Stopping', 'Error']).default('Stopped'),
  serviceOfferingId: Id, templateId: Id,
  internalId: z.number().int().positive().optional(),
  instanceName: z.string().optional(),
  /** a real libvirt domain the VM stands for: start/stop act on it */
  libvirtDomain: z.string().optional(),
  /** XML of a transient domain: start = `virsh create FILE` */
  domainXmlPath: z.string().optional(),
  created: date,
});

export const VolumeStateSchema = z.object({
  id: Id, name: z.string(), type: z.enum(['ROOT', 'DATADISK']).default('DATADISK'),
  vmId: Id.optional(), deviceId: z.number().int().min(0).optional(),
  size: z.number().default(0), physicalSize: z.number().optional(),
  poolId: Id.optional(), path: z.string().optional(),
  state: z.string().default('Ready'),
  /** upload progress or error text (volume `status`) */
  status: z.string().optional(),
  accountId: Id, zoneId: Id,
  format: z.string().default('QCOW2'),
  created: date,
});

export const VmSnapshotStateSchema = z.object({
  id: Id, name: z.string(), displayName: z.string(), description: z.string().default(''),
  vmId: Id, type: z.enum(['Disk', 'DiskAndMemory']), state: z.string().default('Ready'),
  current: z.boolean().default(true), parentId: Id.optional(), created: z.string(),
});

export const SnapshotStateSchema = z.object({
  id: Id, name: z.string(), volumeId: Id, state: z.string().default('BackedUp'), created: z.string(),
});

export const SimSettingsSchema = z.object({
  cloudstackVersion: z.string().default('4.22.0.0'),
  /** default.page.size */
  defaultPageSize: z.number().int().positive().default(500),
  sessionTimeoutSec: z.number().int().positive().default(1800),
  /** enforce.post.requests.and.timestamps: v3 only, expires at most 15 min ahead */
  enforcePostRequestsAndTimestamps: z.boolean().default(false),
  /** minutes an upload URL of getUploadParamsForVolume stays valid */
  uploadTimeoutMin: z.number().int().positive().default(60),
});

export const SimStateSchema = z.object({
  settings: SimSettingsSchema.default(SimSettingsSchema.parse({})),
  zones: z.array(ZoneStateSchema),
  hosts: z.array(HostStateSchema).default([]),
  storagePools: z.array(StoragePoolStateSchema).default([]),
  domains: z.array(DomainStateSchema),
  accounts: z.array(AccountStateSchema),
  users: z.array(UserStateSchema),
  serviceOfferings: z.array(ServiceOfferingStateSchema).default([]),
  templates: z.array(TemplateStateSchema).default([]),
  vms: z.array(VmStateSchema).default([]),
  volumes: z.array(VolumeStateSchema).default([]),
  vmSnapshots: z.array(VmSnapshotStateSchema).default([]),
  snapshots: z.array(SnapshotStateSchema).default([]),
  guiThemes: z.array(GuiThemeStateSchema).default([]),
});

export type SimState = z.infer<typeof SimStateSchema>;
export type SimStateInput = z.input<typeof SimStateSchema>;
export type ZoneState = z.infer<typeof ZoneStateSchema>;
export type HostState = z.infer<typeof HostStateSchema>;
export type StoragePoolState = z.infer<typeof StoragePoolStateSchema>;
export type DomainState = z.infer<typeof DomainStateSchema>;
export type AccountState = z.infer<typeof AccountStateSchema>;
export type UserState = z.infer<typeof UserStateSchema>;
export type VmState = z.infer<typeof VmStateSchema>;
export type VolumeState = z.infer<typeof VolumeStateSchema>;
export type VmSnapshotState = z.infer<typeof VmSnapshotStateSchema>;
export type SnapshotState = z.infer<typeof SnapshotStateSchema>;
export type GuiThemeState = z.infer<typeof GuiThemeStateSchema>;

export class SimStateError extends Error {
  override name = 'SimStateError';
}

/** Validates a state (parsed JSON) and its references; fills defaults and internal ids. */
export function parseSimState(input: unknown): SimState {
  const r = SimStateSchema.safeParse(input);
  if (!r.success) throw new SimStateError(`[cloudstack-sim] invalid state: ${z.prettifyError(r.error).replace(/\n/g, '; ')}`);
  const s = r.data;
  const ids = (xs: { id: string }[]) => new Set(xs.map((x) => x.id));
  const problems: string[] = [];
  const ref = (what: string, id: string | undefined, set: Set<string>) => { if (id !== undefined && !set.has(id)) problems.push(`${what} refers to unknown id ${id}`); };
  const zones = ids(s.zones); const domains = ids(s.domains); const accounts = ids(s.accounts);
  const hosts = ids(s.hosts); const pools = ids(s.storagePools); const vms = ids(s.vms);
  const offerings = ids(s.serviceOfferings); const templates = ids(s.templates);
  const all = [s.zones, s.hosts, s.storagePools, s.domains, s.accounts, s.users, s.serviceOfferings, s.templates, s.vms, s.volumes, s.vmSnapshots, s.snapshots, s.guiThemes].flat();
  const seen = new Set<string>();
  for (const x of all) { if (seen.has(x.id)) problems.push(`duplicate id ${x.id}`); seen.add(x.id); }
  if (s.domains.filter((d) => !d.parentId).length !== 1) problems.push('exactly one domain (ROOT) must have no parentId');
  for (const d of s.domains) ref(`domain ${d.id}`, d.parentId, domains);
  for (const h of s.hosts) ref(`host ${h.id}`, h.zoneId, zones);
  for (const p of s.storagePools) ref(`pool ${p.id}`, p.zoneId, zones);
  for (const a of s.accounts) ref(`account ${a.id}`, a.domainId, domains);
  for (const u of s.users) ref(`user ${u.id}`, u.accountId, accounts);
  const keys = new Set<string>();
  for (const u of s.users) if (u.apiKey) { if (keys.has(u.apiKey)) problems.push(`api key of user ${u.id} is not unique`); keys.add(u.apiKey); }
  for (const v of s.vms) {
    ref(`vm ${v.id}`, v.accountId, accounts); ref(`vm ${v.id}`, v.zoneId, zones); ref(`vm ${v.id}`, v.hostId, hosts);
    ref(`vm ${v.id}`, v.serviceOfferingId, offerings); ref(`vm ${v.id}`, v.templateId, templates);
    if (v.state === 'Running' && !v.hostId) problems.push(`vm ${v.id} is Running without hostId`);
  }
  for (const v of s.volumes) { ref(`volume ${v.id}`, v.vmId, vms); ref(`volume ${v.id}`, v.poolId, pools); ref(`volume ${v.id}`, v.accountId, accounts); }
  if (problems.length) throw new SimStateError(`[cloudstack-sim] invalid state: ${problems.join('; ')}`);

  let next = 2;
  for (const a of s.accounts) a.internalId ??= next++;
  next = 1;
  for (const v of s.vms) next = Math.max(next, (v.internalId ?? 0) + 1);
  for (const v of s.vms) v.internalId ??= next++;
  for (const v of s.vms) {
    const acct = s.accounts.find((a) => a.id === v.accountId)!;
    v.instanceName ??= v.libvirtDomain ?? `i-${acct.internalId}-${v.internalId}-VM`;
  }
  return s;
}

/** A CloudStack-like API or secret key: 64 random bytes, base64url (86 characters). */
export function newKey(): string {
  return randomBytes(64).toString('base64url');
}

const ROOT_DOMAIN = 'a5e1c0de-0000-4000-8000-000000000001';

/**
 * The default world: zone "zone1", KVM host "kvm1" at 127.0.0.1, an NFS pool, the ROOT domain
 * with root admin "admin", a "customers" domain with domain admin "dadmin" and user "alice",
 * two service offerings, a template, and three VMs (two of alice's, one of admin's), each with a
 * ROOT disk (and a DATADISK on the first). Keys are random on every call.
 */
export function defaultState(): SimState {
  const zone = randomUUID(); const host = randomUUID(); const pool = randomUUID();
  const customers = randomUUID();
  const admin = randomUUID(); const dadmin = randomUUID(); const alice = randomUUID();
  const small = randomUUID(); const medium = randomUUID(); const tmpl = randomUUID();
  const vm = (name: string, accountId: string, running: boolean) => ({
    id: randomUUID(), name, displayName: name, accountId, zoneId: zone, hostId: running ? host : undefined,
    state: running ? 'Running' as const : 'Stopped' as const, serviceOfferingId: small, templateId: tmpl,
  });
  const vms = [vm('web-1', alice, true), vm('db-1', alice, false), vm('infra-1', admin, true)];
  const volumes = vms.flatMap((v, i) => {
    const root = { id: randomUUID(), name: `ROOT-${i + 3}`, type: 'ROOT' as const, vmId: v.id, deviceId: 0, size: 8 * 2 ** 30, poolId: pool, path: randomUUID(), accountId: v.accountId, zoneId: zone };
    if (i !== 0) return [root];
    return [root, { id: randomUUID(), name: 'data-1', type: 'DATADISK' as const, vmId: v.id, deviceId: 1, size: 20 * 2 ** 30, poolId: pool, path: randomUUID(), accountId: v.accountId, zoneId: zone }];
  });
  return parseSimState({
    zones: [{ id: zone, name: 'zone1' }],
    hosts: [{ id: host, name: 'kvm1', ip: '127.0.0.1', zoneId: zone }],
    storagePools: [{ id: pool, name: 'nfs-primary', type: 'NetworkFilesystem', path: '/export/primary', ipaddress: '127.0.0.1', zoneId: zone }],
    domains: [{ id: ROOT_DOMAIN, name: 'ROOT' }, { id: customers, name: 'customers', parentId: ROOT_DOMAIN }],
    accounts: [
      { id: admin, name: 'admin', domainId: ROOT_DOMAIN, type: 1 },
      { id: dadmin, name: 'customers-admin', domainId: customers, type: 2 },
      { id: alice, name: 'alice', domainId: customers, type: 0 },
    ],
    users: [
      { id: randomUUID(), username: 'admin', accountId: admin, password: 'password', apiKey: newKey(), secretKey: newKey(), firstname: 'Admin', lastname: 'User' },
      { id: randomUUID(), username: 'dadmin', accountId: dadmin, password: 'password', apiKey: newKey(), secretKey: newKey(), firstname: 'Domain', lastname: 'Admin' },
      { id: randomUUID(), username: 'alice', accountId: alice, password: 'password', apiKey: newKey(), secretKey: newKey(), firstname: 'Alice', lastname: 'User' },
    ],
    serviceOfferings: [{ id: small, name: 'Small Instance', cpuNumber: 1, cpuSpeed: 1000, memory: 512 }, { id: medium, name: 'Medium Instance', cpuNumber: 2, cpuSpeed: 1000, memory: 2048 }],
    templates: [{ id: tmpl, name: 'Debian 12' }],
    vms,
    volumes,
  });
}

export interface MappedDisk {
  /** absolute path of the real disk file */
  file: string;
  size: number;
  format?: 'qcow2' | 'raw';
}

export interface MappedVmSpec {
  name: string;
  libvirtDomain: string;
  /** for a transient domain: the XML file `virsh create` starts */
  domainXmlPath?: string;
  disks: MappedDisk[];
  /** default: the first account of type 0 (a user), else the root admin */
  accountId?: string;
  /** default: the first host */
  hostId?: string;
  running: boolean;
}

/**
 * Adds a VM mapped onto a real libvirt domain; each disk becomes a volume in a cluster-wide
 * `SharedMountPoint` pool whose path is the disk's directory (one pool per directory), so
 * resolving the VM gives back the real files. Returns the new VM's id and its volumes' ids (device order).
 */
export function addMappedVm(state: SimState, spec: MappedVmSpec): { vmId: string; volumeIds: string[] } {
  const host = state.hosts.find((h) => h.id === (spec.hostId ?? state.hosts[0]?.id));
  if (!host) throw new SimStateError('[cloudstack-sim] addMappedVm: the state has no such host');
  const account = state.accounts.find((a) => a.id === spec.accountId) ?? state.accounts.find((a) => a.type === 0) ?? state.accounts[0];
  const offering = state.serviceOfferings[0]; const template = state.templates[0];
  if (!offering || !template) throw new SimStateError('[cloudstack-sim] addMappedVm: the state needs a service offering and a template');
  const vmId = randomUUID();
  const internalId = Math.max(0, ...state.vms.map((v) => v.internalId ?? 0)) + 1;
  state.vms.push(VmStateSchema.parse({
    id: vmId, name: spec.name, displayName: spec.name, accountId: account.id, zoneId: host.zoneId,
    hostId: spec.running ? host.id : undefined, lastHostId: host.id, state: spec.running ? 'Running' : 'Stopped',
    serviceOfferingId: offering.id, templateId: template.id, internalId,
    instanceName: spec.libvirtDomain, libvirtDomain: spec.libvirtDomain, domainXmlPath: spec.domainXmlPath,
  }));
  const volumeIds = spec.disks.map((d, i) => {
    const slash = d.file.lastIndexOf('/');
    const dir = d.file.slice(0, slash) || '/';
    let pool = state.storagePools.find((p) => p.type === 'SharedMountPoint' && p.path === dir);
    if (!pool) {
      pool = StoragePoolStateSchema.parse({ id: randomUUID(), name: `lab-${state.storagePools.length + 1}`, type: 'SharedMountPoint', path: dir, ipaddress: host.ip, zoneId: host.zoneId, clusterId: host.clusterId, scope: 'CLUSTER' });
      state.storagePools.push(pool);
    }
    const id = randomUUID();
    state.volumes.push(VolumeStateSchema.parse({
      id, name: i === 0 ? `ROOT-${internalId}` : `DATA-${internalId}-${i}`, type: i === 0 ? 'ROOT' : 'DATADISK', vmId, deviceId: i,
      size: d.size, poolId: pool.id, path: d.file.slice(slash + 1), accountId: account.id, zoneId: host.zoneId,
      format: (d.format ?? 'qcow2').toUpperCase(),
    }));
    return id;
  });
  return { vmId, volumeIds };
}
