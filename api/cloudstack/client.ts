/**
 * @layer adapter
 * CloudStackClient: CloudStack's HTTP API behind the CloudStackApi port, over any HttpFetch.
 *
 * - Requests carry `response=json` and are signed (v3 with `expires` by default) with the caller's
 *   keys, or carry a login session (`sessionkey` parameter plus the JSESSIONID/sessionkey cookies).
 * - GET by default; POST form bodies when the query would be long, when asked, and for login.
 * - The answer's single top-level key is unwrapped (empty lists are `{}`); an error envelope or a
 *   non-200 status becomes a CloudStackError with status, errorcode, cserrorcode and errortext.
 * - Read-only commands (list*, get*, query*, except getUploadParamsForVolume which creates a
 *   volume) are retried with exponential backoff on 429, 503 and network errors; nothing else is.
 * - Every request has a timeout; async jobs are polled with backoff until done, a timeout, or the
 *   caller's AbortSignal.
 */
import { z } from 'zod';
import { CloudStackError } from './errors.ts';
import { encodeParams, signParams, type Params } from './signer.ts';
import {
  globalFetch, type CallOptions, type CloudStackApi, type HttpFetch, type JobOptions, type ParamsInput, type UploadImage,
} from './port.ts';
import {
  AsyncJobSchema, AsyncStartSchema, CapabilitiesSchema, HostSchema, LoginSchema, StoragePoolSchema, UploadParamsSchema,
  UserKeysSchema, UserSchema, VirtualMachineSchema, VmSnapshotSchema, VolumeSchema, VolumeSnapshotSchema,
  type Capabilities, type Host, type StoragePool, type UploadParams, type User, type UserKeys, type VirtualMachine,
  type VmSnapshot, type Volume, type VolumeSnapshot, type Zone, ZoneSchema,
} from './schemas.ts';

export interface ApiKeys {
  apiKey: string;
  secretKey: string;
}

/** A login session: the sessionkey and the cookies the server set (JSESSIONID, sessionkey, …). */
export interface Session {
  sessionkey: string;
  cookies: Record<string, string>;
  userid: string;
  username?: string;
  account?: string;
  domainid?: string;
  /** account type: 0 user, 1 root admin, 2 domain admin */
  accountType?: number;
  /** login's is2faenabled / is2faverified / providerfor2fa / issuerfor2fa */
  twoFactor?: { enabled: boolean; verified: boolean; provider?: string; issuer?: string };
}

export type Credentials = ApiKeys | { session: Session };

export interface RetryPolicy {
  /** retries after the first attempt (default 4) */
  retries: number;
  baseMs: number;
  maxMs: number;
}

export interface JobPolicy {
  initialMs: number;
  maxMs: number;
  factor: number;
  timeoutMs: number;
}

export interface CloudStackClientOptions {
  /** e.g. https://cloud.example.com/client/api (a bare origin gets /client/api appended) */
  endpoint: string;
  credentials: Credentials;
  fetch?: HttpFetch;
  /** 3 (default, with expires) or 1 */
  signatureVersion?: 1 | 3;
  /** lifetime of a signed request (default 5 min; CloudStack refuses more than 15 when enforcing) */
  expiresInMs?: number;
  /** 'auto' (default): GET, POST when the query would exceed 4 KiB */
  method?: 'GET' | 'POST' | 'auto';
  /** per HTTP request (default 60 s) */
  requestTimeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  job?: Partial<JobPolicy>;
  /** ≤ 500, CloudStack's default.page.size (default 500) */
  pageSize?: number;
  /** epoch ms (tests) */
  now?: () => number;
  /** abortable sleep (tests) */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface LoginOptions extends Omit<CloudStackClientOptions, 'credentials'> {
  username: string;
  password: string;
  /** domain path, e.g. "/" (ROOT, the default) or "/customers/" */
  domain?: string;
  domainid?: string;
}

const MAX_GET_QUERY = 4096;

export function normalizeEndpoint(endpoint: string): string {
  const u = new URL(endpoint);
  if (u.pathname === '/' || u.pathname === '') u.pathname = '/client/api';
  u.search = '';
  return u.toString();
}

export function isReadOnlyCommand(command: string): boolean {
  return /^(list|get|query)/.test(command) && command !== 'getUploadParamsForVolume';
}

export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(signal!.reason); };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function toParams(input: ParamsInput = {}): Params {
  const out: Params = {};
  for (const [k, v] of Object.entries(input)) if (v !== undefined) out[k] = String(v);
  return out;
}

