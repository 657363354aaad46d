/**
 * The simulator's wire behaviour, byte for byte where CloudStack's is known: envelopes, paging
 * rules, parameter precedence, login/session rules, the SSVM upload checks, the state file.
 */
import { describe, expect, it } from 'vitest';
import { encodeParams, formatExpires, signParams } from '../cloudstack/signer.ts';
import { createSimulator, type Simulator } from './app.ts';
import { parseQuery, parseForm } from './params.ts';
import { defaultState, parseSimState, SimStateError } from './state.ts';

const BASE = 'http://cloudstack.test';

function signed(sim: Simulator, params: Record<string, string>, opts: { version?: 1 | 3; user?: string; now?: number } = {}): string {
  const keys = opts.user ? sim.keysOf(opts.user) : sim.adminKeys;
  return encodeParams(signParams({ response: 'json', ...params }, { ...keys, version: opts.version ?? 3, now: opts.now ?? Date.now() }));
}

async function get(sim: Simulator, query: string) {
  const res = await sim.app.request(`${BASE}/client/api?${query}`);
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

describe('CloudStack envelopes', () => {
  it('lists: count + items, {} when empty, {count} past the last page; pagesize rules', async () => {
    const sim = createSimulator();
    const zones = await get(sim, signed(sim, { command: 'listZones' }));
    expect(zones.status).toBe(200);
    expect(zones.type).toBe('application/json; charset=UTF-8');
    expect(Object.keys(JSON.parse(zones.text).listzonesresponse)).toEqual(['count', 'zone']);
    expect((await get(sim, signed(sim, { command: 'listVMSnapshot', listall: 'true' }))).text).toBe('{"listvmsnapshotresponse":{}}');
    expect((await get(sim, signed(sim, { command: 'listZones', page: '2', pagesize: '1' }))).text).toBe('{"listzonesresponse":{"count":1}}');
    const big = await get(sim, signed(sim, { command: 'listZones', page: '1', pagesize: '501' }));
    expect(big.status).toBe(431);
    expect(JSON.parse(big.text)).toEqual({ listzonesresponse: { uuidList: [], errorcode: 431, cserrorcode: 4350, errortext: "Page size can't exceed max allowed page size value: 500" } });
    const all = await get(sim, signed(sim, { command: 'listVirtualMachines', listall: 'true', pagesize: '-1' }));
    expect(JSON.parse(all.text).listvirtualmachinesresponse.virtualmachine).toHaveLength(3);
    const nan = await get(sim, signed(sim, { command: 'listZones', page: 'x', pagesize: '5' }));
    expect(JSON.parse(nan.text).listzonesresponse.errortext).toBe('Unable to execute API command listzones due to invalid value x for parameter page');
  });

  it('async commands answer {jobid} (create commands {id, jobid}); queryAsyncJobResult goes 0 → 1', async () => {
    const sim = createSimulator({ asyncDelayMs: 50 });
    const vm = sim.state.vms.find((v) => v.state === 'Running')!;
    const r = JSON.parse((await get(sim, signed(sim, { command: 'createVMSnapshot', virtualmachineid: vm.id }))).text).createvmsnapshotresponse;
    expect(Object.keys(r)).toEqual(['id', 'jobid']);
    const q = async () => JSON.parse((await get(sim, signed(sim, { command: 'queryAsyncJobResult', jobid: r.jobid }))).text).queryasyncjobresultresponse;
    const pending = await q();
    expect(pending).toMatchObject({ jobstatus: 0, jobresultcode: 0, jobinstancetype: 'VMSnapshot', jobinstanceid: r.id, jobid: r.jobid });
    expect(pending.jobresult).toBeUndefined();
    await sim.idle();
    const done = await q();
    expect(done).toMatchObject({ jobstatus: 1, jobresultcode: 0, jobresulttype: 'object', jobresult: { vmsnapshot: { id: r.id, state: 'Ready' } } });
    expect(done.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+0000$/);
    const stop = JSON.parse((await get(sim, signed(sim, { command: 'stopVirtualMachine', id: vm.id }))).text).stopvirtualmachineresponse;
    expect(Object.keys(stop)).toEqual(['jobid']);
    await sim.idle();
  });

  it('answers XML unless response=json, and names unknown commands errorresponse', async () => {
    const sim = createSimulator();
    const xml = await get(sim, encodeParams(signParams({ command: 'listZones' }, { ...sim.adminKeys, now: Date.now() })));
    expect(xml.type).toBe('text/xml; charset=UTF-8');
    expect(xml.text).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?><listzonesresponse cloud-stack-version="4.22.0.0"><count>1<\/count><zone><id>/);
    const unknown = await get(sim, signed(sim, { command: 'frobnicate' }));
    // ApiServer.verifyRequest: without a session, a command CloudStack does not have is refused like a bad signature
    expect(unknown.status).toBe(401);
    expect(JSON.parse(unknown.text)).toEqual({ errorresponse: { uuidList: [], errorcode: 401, errortext: 'unable to verify user credentials and/or request signature' } });
  });
});

