import { afterEach, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createSimulator, type Simulator, type SimulatorOptions } from '../cloudstack-sim/app.ts';
import { serveSimulator } from '../cloudstack-sim/serve.ts';
import { defaultState, type SimState } from '../cloudstack-sim/state.ts';
import { CloudStackClient, type CloudStackClientOptions } from './client.ts';
import { CloudStackError } from './errors.ts';
import { createNodeFetch } from './node-fetch.ts';
import type { HttpFetch } from './port.ts';
import { resolveVmForAgent } from './resolve.ts';

type Mode = 'in-memory' | 'http';
const closers: (() => Promise<void>)[] = [];
afterEach(async () => { while (closers.length) await closers.pop()!(); });

interface Harness {
  sim: Simulator;
  endpoint: string;
  fetch: HttpFetch;
  /** every URL the client fetched */
  seen: string[];
  client(opts?: Partial<CloudStackClientOptions>): CloudStackClient;
  as(username: string, opts?: Partial<CloudStackClientOptions>): CloudStackClient;
}

async function harness(mode: Mode, opts: SimulatorOptions = {}): Promise<Harness> {
  const sim = createSimulator({ asyncDelayMs: 30, ...opts });
  let endpoint = 'http://cloudstack.test/client/api';
  let base: HttpFetch = sim.fetch;
  if (mode === 'http') {
    const served = await serveSimulator(sim);
    closers.push(() => served.close());
    endpoint = served.endpoint;
    base = createNodeFetch();
  }
  closers.push(() => sim.idle());
  const seen: string[] = [];
  const fetch: HttpFetch = (url, init) => { seen.push(url); return base(url, init); };
  const mk = (credentials: CloudStackClientOptions['credentials'], o: Partial<CloudStackClientOptions> = {}) =>
    new CloudStackClient({ endpoint, fetch, credentials, job: { initialMs: 10, maxMs: 50 }, retry: { baseMs: 1, maxMs: 5 }, ...o });
  return { sim, endpoint, fetch, seen, client: (o) => mk(sim.adminKeys, o), as: (u, o) => mk(sim.keysOf(u), o) };
}

async function failure(p: Promise<unknown>): Promise<CloudStackError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(CloudStackError);
    return e as CloudStackError;
  }
  throw new Error('expected a CloudStackError');
}

function withManyVms(n: number): SimState {
  const s = defaultState();
  const admin = s.accounts.find((a) => a.type === 1)!;
  const tpl = s.vms[0];
  for (let i = 0; i < n; i++) {
    s.vms.push({ ...tpl, id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, name: `bulk-${i}`, displayName: `bulk-${i}`, accountId: admin.id, internalId: 100 + i, instanceName: undefined, state: 'Stopped', hostId: undefined });
  }
  return s;
}

