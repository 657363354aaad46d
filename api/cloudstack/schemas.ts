/**
 * @layer logic
 * zod schemas for the CloudStack responses Sendense reads: the trust boundary between
 * CloudStack's JSON and typed code. Objects are loose (unknown fields pass through: CloudStack
 * adds fields every release); only the fields Sendense relies on are declared. Fields that only
 * a root admin receives (instancename, hostid, hostname, volume path, storageid) are optional:
 * code that needs them checks and says which key is missing.
 */
import { z } from 'zod';

/** CloudStack sends some numbers as strings (login's `type`, `timeout`): accept both. */
const num = z.union([z.number(), z.string().regex(/^-?\d+$/).transform(Number)]);

export const ZoneSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  networktype: z.string().optional(),
  allocationstate: z.string().optional(),
});
export type Zone = z.infer<typeof ZoneSchema>;

export const HostSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  type: z.string().optional(),
  state: z.string().optional(),
  resourcestate: z.string().optional(),
  ipaddress: z.string().optional(),
  zoneid: z.string().optional(),
  clusterid: z.string().optional(),
  hypervisor: z.string().optional(),
  hypervisorversion: z.string().optional(),
});
export type Host = z.infer<typeof HostSchema>;

export const StoragePoolSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  /** NetworkFilesystem, Filesystem, SharedMountPoint, RBD, CLVM, … */
  type: z.string(),
  path: z.string().optional(),
  ipaddress: z.string().optional(),
  scope: z.string().optional(),
  state: z.string().optional(),
  zoneid: z.string().optional(),
  clusterid: z.string().optional(),
});
export type StoragePool = z.infer<typeof StoragePoolSchema>;

export const VirtualMachineSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  displayname: z.string().optional(),
  state: z.string(),
  zoneid: z.string().optional(),
  zonename: z.string().optional(),
  account: z.string().optional(),
  domainid: z.string().optional(),
  hypervisor: z.string().optional(),
  templatename: z.string().optional(),
  serviceofferingname: z.string().optional(),
  /** root admin only: the libvirt domain name (i-<account>-<vm>-VM) */
  instancename: z.string().optional(),
  /** root admin only; absent while the VM is stopped */
  hostid: z.string().optional(),
  hostname: z.string().optional(),
});
export type VirtualMachine = z.infer<typeof VirtualMachineSchema>;

export const VolumeSchema = z.looseObject({
  id: z.string(),
  name: z.string(),
  /** ROOT or DATADISK */
  type: z.string(),
  state: z.string().optional(),
  deviceid: num.optional(),
  size: num.optional(),
  virtualmachineid: z.string().optional(),
  zoneid: z.string().optional(),
  storagetype: z.string().optional(),
  account: z.string().optional(),
  domainid: z.string().optional(),
  /** root admin only: the file (or RBD image) name inside the pool */
  path: z.string().optional(),
  /** root admin only */
  storageid: z.string().optional(),
  storage: z.string().optional(),
});
export type Volume = z.infer<typeof VolumeSchema>;

export const VmSnapshotSchema = z.looseObject({
  id: z.string(),
  name: z.string().optional(),
  displayname: z.string().optional(),
  state: z.string().optional(),
  /** Disk or DiskAndMemory */
  type: z.string().optional(),
  current: z.boolean().optional(),
  virtualmachineid: z.string().optional(),
  created: z.string().optional(),
});
export type VmSnapshot = z.infer<typeof VmSnapshotSchema>;

export const VolumeSnapshotSchema = z.looseObject({
  id: z.string(),
  name: z.string().optional(),
  volumeid: z.string().optional(),
  state: z.string().optional(),
  snapshottype: z.string().optional(),
  created: z.string().optional(),
});
export type VolumeSnapshot = z.infer<typeof VolumeSnapshotSchema>;

export const UserSchema = z.looseObject({
  id: z.string(),
  username: z.string(),
  account: z.string().optional(),
  accountid: z.string().optional(),
  accounttype: num.optional(),
  domainid: z.string().optional(),
  domain: z.string().optional(),
  /** Admin, ResourceAdmin, DomainAdmin, User */
  roletype: z.string().optional(),
  state: z.string().optional(),
  apikey: z.string().optional(),
});
export type User = z.infer<typeof UserSchema>;

export const UserKeysSchema = z.looseObject({
  apikey: z.string(),
  secretkey: z.string(),
});
export type UserKeys = z.infer<typeof UserKeysSchema>;

export const LoginSchema = z.looseObject({
  sessionkey: z.string(),
  userid: z.string(),
  username: z.string().optional(),
  account: z.string().optional(),
  domainid: z.string().optional(),
  /** account type: 0 user, 1 root admin, 2 domain admin */
  type: num.optional(),
  timeout: num.optional(),
});
export type Login = z.infer<typeof LoginSchema>;

export const CapabilitiesSchema = z.looseObject({
  cloudstackversion: z.string().optional(),
  kvmsnapshotenabled: z.boolean().optional(),
});
export type Capabilities = z.infer<typeof CapabilitiesSchema>;

export const UploadParamsSchema = z.looseObject({
  id: z.string(),
  postURL: z.string(),
  metadata: z.string(),
  expires: z.string(),
  signature: z.string(),
});
export type UploadParams = z.infer<typeof UploadParamsSchema>;

export const AsyncJobSchema = z.looseObject({
  jobid: z.string().optional(),
  /** 0 pending, 1 succeeded, 2 failed */
  jobstatus: num,
  jobresultcode: num.optional(),
  jobresult: z.unknown().optional(),
  jobinstancetype: z.string().optional(),
  jobinstanceid: z.string().optional(),
});
export type AsyncJob = z.infer<typeof AsyncJobSchema>;

/** What an async command answers at once: the job id, plus the new object's id for create commands. */
export const AsyncStartSchema = z.looseObject({ jobid: z.string(), id: z.string().optional() });