describe('signature checks', () => {
  it('v1 and v3, expiry, enforce.post.requests.and.timestamps, a disabled user', async () => {
    const s = defaultState();
    const sim = createSimulator({ state: s });
    expect((await get(sim, signed(sim, { command: 'listZones' }, { version: 1 }))).status).toBe(200);
    expect((await get(sim, signed(sim, { command: 'listZones' }, { now: Date.now() - 10 * 60_000 }))).status).toBe(401);
    // expires without signatureVersion=3 is signed but not checked (v1)
    const v1Expired = encodeParams(signParams({ command: 'listZones', response: 'json', expires: formatExpires(Date.now() - 3_600_000) }, { ...sim.adminKeys, version: 1, now: 0 }));
    expect((await get(sim, v1Expired)).status).toBe(200);
    const noExpires = signed(sim, { command: 'listZones' }, { version: 1 }) + '&signatureVersion=3';
    expect((await get(sim, noExpires)).status).toBe(401);
    const tampered = signed(sim, { command: 'listZones', name: 'zone1' }).replace('name=zone1', 'name=zone2');
    expect((await get(sim, tampered)).status).toBe(401);
    const unsigned = await get(sim, 'command=listZones&response=json');
    expect(JSON.parse(unsigned.text).listzonesresponse.errortext).toBe('unable to verify user credentials and/or request signature');

    s.settings.enforcePostRequestsAndTimestamps = true;
    const strict = createSimulator({ state: s });
    expect((await get(strict, signed(strict, { command: 'listZones' }, { version: 1 }))).status).toBe(401);
    const farAhead = encodeParams(signParams({ command: 'listZones', response: 'json' }, { ...strict.adminKeys, now: Date.now(), ttlMs: 60 * 60_000 }));
    expect((await get(strict, farAhead)).status).toBe(401);
    expect((await get(strict, signed(strict, { command: 'listZones' }))).status).toBe(200);

    strict.state.users.find((u) => u.username === 'alice')!.state = 'disabled';
    expect((await get(strict, signed(strict, { command: 'listZones' }, { user: 'alice' }))).status).toBe(401);
  });

  it('a clock the simulator is given decides expiry', async () => {
    let now = Date.parse('2030-01-01T00:00:00Z');
    const sim = createSimulator({ clock: () => now });
    const q = signed(sim, { command: 'listZones' }, { now });
    expect((await get(sim, q)).status).toBe(200);
    now += 6 * 60_000;
    expect((await get(sim, q)).status).toBe(401);
  });

  it('POST form: the query string overrides form fields; the first of repeated form fields counts', async () => {
    const sim = createSimulator();
    const body = `${signed(sim, { command: 'listZones', name: 'zone1' })}&name=ignored`;
    const res = await sim.app.request(`${BASE}/client/api`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(res.status).toBe(200);
    expect(JSON.parse(await res.text()).listzonesresponse.count).toBe(1);
    expect(parseQuery('a=1&a=2&b=x+y&c')).toEqual({ a: '2', b: 'x y' });
    expect(parseForm('a=1&a=2&b=%2B')).toEqual({ a: '1', b: '+' });
  });
});

describe('login and sessions', () => {
  it('login is POST only, sets JSESSIONID and sessionkey cookies; the sessionkey must match', async () => {
    const sim = createSimulator();
    const viaGet = await sim.app.request(`${BASE}/client/api?command=login&username=admin&password=password&response=json`);
    expect(viaGet.status).toBe(405);
    expect(await viaGet.text()).toBe('Please use HTTP POST to authenticate using this API');
    const res = await sim.app.request(`${BASE}/client/api`, {
      method: 'POST', body: 'command=login&username=alice&password=password&domain=customers&response=json',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(200);
    const login = JSON.parse(await res.text()).loginresponse;
    expect(login).toMatchObject({ username: 'alice', account: 'alice', type: '0', timeout: '1800' });
    const cookies = res.headers.getSetCookie();
    expect(cookies.some((c) => /^JSESSIONID=node0[0-9a-f]+; Path=\/client; HttpOnly$/.test(c))).toBe(true);
    expect(cookies).toContain(`sessionkey=${login.sessionkey};HttpOnly`);
    const jsid = /JSESSIONID=([^;]+)/.exec(cookies.join('\n'))![1];
    const call = (q: string, cookie: string) => sim.app.request(`${BASE}/client/api?${q}`, { headers: { cookie } });
    const ok = await call(`command=listVirtualMachines&response=json&sessionkey=${encodeURIComponent(login.sessionkey)}`, `JSESSIONID=${jsid}`);
    expect(JSON.parse(await ok.text()).listvirtualmachinesresponse.count).toBe(2);
    const cookieOnly = await call('command=listZones&response=json', `JSESSIONID=${jsid}; sessionkey=${login.sessionkey}`);
    expect(cookieOnly.status).toBe(200);
    const wrongKey = await call('command=listZones&response=json&sessionkey=guess', `JSESSIONID=${jsid}`);
    expect(wrongKey.status).toBe(401);
    expect(JSON.parse(await wrongKey.text()).listzonesresponse.errortext).toBe('unable to verify user credentials');
    // the mismatch ended the session
    expect((await call(`command=listZones&response=json&sessionkey=${login.sessionkey}`, `JSESSIONID=${jsid}`)).status).toBe(401);
    const noSession = await call(`command=listZones&response=json&sessionkey=${login.sessionkey}`, '');
    expect(noSession.status).toBe(401);
  });

  it('sessions time out', async () => {
    let now = Date.now();
    const sim = createSimulator({ clock: () => now });
    const res = await sim.app.request(`${BASE}/client/api`, { method: 'POST', body: 'command=login&username=admin&password=password&response=json', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const { sessionkey } = JSON.parse(await res.text()).loginresponse;
    const jsid = /JSESSIONID=([^;]+)/.exec(res.headers.getSetCookie().join('\n'))![1];
    const call = () => sim.app.request(`${BASE}/client/api?command=listZones&response=json&sessionkey=${encodeURIComponent(sessionkey)}`, { headers: { cookie: `JSESSIONID=${jsid}` } });
    expect((await call()).status).toBe(200);
    now += 1801_000;
    expect((await call()).status).toBe(401);
  });
});

describe('SSVM upload endpoint', () => {
  it('checks headers, content length and method like the SSVM', async () => {
    const sim = createSimulator();
    const post = (id: string, headers: Record<string, string>, body: BodyInit = 'x') => sim.app.request(`${BASE}/upload/${id}`, { method: 'POST', headers, body });
    const r1 = await post('abc', {});
    expect([r1.status, await r1.text()]).toEqual([400, 'signature, metadata and expires are compulsory fields.']);
    const r2 = await post('abc', { 'x-signature': 's', 'x-metadata': 'm', 'x-expires': 'e' });
    expect([r2.status, await r2.text()]).toEqual([400, 'content length is not set in the request or has invalid value.']);
    const r3 = await post('abc', { 'x-signature': 's', 'x-metadata': 'm', 'x-expires': 'e', 'content-length': '1' });
    expect([r3.status, await r3.text()]).toEqual([400, 'signature validation failed.']);
    const g = await sim.app.request(`${BASE}/upload/abc`);
    expect([g.status, await g.text()]).toEqual([400, 'only post requests are allowed']);
  });

  it('refuses an expired upload URL', async () => {
    let now = Date.now();
    const sim = createSimulator({ clock: () => now });
    const zone = sim.state.zones[0].id;
    const p = JSON.parse((await get(sim, signed(sim, { command: 'getUploadParamsForVolume', name: 'v', zoneid: zone, format: 'RAW' }, { now }))).text).postuploadvolumeresponse.getuploadparams;
    expect(p.expires).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    now += 61 * 60_000;
    const fd = new FormData();
    fd.append('files[]', new Blob([new Uint8Array(512)]), 'v.raw');
    const body = new Response(fd);
    const buf = new Uint8Array(await body.arrayBuffer());
    const res = await sim.app.request(p.postURL, { method: 'POST', body: buf, headers: { 'content-type': body.headers.get('content-type')!, 'content-length': String(buf.length), 'x-signature': p.signature, 'x-metadata': p.metadata, 'x-expires': p.expires } });
    expect([res.status, await res.text()]).toEqual([400, 'request not valid anymore.']);
  });
});

describe('state file', () => {
  it('fills defaults and internal ids, names instances i-<account>-<vm>-VM, and rejects bad references', () => {
    const s = defaultState();
    expect(s.vms.every((v) => /^i-\d+-\d+-VM$/.test(v.instanceName!))).toBe(true);
    const round = parseSimState(JSON.parse(JSON.stringify(s)));
    expect(round.vms.map((v) => v.instanceName)).toEqual(s.vms.map((v) => v.instanceName));
    const bad = JSON.parse(JSON.stringify(s));
    bad.vms[0].hostId = 'no-such-host';
    expect(() => parseSimState(bad)).toThrow(SimStateError);
    expect(() => parseSimState(bad)).toThrow(/vm .* refers to unknown id no-such-host/);
    expect(() => parseSimState({ zones: [] })).toThrow(/invalid state/);
  });
});
