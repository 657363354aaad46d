/**
 * @layer port
 * The CloudStack side of Sendense, as ports:
 *
 * - `HttpFetch`: how the client reaches an endpoint. A subset of `fetch` so that `globalThis.fetch`,
 *   the node:https adapter (custom CA, insecure mode) and the simulator's in-memory `app.fetch`
 *   all fit. Contract: resolves with the response (any status) or rejects on a network failure;
 *   rejects with the signal's reason when `signal` aborts; a ReadableStream body is sent as it is
 *   read (for multi-GiB uploads), with the `content-length` header the caller sets.
 *
 * - `CloudStackApi`: the typed operations the control plane calls, implemented by
 *   `CloudStackClient` (client.ts). Use cases take this interface, never the client class.
 *   Every method takes an AbortSignal; list methods return every page; async commands resolve
 *   when their job has succeeded and reject with a CloudStackError (kind 'job') when it failed.
 */
import type {
  Capabilities, Host, StoragePool, UploadParams, User, UserKeys, VirtualMachine, VmSnapshot, Volume, VolumeSnapshot, Zone,
} from './schemas.ts';

export interface HttpRequestInit {
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Uint8Array | ReadableStream<Uint8Array>;
  signal?: AbortSignal;
}

export type HttpFetch = (url: string, init: HttpRequestInit) => Promise<Response>;

/** `globalThis.fetch` as an HttpFetch (stream bodies need `duplex: 'half'`). */
export const globalFetch: HttpFetch = (url, init) =>
  fetch(url, { ...init, duplex: 'half' } as RequestInit & { duplex: 'half' });

/** Parameter values as callers give them; undefined values are left out, booleans become "true"/"false". */
export type ParamValue = string | number | boolean | undefined;
export type ParamsInput = Record<string, ParamValue>;

export interface CallOptions {
  signal?: AbortSignal;
}

export interface JobProgress {
  jobId: string;
  command: string;
  polls: number;
  elapsedMs: number;
}

export interface JobOptions extends CallOptions {
  /** how long to wait for the job (default: the client's job timeout) */
  timeoutMs?: number;
  onProgress?: (p: JobProgress) => void;
}

/** What a restore uploads to the postURL of getUploadParamsForVolume. */
export interface UploadImage {
  /** the bytes, or a stream of them */
  data: Uint8Array | ReadableStream<Uint8Array>;
  /** byte count; required for a stream (the SSVM rejects a request without content-length) */
  size?: number;
  /** file name sent in the multipart part (its extension names the format to the SSVM) */
  filename: string;
}

export interface CloudStackApi {
  /** One command, unwrapped from `{"<command>response": …}`; no job wait, no paging. */
  call(command: string, params?: ParamsInput, opts?: CallOptions & { method?: 'GET' | 'POST' }): Promise<Record<string, unknown>>;
  /** Every page of a list command (pagesize ≤ 500, until `count`). */
  listAll(command: string, params?: ParamsInput, opts?: CallOptions): Promise<Record<string, unknown>[]>;
  /** Starts an async command and waits for its job; resolves with `jobresult`. */
  callAsync(command: string, params?: ParamsInput, opts?: JobOptions): Promise<Record<string, unknown>>;
  waitForJob(jobId: string, opts?: JobOptions & { command?: string }): Promise<Record<string, unknown>>;

  listZones(filter?: ParamsInput, opts?: CallOptions): Promise<Zone[]>;
  /** listHosts type=Routing hypervisor=KVM */
  listKvmHosts(filter?: ParamsInput, opts?: CallOptions): Promise<Host[]>;
  getHost(id: string, opts?: CallOptions): Promise<Host>;
  listStoragePools(filter?: ParamsInput, opts?: CallOptions): Promise<StoragePool[]>;
  getStoragePool(id: string, opts?: CallOptions): Promise<StoragePool>;

  /** listall=true unless the filter says otherwise */
  listVirtualMachines(filter?: ParamsInput, opts?: CallOptions): Promise<VirtualMachine[]>;
  getVirtualMachine(id: string, opts?: CallOptions): Promise<VirtualMachine>;
  startVirtualMachine(id: string, opts?: JobOptions & { hostid?: string }): Promise<VirtualMachine>;
  stopVirtualMachine(id: string, opts?: JobOptions & { forced?: boolean }): Promise<VirtualMachine>;

  /** listall=true unless the filter says otherwise */
  listVolumes(filter?: ParamsInput, opts?: CallOptions): Promise<Volume[]>;
  getVolume(id: string, opts?: CallOptions): Promise<Volume>;
  attachVolume(args: { id: string; virtualmachineid: string; deviceid?: number }, opts?: JobOptions): Promise<Volume>;

  createVmSnapshot(args: { virtualmachineid: string; name?: string; description?: string; snapshotmemory?: boolean; quiescevm?: boolean }, opts?: JobOptions): Promise<VmSnapshot>;
  deleteVmSnapshot(id: string, opts?: JobOptions): Promise<void>;
  listVmSnapshots(filter?: ParamsInput, opts?: CallOptions): Promise<VmSnapshot[]>;

  createVolumeSnapshot(args: { volumeid: string; name?: string; quiescevm?: boolean }, opts?: JobOptions): Promise<VolumeSnapshot>;
  deleteVolumeSnapshot(id: string, opts?: JobOptions): Promise<void>;
  listVolumeSnapshots(filter?: ParamsInput, opts?: CallOptions): Promise<VolumeSnapshot[]>;

  listUsers(filter?: ParamsInput, opts?: CallOptions): Promise<User[]>;
  /** getUser userapikey= (root admin): who owns an API key */
  getUser(userApiKey: string, opts?: CallOptions): Promise<User>;
  getUserKeys(userId: string, opts?: CallOptions): Promise<UserKeys>;
  listCapabilities(opts?: CallOptions): Promise<Capabilities>;

  /** Creates the volume (state NotUploaded) and returns where and how to POST its image. */
  getUploadParamsForVolume(args: { name: string; zoneid: string; format: string; diskofferingid?: string; checksum?: string; account?: string; domainid?: string }, opts?: CallOptions): Promise<UploadParams>;
  /** POSTs the image as multipart `files[]` with X-signature, X-expires, X-metadata. */
  uploadToPostUrl(params: UploadParams, image: UploadImage, opts?: CallOptions): Promise<void>;
  /** uploadVolume url=: CloudStack downloads the image itself; resolves with the volume. */
  uploadVolume(args: { url: string; name: string; zoneid: string; format: string; checksum?: string }, opts?: JobOptions): Promise<Volume>;
}