/** Cookies from Set-Cookie headers: name → value (attributes dropped). */
export function parseSetCookies(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of headers.getSetCookie()) {
    const [pair] = line.split(';');
    const eq = pair.indexOf('=');
    if (eq > 0) out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

export class CloudStackClient implements CloudStackApi {
  readonly endpoint: string;
  private readonly fetchFn: HttpFetch;
  private readonly credentials: Credentials;
  private readonly retry: RetryPolicy;
  private readonly jobPolicy: JobPolicy;
  private pageSize: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(private readonly opts: CloudStackClientOptions) {
    this.endpoint = normalizeEndpoint(opts.endpoint);
    this.fetchFn = opts.fetch ?? globalFetch;
    this.credentials = opts.credentials;
    this.retry = { retries: 4, baseMs: 250, maxMs: 5000, ...opts.retry };
    this.jobPolicy = { initialMs: 500, maxMs: 5000, factor: 1.5, timeoutMs: 3_600_000, ...opts.job };
    this.pageSize = Math.min(opts.pageSize ?? 500, 500);
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? abortableSleep;
  }

  /** Logs in as a user (POST username/password/domain) and returns a client on that session. */
  static async login(opts: LoginOptions): Promise<CloudStackClient> {
    const anon = new CloudStackClient({ ...opts, credentials: { session: { sessionkey: '', cookies: {}, userid: '' } } });
    const { body, headers } = await anon.send('login', toParams({
      username: opts.username, password: opts.password, domain: opts.domainid ? undefined : (opts.domain ?? '/'), domainid: opts.domainid,
    }), { method: 'POST', anonymous: true });
    const login = anon.parse(LoginSchema, body, 'login');
    const session: Session = {
      sessionkey: login.sessionkey,
      cookies: parseSetCookies(headers),
      userid: login.userid,
      username: login.username,
      account: login.account,
      domainid: login.domainid,
      accountType: login.type,
      twoFactor: {
        enabled: String(login.is2faenabled) === 'true', verified: String(login.is2faverified ?? 'true') === 'true',
        provider: typeof login.providerfor2fa === 'string' ? login.providerfor2fa : undefined,
        issuer: typeof login.issuerfor2fa === 'string' ? login.issuerfor2fa : undefined,
      },
    };
    return new CloudStackClient({ ...opts, credentials: { session } });
  }

  get session(): Session | undefined {
    return 'session' in this.credentials ? this.credentials.session : undefined;
  }

  async logout(opts: CallOptions = {}): Promise<void> {
    await this.call('logout', {}, { ...opts, method: 'POST' });
  }

  // ---- generic calls ----

  async call(command: string, params: ParamsInput = {}, opts: CallOptions & { method?: 'GET' | 'POST' } = {}): Promise<Record<string, unknown>> {
    const p = toParams(params);
    for (let attempt = 0; ; attempt++) {
      try {
        return (await this.send(command, p, opts)).body;
      } catch (e) {
        const retry = e instanceof CloudStackError && e.retryable && isReadOnlyCommand(command) && attempt < this.retry.retries && !opts.signal?.aborted;
        if (!retry) throw e;
        const backoff = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** attempt);
        await this.sleepOrAbort(backoff * (0.5 + Math.random() / 2), command, opts.signal);
      }
    }
  }

  async listAll(command: string, params: ParamsInput = {}, opts: CallOptions = {}): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    const seen = new Set<unknown>();
    let received = 0;
    for (let page = 1; ; page++) {
      let body: Record<string, unknown>;
      try {
        body = await this.call(command, { ...params, page, pagesize: this.pageSize }, opts);
      } catch (e) {
        // a server configured with a smaller default.page.size says so: page again with its size
        const max = e instanceof CloudStackError && e.errorcode === 431 ? /max allowed page size value: (\d+)/.exec(e.errortext) : null;
        if (!max || Number(max[1]) >= this.pageSize || Number(max[1]) < 1) throw e;
        this.pageSize = Number(max[1]);
        out.length = 0; seen.clear(); received = 0; page = 0;
        continue;
      }
      const key = Object.keys(body).find((k) => k !== 'count' && Array.isArray(body[k]));
      const items = (key ? body[key] : []) as Record<string, unknown>[];
      for (const it of items) {
        // an object created between two pages shifts the rest: never return one twice
        const id = it?.id;
        if (id !== undefined && seen.has(id)) continue;
        if (id !== undefined) seen.add(id);
        out.push(it);
      }
      received += items.length;
      const count = typeof body.count === 'number' ? body.count : 0;
      if (items.length === 0 || received >= count) return out;
    }
  }

  async callAsync(command: string, params: ParamsInput = {}, opts: JobOptions = {}): Promise<Record<string, unknown>> {
    const started = this.parse(AsyncStartSchema, await this.call(command, params, opts), command);
    return this.waitForJob(started.jobid, { ...opts, command });
  }

  async waitForJob(jobId: string, opts: JobOptions & { command?: string } = {}): Promise<Record<string, unknown>> {
    const command = opts.command ?? 'queryAsyncJobResult';
    const timeoutMs = opts.timeoutMs ?? this.jobPolicy.timeoutMs;
    const t0 = this.now();
    let delay = this.jobPolicy.initialMs;
    for (let polls = 1; ; polls++) {
      const job = this.parse(AsyncJobSchema, await this.call('queryAsyncJobResult', { jobid: jobId }, opts), 'queryAsyncJobResult');
      const elapsedMs = this.now() - t0;
      opts.onProgress?.({ jobId, command, polls, elapsedMs });
      if (job.jobstatus === 1) return (job.jobresult ?? {}) as Record<string, unknown>;
      if (job.jobstatus === 2) {
        const r = (job.jobresult ?? {}) as { errorcode?: number; cserrorcode?: number; errortext?: string };
        throw new CloudStackError({
          kind: 'job', command, jobId, errorcode: r.errorcode ?? job.jobresultcode, cserrorcode: r.cserrorcode,
          errortext: r.errortext ?? `job failed with result code ${job.jobresultcode}`,
        });
      }
      if (elapsedMs + delay > timeoutMs) {
        throw new CloudStackError({ kind: 'timeout', command, jobId, errortext: `job still pending after ${elapsedMs} ms (${polls} polls)` });
      }
      await this.sleepOrAbort(delay, command, opts.signal);
      delay = Math.min(this.jobPolicy.maxMs, delay * this.jobPolicy.factor);
    }
  }

  // ---- typed operations ----

  async listZones(filter: ParamsInput = {}, opts?: CallOptions): Promise<Zone[]> {
    return this.listOf(ZoneSchema, 'listZones', filter, opts);
  }

  async listKvmHosts(filter: ParamsInput = {}, opts?: CallOptions): Promise<Host[]> {
    return this.listOf(HostSchema, 'listHosts', { type: 'Routing', hypervisor: 'KVM', ...filter }, opts);
  }

  async getHost(id: string, opts?: CallOptions): Promise<Host> {
    return this.one(HostSchema, 'listHosts', id, 'host', opts);
  }

  async listStoragePools(filter: ParamsInput = {}, opts?: CallOptions): Promise<StoragePool[]> {
    return this.listOf(StoragePoolSchema, 'listStoragePools', filter, opts);
  }

  async getStoragePool(id: string, opts?: CallOptions): Promise<StoragePool> {
    return this.one(StoragePoolSchema, 'listStoragePools', id, 'storage pool', opts);
  }

  async listVirtualMachines(filter: ParamsInput = {}, opts?: CallOptions): Promise<VirtualMachine[]> {
    return this.listOf(VirtualMachineSchema, 'listVirtualMachines', { listall: true, ...filter }, opts);
  }

  async getVirtualMachine(id: string, opts?: CallOptions): Promise<VirtualMachine> {
    return this.one(VirtualMachineSchema, 'listVirtualMachines', id, 'virtual machine', opts, { listall: true });
  }

  async startVirtualMachine(id: string, opts: JobOptions & { hostid?: string } = {}): Promise<VirtualMachine> {
    const r = await this.callAsync('startVirtualMachine', { id, hostid: opts.hostid }, opts);
    return this.parse(VirtualMachineSchema, r.virtualmachine, 'startVirtualMachine');
  }

  async stopVirtualMachine(id: string, opts: JobOptions & { forced?: boolean } = {}): Promise<VirtualMachine> {
    const r = await this.callAsync('stopVirtualMachine', { id, forced: opts.forced }, opts);
    return this.parse(VirtualMachineSchema, r.virtualmachine, 'stopVirtualMachine');
  }

  async listVolumes(filter: ParamsInput = {}, opts?: CallOptions): Promise<Volume[]> {
    return this.listOf(VolumeSchema, 'listVolumes', { listall: true, ...filter }, opts);
  }

  async getVolume(id: string, opts?: CallOptions): Promise<Volume> {
    return this.one(VolumeSchema, 'listVolumes', id, 'volume', opts, { listall: true });
  }

  async attachVolume(args: { id: string; virtualmachineid: string; deviceid?: number }, opts?: JobOptions): Promise<Volume> {
    const r = await this.callAsync('attachVolume', args, opts);
    return this.parse(VolumeSchema, r.volume, 'attachVolume');
  }

  async createVmSnapshot(args: { virtualmachineid: string; name?: string; description?: string; snapshotmemory?: boolean; quiescevm?: boolean }, opts?: JobOptions): Promise<VmSnapshot> {
    const r = await this.callAsync('createVMSnapshot', args, opts);
    return this.parse(VmSnapshotSchema, r.vmsnapshot, 'createVMSnapshot');
  }

  async deleteVmSnapshot(id: string, opts?: JobOptions): Promise<void> {
    await this.callAsync('deleteVMSnapshot', { vmsnapshotid: id }, opts);
  }

  async listVmSnapshots(filter: ParamsInput = {}, opts?: CallOptions): Promise<VmSnapshot[]> {
    return this.listOf(VmSnapshotSchema, 'listVMSnapshot', { listall: true, ...filter }, opts);
  }

  async createVolumeSnapshot(args: { volumeid: string; name?: string; quiescevm?: boolean }, opts?: JobOptions): Promise<VolumeSnapshot> {
    const r = await this.callAsync('createSnapshot', args, opts);
    return this.parse(VolumeSnapshotSchema, r.snapshot, 'createSnapshot');
  }

  async deleteVolumeSnapshot(id: string, opts?: JobOptions): Promise<void> {
    await this.callAsync('deleteSnapshot', { id }, opts);
  }

  async listVolumeSnapshots(filter: ParamsInput = {}, opts?: CallOptions): Promise<VolumeSnapshot[]> {
    return this.listOf(VolumeSnapshotSchema, 'listSnapshots', { listall: true, ...filter }, opts);
  }

  async listUsers(filter: ParamsInput = {}, opts?: CallOptions): Promise<User[]> {
    return this.listOf(UserSchema, 'listUsers', { listall: true, ...filter }, opts);
  }

  async getUser(userApiKey: string, opts?: CallOptions): Promise<User> {
    const r = await this.call('getUser', { userapikey: userApiKey }, opts);
    if (r.user === undefined) throw new CloudStackError({ kind: 'notfound', command: 'getUser', errortext: 'no user has this API key' });
    return this.parse(UserSchema, r.user, 'getUser');
  }

  async getUserKeys(userId: string, opts?: CallOptions): Promise<UserKeys> {
    const r = await this.call('getUserKeys', { id: userId }, opts);
    return this.parse(UserKeysSchema, r.userkeys, 'getUserKeys');
  }

  async listCapabilities(opts?: CallOptions): Promise<Capabilities> {
    const r = await this.call('listCapabilities', {}, opts);
    return this.parse(CapabilitiesSchema, r.capability, 'listCapabilities');
  }

  async getUploadParamsForVolume(args: { name: string; zoneid: string; format: string; diskofferingid?: string; checksum?: string; account?: string; domainid?: string }, opts?: CallOptions): Promise<UploadParams> {
    const r = await this.call('getUploadParamsForVolume', args, opts);
    return this.parse(UploadParamsSchema, r.getuploadparams, 'getUploadParamsForVolume');
  }

  async uploadToPostUrl(params: UploadParams, image: UploadImage, opts: CallOptions = {}): Promise<void> {
    const command = 'upload';
    const boundary = `----sendense${Math.random().toString(16).slice(2)}${Date.now().toString(16)}`;
    const safeName = image.filename.replace(/["\r\n]/g, '_');
    const head = new TextEncoder().encode(`--${boundary}\r\nContent-Disposition: form-data; name="files[]"; filename="${safeName}"\r\nContent-Type: application/octet-stream\r\n\r\n`);
    const tail = new TextEncoder().encode(`\r\n--${boundary}--\r\n`);
    const size = image.data instanceof Uint8Array ? image.data.byteLength : image.size;
    if (size === undefined) throw new CloudStackError({ kind: 'protocol', command, errortext: 'a streamed upload needs its size (the SSVM requires content-length)' });
    const body = concatStream([head, image.data, tail]);
    let res: Response;
    try {
      res = await this.fetchFn(params.postURL, {
        method: 'POST',
        headers: {
          'content-type': `multipart/form-data; boundary=${boundary}`,
          'content-length': String(head.byteLength + size + tail.byteLength),
          'x-signature': params.signature,
          'x-expires': params.expires,
          'x-metadata': params.metadata,
        },
        body,
        signal: opts.signal,
      });
    } catch (e) {
      throw this.transportError(command, e, opts.signal, undefined);
    }
    const text = await res.text();
    if (res.status !== 200) throw new CloudStackError({ kind: 'api', command, status: res.status, errorcode: res.status, errortext: text.trim() || res.statusText });
  }

  async uploadVolume(args: { url: string; name: string; zoneid: string; format: string; checksum?: string }, opts?: JobOptions): Promise<Volume> {
    const r = await this.callAsync('uploadVolume', args, opts);
    return this.parse(VolumeSchema, r.volume, 'uploadVolume');
  }

  // ---- internals ----

  private async listOf<T>(schema: z.ZodType<T>, command: string, filter: ParamsInput, opts?: CallOptions): Promise<T[]> {
    const items = await this.listAll(command, filter, opts);
    return items.map((it) => this.parse(schema, it, command));
  }

  private async one<T>(schema: z.ZodType<T>, command: string, id: string, what: string, opts?: CallOptions, extra: ParamsInput = {}): Promise<T> {
    const body = await this.call(command, { ...extra, id }, opts);
    const key = Object.keys(body).find((k) => k !== 'count' && Array.isArray(body[k]));
    const items = (key ? body[key] : []) as unknown[];
    if (items.length === 0) throw new CloudStackError({ kind: 'notfound', command, errortext: `no ${what} with id ${id} (or not visible to this account)` });
    return this.parse(schema, items[0], command);
  }

  private parse<T>(schema: z.ZodType<T>, value: unknown, command: string): T {
    const r = schema.safeParse(value);
    if (!r.success) {
      throw new CloudStackError({ kind: 'protocol', command, errortext: `unexpected answer: ${z.prettifyError(r.error).replace(/\n/g, '; ')}`, cause: r.error });
    }
    return r.data;
  }

  private async sleepOrAbort(ms: number, command: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.sleep(ms, signal);
    } catch (e) {
      throw new CloudStackError({ kind: 'aborted', command, errortext: 'aborted by the caller', cause: e });
    }
  }

  /** One HTTP exchange: builds, signs, sends, unwraps; throws CloudStackError. */
  private async send(command: string, params: Params, opts: CallOptions & { method?: 'GET' | 'POST'; anonymous?: boolean }): Promise<{ body: Record<string, unknown>; headers: Headers }> {
    let p: Params = { ...params, command, response: 'json' };
    const headers: Record<string, string> = { accept: 'application/json' };
    if (!opts.anonymous) {
      if ('session' in this.credentials) {
        p.sessionkey = this.credentials.session.sessionkey;
        const cookies = Object.entries(this.credentials.session.cookies).map(([k, v]) => `${k}=${v}`).join('; ');
        if (cookies) headers.cookie = cookies;
      } else {
        p = signParams(p, {
          apiKey: this.credentials.apiKey, secretKey: this.credentials.secretKey,
          version: this.opts.signatureVersion ?? 3, now: this.now(), ttlMs: this.opts.expiresInMs,
        });
      }
    }
    const encoded = encodeParams(p);
    const method = opts.method ?? (this.opts.method === 'POST' || (this.opts.method !== 'GET' && encoded.length > MAX_GET_QUERY) ? 'POST' : 'GET');
    const timeout = AbortSignal.timeout(this.opts.requestTimeoutMs ?? 60_000);
    const signal = opts.signal ? AbortSignal.any([opts.signal, timeout]) : timeout;
    let res: Response;
    let text: string;
    try {
      res = method === 'GET'
        ? await this.fetchFn(`${this.endpoint}?${encoded}`, { method, headers, signal })
        : await this.fetchFn(this.endpoint, { method, headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' }, body: encoded, signal });
      text = await res.text();
    } catch (e) {
      throw this.transportError(command, e, opts.signal, timeout);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      const kind = res.status === 200 ? 'protocol' : 'api';
      throw new CloudStackError({ kind, command, status: res.status, errorcode: kind === 'api' ? res.status : undefined, errortext: `HTTP ${res.status}, not JSON: ${text.slice(0, 200)}`, cause: e });
    }
    const keys = json && typeof json === 'object' && !Array.isArray(json) ? Object.keys(json) : [];
    if (keys.length !== 1) {
      throw new CloudStackError({ kind: res.status === 200 ? 'protocol' : 'api', command, status: res.status, errortext: `expected one top-level key, got ${JSON.stringify(text.slice(0, 200))}` });
    }
    const inner = (json as Record<string, unknown>)[keys[0]];
    const body = (inner && typeof inner === 'object' ? inner : {}) as Record<string, unknown>;
    if (res.status !== 200 || typeof body.errorcode === 'number') {
      throw new CloudStackError({
        kind: 'api', command, status: res.status,
        errorcode: typeof body.errorcode === 'number' ? body.errorcode : res.status,
        cserrorcode: typeof body.cserrorcode === 'number' ? body.cserrorcode : undefined,
        errortext: typeof body.errortext === 'string' ? body.errortext : `HTTP ${res.status}`,
      });
    }
    return { body, headers: res.headers };
  }

  private transportError(command: string, e: unknown, caller?: AbortSignal, timeout?: AbortSignal): CloudStackError {
    if (caller?.aborted) return new CloudStackError({ kind: 'aborted', command, errortext: 'aborted by the caller', cause: e });
    if (timeout?.aborted) {
      return new CloudStackError({ kind: 'timeout', command, errortext: `no answer within ${this.opts.requestTimeoutMs ?? 60_000} ms`, cause: e });
    }
    const msg = e instanceof Error ? `${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}` : String(e);
    return new CloudStackError({ kind: 'network', command, errortext: `cannot reach ${this.endpoint}: ${msg}`, cause: e });
  }
}

/** A ReadableStream of byte arrays and streams, one after the other. */
function concatStream(parts: (Uint8Array | ReadableStream<Uint8Array>)[]): ReadableStream<Uint8Array> {
  let i = 0;
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        if (reader) {
          const { done, value } = await reader.read();
          if (!done) { controller.enqueue(value); return; }
          reader = undefined;
          continue;
        }
        if (i >= parts.length) { controller.close(); return; }
        const part = parts[i++];
        if (part instanceof Uint8Array) { controller.enqueue(part); return; }
        reader = part.getReader();
      }
    },
    async cancel(reason) {
      await reader?.cancel(reason);
      for (const p of parts.slice(i)) if (!(p instanceof Uint8Array)) await p.cancel(reason);
    },
  });
}