describe.each(['in-memory', 'http'] as Mode[])('CloudStackClient against the simulator (%s)', (mode) => {
  it('lists zones, hosts and pools and unwraps the envelope', async () => {
    const h = await harness(mode);
    const cs = h.client();
    const zones = await cs.listZones();
    expect(zones.map((z) => z.name)).toEqual(['zone1']);
    const hosts = await cs.listKvmHosts();
    expect(hosts).toHaveLength(1);
    expect(hosts[0]).toMatchObject({ name: 'kvm1', ipaddress: '127.0.0.1', type: 'Routing', hypervisor: 'KVM' });
    const pools = await cs.listStoragePools();
    expect(pools[0]).toMatchObject({ type: 'NetworkFilesystem', path: '/export/primary' });
    expect(h.seen.every((u) => /[?&]signatureVersion=3&/.test(u) && /[?&]response=json/.test(u))).toBe(true);
  });

  it('pages through more than 500 items with pagesize 500 until count', async () => {
    const h = await harness(mode, { state: withManyVms(1234) });
    const vms = await h.client().listVirtualMachines();
    expect(vms).toHaveLength(1237); // 1234 + the 3 of the default state (listall: the admin sees every account)
    expect(new Set(vms.map((v) => v.id)).size).toBe(1237);
    const pages = h.seen.filter((u) => u.includes('command=listVirtualMachines'));
    expect(pages).toHaveLength(3);
    expect(pages.every((u) => u.includes('pagesize=500'))).toBe(true);
    // without paging CloudStack answers default.page.size (500) items at most
    const raw = await h.client().call('listVirtualMachines', { listall: true });
    expect(raw.count).toBe(1237);
    expect((raw.virtualmachine as unknown[]).length).toBe(500);
  });

  it('answers empty lists as {} and the typed call as []', async () => {
    const h = await harness(mode);
    const cs = h.client();
    expect(await cs.call('listVMSnapshot', { listall: true })).toEqual({});
    expect(await cs.listVmSnapshots()).toEqual([]);
    expect(await cs.listVolumeSnapshots()).toEqual([]);
  });

  it('runs async jobs to success and reports failures with the job error', async () => {
    const h = await harness(mode);
    const cs = h.client();
    const vm = (await cs.listVirtualMachines({ name: 'db-1' }))[0];
    expect(vm.state).toBe('Stopped');
    const polls: number[] = [];
    const started = await cs.startVirtualMachine(vm.id, { onProgress: (p) => polls.push(p.polls) });
    expect(started.state).toBe('Running');
    expect(started.hostid).toBe(h.sim.state.hosts[0].id);
    expect(polls.length).toBeGreaterThan(1); // the job took a moment: at least one pending poll
    const again = await failure(cs.startVirtualMachine(vm.id));
    expect(again.kind).toBe('job');
    expect(again.errorcode).toBe(530);
    expect(again.jobId).toMatch(/^[0-9a-f-]{36}$/);
    expect(again.errortext).toMatch(/is already running/);
    const stopped = await cs.stopVirtualMachine(vm.id);
    expect(stopped.state).toBe('Stopped');
    expect(stopped.hostid).toBeUndefined();
    expect((await cs.getVirtualMachine(vm.id)).state).toBe('Stopped');
  });

  it('turns CloudStack errors into typed errors (431, 432, 401, 531)', async () => {
    const h = await harness(mode);
    const missing = await failure(h.client().call('startVirtualMachine'));
    expect(missing).toMatchObject({ kind: 'api', status: 431, errorcode: 431, cserrorcode: 9999, command: 'startVirtualMachine' });
    expect(missing.errortext).toBe('Unable to execute API command startvirtualmachine due to missing parameter id');
    const bogus = await failure(h.client().call('listVirtualMachines', { id: 'no-such-vm' }));
    expect(bogus.errorcode).toBe(431);
    expect(bogus.errortext).toMatch(/Invalid parameter id value=no-such-vm/);
    const unknown = await failure(h.client().call('doSomethingElse'));
    expect(unknown).toMatchObject({ status: 401, errortext: 'unable to verify user credentials and/or request signature' }); // unknown without a session: CloudStack's verifyRequest
    const notAllowed = await failure(h.as('alice').call('listHosts'));
    expect(notAllowed.status).toBe(432);
    const badKey = await failure(h.client({ credentials: { apiKey: h.sim.adminKeys.apiKey, secretKey: 'wrong' } }).listZones());
    expect(badKey).toMatchObject({ status: 401, errortext: 'unable to verify user credentials and/or request signature' });
    const adminVm = h.sim.state.vms.find((v) => v.name === 'infra-1')!;
    const denied = await failure(h.as('alice').stopVirtualMachine(adminVm.id));
    expect(denied).toMatchObject({ status: 531, cserrorcode: 4365 });
    const nf = await failure(h.as('alice').getVirtualMachine(adminVm.id));
    expect(nf.kind).toBe('notfound');
  });

  it("shows a user their account's VMs without admin fields, a domain admin their domain, a root admin everything", async () => {
    const h = await harness(mode);
    const admin = await h.client().listVirtualMachines();
    expect(admin.map((v) => v.name).sort()).toEqual(['db-1', 'infra-1', 'web-1']);
    const web = admin.find((v) => v.name === 'web-1')!;
    expect(web.instancename).toMatch(/^i-\d+-\d+-VM$/);
    expect(web.hostid).toBeDefined();
    const vols = await h.client().listVolumes({ virtualmachineid: web.id });
    expect(vols.every((v) => v.path && v.storageid)).toBe(true);

    const alice = await h.as('alice').listVirtualMachines();
    expect(alice.map((v) => v.name).sort()).toEqual(['db-1', 'web-1']);
    expect(alice.every((v) => v.instancename === undefined && v.hostid === undefined)).toBe(true);
    const aliceVols = await h.as('alice').listVolumes();
    expect(aliceVols.length).toBe(3);
    expect(aliceVols.every((v) => v.path === undefined && v.storageid === undefined)).toBe(true);

    const dadmin = await h.as('dadmin').listVirtualMachines();
    expect(dadmin.map((v) => v.name).sort()).toEqual(['db-1', 'web-1']);
    expect(dadmin.every((v) => v.instancename === undefined)).toBe(true);
    // without listall even a root admin sees only their own account's VMs
    const own = await h.client().call('listVirtualMachines');
    expect((own.virtualmachine as { name: string }[]).map((v) => v.name)).toEqual(['infra-1']);
  });

  it('logs in with a session (sessionkey + cookies), then logs out', async () => {
    const h = await harness(mode);
    const alice = await CloudStackClient.login({ endpoint: h.endpoint, fetch: h.fetch, username: 'alice', password: 'password', domain: '/customers' });
    expect(alice.session).toMatchObject({ username: 'alice', accountType: 0 });
    expect(alice.session!.cookies.JSESSIONID).toBeTruthy();
    expect(alice.session!.cookies.sessionkey).toBe(alice.session!.sessionkey);
    expect((await alice.listVirtualMachines()).map((v) => v.name).sort()).toEqual(['db-1', 'web-1']);
    const seenBefore = h.seen.length;
    await alice.listZones();
    expect(h.seen.slice(seenBefore).every((u) => u.includes('sessionkey=') && !u.includes('signature='))).toBe(true);
    await alice.logout();
    expect((await failure(alice.listZones())).status).toBe(401);
    const wrong = await failure(CloudStackClient.login({ endpoint: h.endpoint, fetch: h.fetch, username: 'alice', password: 'nope', domain: '/customers' }));
    expect(wrong).toMatchObject({ status: 531 });
    expect(wrong.errortext).toMatch(/^Failed to authenticate user alice in domain/);
    const admin = await CloudStackClient.login({ endpoint: h.endpoint, fetch: h.fetch, username: 'admin', password: 'password' });
    expect(admin.session!.accountType).toBe(1);
    expect((await admin.listVirtualMachines()).find((v) => v.name === 'web-1')!.instancename).toBeDefined();
  });

  it('signs values with spaces, ~ ! \' ( ) * + / = & and non-ASCII text (GET and POST)', async () => {
    const name = "a b~c!d'e(f)g*h+i/j=k&l é日本 ü";
    const s = defaultState();
    s.vms[0].displayName = name;
    const h = await harness(mode, { state: s });
    for (const method of ['GET', 'POST'] as const) {
      const found = await h.client({ method }).listVirtualMachines({ keyword: name });
      expect(found.map((v) => v.displayname)).toEqual([name]);
    }
    const user = await h.as('alice', { method: 'POST' }).listVirtualMachines({ keyword: "!d'e(f)g*h+i/j=k&l é" });
    expect(user).toHaveLength(1);
  });

  it('accepts v1 signatures and rejects an expired v3 request', async () => {
    const h = await harness(mode);
    expect(await h.client({ signatureVersion: 1 }).listZones()).toHaveLength(1);
    const past = h.client({ now: () => Date.now() - 3_600_000 });
    expect((await failure(past.listZones())).status).toBe(401);
  });

  it('users, keys and capabilities', async () => {
    const h = await harness(mode);
    const cs = h.client();
    const alice = h.sim.state.users.find((u) => u.username === 'alice')!;
    const who = await cs.getUser(alice.apiKey!);
    expect(who).toMatchObject({ username: 'alice', roletype: 'User', accountid: alice.accountId });
    expect(await h.as('alice').getUserKeys(alice.id)).toEqual({ apikey: alice.apiKey, secretkey: alice.secretKey });
    expect((await failure(h.as('alice').getUserKeys(h.sim.state.users[0].id))).status).toBe(531);
    expect((await failure(cs.getUser('nobody'))).status).toBe(431);
    expect((await cs.listUsers()).map((u) => u.username).sort()).toEqual(['admin', 'alice', 'dadmin']);
    expect((await h.as('alice').listUsers()).map((u) => u.username)).toEqual(['alice']);
    expect((await cs.listCapabilities()).cloudstackversion).toBe('4.22.0.0');
  });

  it('creates, lists and deletes VM snapshots and volume snapshots', async () => {
    const h = await harness(mode);
    const cs = h.client();
    const vm = (await cs.listVirtualMachines({ name: 'web-1' }))[0];
    const snap = await cs.createVmSnapshot({ virtualmachineid: vm.id, name: 'before-backup' });
    expect(snap).toMatchObject({ displayname: 'before-backup', state: 'Ready', type: 'Disk', current: true, virtualmachineid: vm.id });
    expect((await cs.listVmSnapshots({ virtualmachineid: vm.id })).map((s) => s.id)).toEqual([snap.id]);
    const stopped = (await cs.listVirtualMachines({ name: 'db-1' }))[0];
    const mem = await failure(cs.createVmSnapshot({ virtualmachineid: stopped.id, snapshotmemory: true }));
    expect(mem).toMatchObject({ status: 431, errortext: 'Can not snapshot memory when VM is not in Running state' });
    await cs.deleteVmSnapshot(snap.id);
    expect(await cs.listVmSnapshots({ virtualmachineid: vm.id })).toEqual([]);

    const vol = (await cs.listVolumes({ virtualmachineid: vm.id, type: 'ROOT' }))[0];
    const vs = await cs.createVolumeSnapshot({ volumeid: vol.id });
    expect(vs).toMatchObject({ volumeid: vol.id, state: 'BackedUp', snapshottype: 'MANUAL' });
    expect(await cs.listVolumeSnapshots({ volumeid: vol.id })).toHaveLength(1);
    await cs.deleteVolumeSnapshot(vs.id);
    expect(await cs.listVolumeSnapshots({ volumeid: vol.id })).toEqual([]);
  });

  it('uploads a volume to the postURL (multipart files[] with X-signature/X-expires/X-metadata), once', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sendense-upload-'));
    closers.push(async () => rmSync(dir, { recursive: true, force: true }));
    const h = await harness(mode, { uploadDir: path.join(dir, 'store') });
    const img = path.join(dir, 'restore.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', img, '64M']);
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 1M 256k', img]);
    const bytes = readFileSync(img);
    const cs = h.as('alice');
    const zone = (await cs.listZones())[0];
    const params = await cs.getUploadParamsForVolume({ name: 'restored', zoneid: zone.id, format: 'QCOW2' });
    expect(params.postURL).toBe(`${new URL(h.endpoint).origin}/upload/${params.id}`);
    expect((await cs.getVolume(params.id)).state).toBe('NotUploaded');
    const stream = new Blob([bytes]).stream();
    await cs.uploadToPostUrl(params, { data: stream, size: bytes.length, filename: 'restore.qcow2' });
    const stored = readFileSync(path.join(dir, 'store', `${params.id}.qcow2`));
    expect(Buffer.compare(stored, bytes)).toBe(0);
    const vol = await cs.getVolume(params.id);
    expect(vol).toMatchObject({ state: 'Uploaded', size: 64 * 2 ** 20, type: 'DATADISK' });
    const reused = await failure(cs.uploadToPostUrl(params, { data: bytes, filename: 'restore.qcow2' }));
    expect(reused).toMatchObject({ status: 400, errortext: 'The one time post url is already used' });

    const p2 = await cs.getUploadParamsForVolume({ name: 'forged', zoneid: zone.id, format: 'QCOW2' });
    const forged = await failure(cs.uploadToPostUrl({ ...p2, signature: p2.signature.replace(/^./, (c) => (c === 'A' ? 'B' : 'A')) }, { data: bytes, filename: 'x.qcow2' }));
    expect(forged).toMatchObject({ status: 400, errortext: 'signature validation failed.' });
    const p3 = await cs.getUploadParamsForVolume({ name: 'not-qcow2', zoneid: zone.id, format: 'QCOW2' });
    const notQcow = await failure(cs.uploadToPostUrl(p3, { data: new Uint8Array(4096), filename: 'x.qcow2' }));
    expect(notQcow.status).toBe(400);
    expect(notQcow.errortext).toMatch(/^File type mismatch/);

    const vm = (await cs.listVirtualMachines({ name: 'web-1' }))[0];
    const attached = await cs.attachVolume({ id: params.id, virtualmachineid: vm.id });
    expect(attached).toMatchObject({ state: 'Ready', virtualmachineid: vm.id, deviceid: 2 });
  });

  it('uploadVolume url=: the job answers at once (UploadOp), the download ends in Uploaded', async () => {
    const payload = Buffer.alloc(300_000, 7);
    const server = http.createServer((_req, res) => res.end(payload));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise((r) => server.close(() => r())));
    const h = await harness(mode);
    const cs = h.client();
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/img.raw`;
    const vol = await cs.uploadVolume({ url, name: 'from-url', zoneid: h.sim.state.zones[0].id, format: 'RAW' });
    expect(vol.state).toBe('UploadOp');
    await h.sim.idle();
    expect(await cs.getVolume(vol.id)).toMatchObject({ state: 'Uploaded', size: payload.length });
    expect(Buffer.compare(Buffer.from((await h.sim.uploads.get(vol.id))!), payload)).toBe(0);
  });

  it('resolves a VM to its host, libvirt domain and disk paths (root admin only)', async () => {
    const h = await harness(mode);
    const vm = h.sim.state.vms.find((v) => v.name === 'web-1')!;
    const pool = h.sim.state.storagePools[0];
    const r = await resolveVmForAgent(h.client(), vm.id);
    expect(r).toMatchObject({ vmId: vm.id, name: 'web-1', instanceName: vm.instanceName, hostIsCurrent: true, host: { ip: '127.0.0.1', name: 'kvm1' } });
    const vols = h.sim.state.volumes.filter((v) => v.vmId === vm.id);
    expect(r.disks.map((d) => [d.deviceId, d.type, d.path, d.format])).toEqual([
      [0, 'ROOT', `/mnt/${pool.id}/${vols[0].path}`, 'qcow2'],
      [1, 'DATADISK', `/mnt/${pool.id}/${vols[1].path}`, 'qcow2'],
    ]);
    const stopped = h.sim.state.vms.find((v) => v.name === 'db-1')!;
    const s = await resolveVmForAgent(h.client(), stopped.id);
    expect(s).toMatchObject({ hostIsCurrent: false, host: { ip: '127.0.0.1' } });
    const asUser = await failure(resolveVmForAgent(h.as('alice'), vm.id));
    expect(asUser.errortext).toMatch(/instancename.*root admin/);
  });
});

describe('CloudStackClient transport behaviour', () => {
  it('retries read-only calls on 503, 429 and network errors, never a state-changing call', async () => {
    const sim = createSimulator({ asyncDelayMs: 5 });
    closers.push(() => sim.idle());
    let failures = 0;
    const flaky: HttpFetch = async (url, init) => {
      if (failures > 0) {
        failures--;
        if (failures % 3 === 2) throw new TypeError('fetch failed', { cause: new Error('ECONNRESET') });
        return new Response('{"listzonesresponse":{"errorcode":503,"errortext":"busy"}}', { status: failures % 3 === 1 ? 429 : 503 });
      }
      return sim.fetch(url, init);
    };
    const cs = new CloudStackClient({ endpoint: 'http://cs.test/client/api', fetch: flaky, credentials: sim.adminKeys, retry: { retries: 4, baseMs: 1, maxMs: 2 }, job: { initialMs: 5 } });
    failures = 3;
    expect(await cs.listZones()).toHaveLength(1);
    expect(failures).toBe(0);
    failures = 5;
    expect((await failure(cs.listZones())).kind).toMatch(/api|network/);
    failures = 1;
    const vm = sim.state.vms.find((v) => v.state === 'Stopped')!;
    const e = await failure(cs.startVirtualMachine(vm.id));
    expect(e).toMatchObject({ kind: 'api', status: 503, command: 'startVirtualMachine' });
    expect(failures).toBe(0);
    expect(sim.state.vms.find((v) => v.id === vm.id)!.state).toBe('Stopped');
  });

  it('times out a request that gets no answer, and stops waiting for a job when aborted or out of time', async () => {
    const hang: HttpFetch = (_url, init) => new Promise((_r, reject) => init.signal?.addEventListener('abort', () => reject(init.signal!.reason)));
    const slow = new CloudStackClient({ endpoint: 'http://cs.test', fetch: hang, credentials: { apiKey: 'k', secretKey: 's' }, requestTimeoutMs: 50, retry: { retries: 0 } });
    const t = await failure(slow.listZones());
    expect(t.kind).toBe('timeout');
    expect(slow.endpoint).toBe('http://cs.test/client/api');

    const sim = createSimulator({ asyncDelayMs: 400 });
    closers.push(() => sim.idle());
    const cs = new CloudStackClient({ endpoint: 'http://cs.test/client/api', fetch: sim.fetch, credentials: sim.adminKeys, job: { initialMs: 10, maxMs: 20 } });
    const vm = sim.state.vms.find((v) => v.state === 'Stopped')!;
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('operator cancelled')), 60);
    expect((await failure(cs.startVirtualMachine(vm.id, { signal: ac.signal }))).kind).toBe('aborted');
    await sim.idle();
    const running = sim.state.vms.find((v) => v.state === 'Running')!;
    const late = await failure(cs.stopVirtualMachine(running.id, { timeoutMs: 50 }));
    expect(late).toMatchObject({ kind: 'timeout' });
    expect(late.jobId).toBeDefined();
  });

  it('adopts a smaller server page size when CloudStack says so', async () => {
    const s = withManyVms(30);
    s.settings.defaultPageSize = 20;
    const sim = createSimulator({ state: s });
    const cs = new CloudStackClient({ endpoint: 'http://cs.test/client/api', fetch: sim.fetch, credentials: sim.adminKeys });
    expect(await cs.listVirtualMachines()).toHaveLength(33);
  });
});
