/**
 * The simulator as CloudStack's own web UI (4.22) uses it: `/client/api/` with the trailing
 * slash, the sessionkey as a parameter plus the JSESSIONID cookie, GET for list/get/query and
 * POST forms for the rest; the login page's calls signed out, the sign-in sequence, the
 * dashboard's calls, and two-factor authentication (TOTP and static PIN).
 */
import { describe, expect, it } from 'vitest';
import { createSimulator, type Simulator } from './app.ts';
import { COMMANDS } from './commands/index.ts';
import { defaultState } from './state.ts';
import { newTotpKey, totpCode, matchTotp, base32Decode, base32Encode, hotp } from './totp.ts';

const ORIGIN = 'http://cloud.example.com';

/** A browser's cookie jar, as far as CloudStack's cookies need: name, value and Path. */
class Jar {
  readonly cookies = new Map<string, { value: string; path: string }>();
  take(res: Response, requestPath: string) {
    for (const sc of res.headers.getSetCookie()) {
      const [pair, ...attrs] = sc.split(';').map((x) => x.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq); const value = pair.slice(eq + 1);
      const p = attrs.find((a) => /^path=/i.test(a))?.slice(5) ?? requestPath.slice(0, requestPath.lastIndexOf('/')) ?? '/';
      if (attrs.some((a) => /^max-age=0$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, { value, path: p || '/' });
    }
  }
  header(path: string): string {
    return [...this.cookies].filter(([, c]) => path === c.path || path.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)).map(([n, c]) => `${n}=${c.value}`).join('; ');
  }
}

/** The UI's api(): GET for list/get/query, POST form otherwise; sessionkey as a parameter. */
function ui(sim: Simulator) {
  const jar = new Jar();
  let sessionkey: string | undefined;
  const call = async (command: string, params: Record<string, string> = {}) => {
    const p = new URLSearchParams({ command, response: 'json', ...params, ...(sessionkey ? { sessionkey } : {}) });
    const path = '/client/api/';
    const get = /^(list|get|query|find)/.test(command);
    const res = await sim.app.request(`${ORIGIN}${path}${get ? `?${p}` : ''}`, get
      ? { headers: { cookie: jar.header(path) } }
      : { method: 'POST', body: p.toString(), headers: { cookie: jar.header(path), 'content-type': 'application/x-www-form-urlencoded' } });
    jar.take(res, path);
    const body = JSON.parse(await res.text()) as Record<string, Record<string, unknown>>;
    return { status: res.status, key: Object.keys(body)[0], body: Object.values(body)[0] };
  };
  return {
    jar, call,
    async login(username: string, password = 'password', domain = '/') {
      await call('logout');
      const r = await call('login', { username, password, domain });
      if (r.status === 200) sessionkey = r.body.sessionkey as string;
      return r;
    },
  };
}

function world() {
  const s = defaultState();
  const key = newTotpKey();
  const alice = s.users.find((u) => u.username === 'alice')!;
  s.users.push({ ...alice, id: crypto.randomUUID(), username: 'carol', apiKey: undefined, secretKey: undefined, twoFactor: { provider: 'totp', key } });
  s.users.push({ ...alice, id: crypto.randomUUID(), username: 'pin', apiKey: undefined, secretKey: undefined, twoFactor: { provider: 'staticpin', key: '4711' } });
  s.guiThemes.push({ id: crypto.randomUUID(), name: 'default', description: '', jsonConfiguration: '{"appTitle":"Cloud"}', commonNames: [], domainIds: [], accountIds: [], isPublic: true });
  s.guiThemes.push({ id: crypto.randomUUID(), name: 'customers', description: '', jsonConfiguration: '{"plugins":[{"name":"Sendense","path":"/client/plugins/sendense/plugin/","icon":"cloud-server-outlined"}]}', commonNames: ['*.example.com'], domainIds: [s.domains[1].id], accountIds: [], isPublic: true });
  return { s, key };
}

describe('the login page, signed out', () => {
  it('listGuiThemes by host name and default theme, listOauthProvider empty, forgotPassword POST, listIdps 401 (no SAML)', async () => {
    const sim = createSimulator({ state: world().s });
    const u = ui(sim);
    const byHost = await u.call('listGuiThemes', { commonname: 'cloud.example.com' });
    expect(byHost).toMatchObject({ status: 200, key: 'listguithemesresponse', body: { count: 1, guiThemes: [{ name: 'customers', commonnames: '*.example.com' }] } });
    expect((await u.call('listGuiThemes', { commonname: 'other.org' })).body).toEqual({});
    const def = await u.call('listGuiThemes', { listonlydefaulttheme: 'true' });
    expect(def.body).toMatchObject({ count: 1, guiThemes: [{ name: 'default', jsonconfiguration: '{"appTitle":"Cloud"}' }] });
    expect(await u.call('listOauthProvider')).toEqual({ status: 200, key: 'listoauthproviderresponse', body: {} });
    expect(await u.call('forgotPassword', { username: 'nobody' })).toEqual({ status: 200, key: 'forgotpasswordresponse', body: { success: true } });
    const viaGet = await sim.app.request(`${ORIGIN}/client/api/?command=forgotPassword&username=alice&response=json`);
    expect(viaGet.status).toBe(405);
    const idps = await u.call('listIdps');
    expect(idps).toMatchObject({ status: 401, body: { errorcode: 401, errortext: 'unable to verify user credentials and/or request signature' } });
    expect((await u.call('listZones')).status).toBe(401);
  });
});

describe('signing in as the UI does', () => {
  it('cookies as CloudStack sets them; every call of the sign-in and the root admin dashboard answers; listApis names only what is implemented', async () => {
    const sim = createSimulator({ state: world().s });
    const u = ui(sim);
    const login = await u.login('admin');
    expect(login).toMatchObject({ status: 200, key: 'loginresponse', body: { username: 'admin', type: '1', is2faenabled: 'false', is2faverified: 'true' } });
    expect(u.jar.cookies.get('JSESSIONID')).toMatchObject({ path: '/client' });
    // CloudStack sets sessionkey=…;HttpOnly without a Path: the browser scopes it to /client/api
    expect(u.jar.cookies.get('sessionkey')).toMatchObject({ value: login.body.sessionkey, path: '/client/api' });
    const apis = await u.call('listApis');
    expect(apis.status).toBe(200);
    const names = (apis.body.api as { name: string; params: unknown[] }[]).map((a) => a.name);
    expect(apis.body.count).toBe(names.length);
    for (const n of names) expect(n in COMMANDS || ['login', 'logout', 'validateUserTwoFactorAuthenticationCode'].includes(n)).toBe(true);
    const wanted = ['listZones', 'listUsers', 'listCapabilities', 'listLdapConfigurations', 'cloudianIsEnabled', 'listNetworks', 'listVPCs',
      'listNetworkServiceProviders', 'listProjects', 'readyForShutdown', 'listCapacity', 'listPods', 'listClusters', 'listHosts', 'listStoragePools',
      'listSystemVms', 'listRouters', 'listVirtualMachines', 'listAlerts', 'listEvents'];
    for (const n of wanted) expect(names).toContain(n);
    expect(names).not.toContain('listIdps');

    const expectList = async (command: string, params: Record<string, string>, key: string, item?: string) => {
      const r = await u.call(command, params);
      expect(r.status, `${command}: ${JSON.stringify(r.body)}`).toBe(200);
      expect(r.key).toBe(key);
      if (item) expect(Array.isArray(r.body[item]), `${command} has ${item}[]`).toBe(true);
      return r.body;
    };
    await expectList('listZones', {}, 'listzonesresponse', 'zone');
    await expectList('listUsers', { username: 'admin' }, 'listusersresponse', 'user');
    expect((await expectList('listCapabilities', {}, 'listcapabilitiesresponse')).capability).toMatchObject({ cloudstackversion: '4.22.0.0' });
    expect(await expectList('listLdapConfigurations', {}, 'ldapconfigurationresponse')).toEqual({});
    expect((await u.call('cloudianIsEnabled')).body).toEqual({ cloudianisenabled: { enabled: false, url: '' } });
    expect(await expectList('listNetworks', { restartrequired: 'true', listall: 'true' }, 'listnetworksresponse')).toEqual({});
    expect(await expectList('listVPCs', { restartrequired: 'true', listall: 'true' }, 'listvpcsresponse')).toEqual({});
    await expectList('listNetworkServiceProviders', {}, 'listnetworkserviceprovidersresponse', 'networkserviceprovider');
    expect(await expectList('listProjects', { listall: 'true' }, 'listprojectsresponse')).toEqual({});
    const saml = await u.call('listAndSwitchSamlAccount');
    expect(saml).toMatchObject({ status: 200, key: 'listandswitchsamlaccountresponse', body: { count: 1, samluseraccount: [{ accountname: 'admin' }] } });
    expect((await u.call('readyForShutdown')).body).toMatchObject({ readyforshutdown: { shutdowntriggered: false, pendingjobscount: 0 } });
    const cap = await expectList('listCapacity', { fetchlatest: 'true', sortby: 'usage' }, 'listcapacityresponse', 'capacity');
    expect((cap.capacity as { name: string }[]).map((c) => c.name)).toEqual(['MEMORY', 'CPU', 'STORAGE', 'STORAGE_ALLOCATED']);
    await expectList('listPods', {}, 'listpodsresponse', 'pod');
    await expectList('listClusters', {}, 'listclustersresponse', 'cluster');
    await expectList('listHosts', { type: 'Routing' }, 'listhostsresponse', 'host');
    await expectList('listStoragePools', {}, 'liststoragepoolsresponse', 'storagepool');
    const svms = await expectList('listSystemVms', {}, 'listsystemvmsresponse', 'systemvm');
    expect((svms.systemvm as { systemvmtype: string }[]).map((v) => v.systemvmtype)).toEqual(['secondarystoragevm', 'consoleproxy']);
    expect(await expectList('listRouters', { listall: 'true' }, 'listroutersresponse')).toEqual({});
    await expectList('listVirtualMachines', { listall: 'true' }, 'listvirtualmachinesresponse', 'virtualmachine');
    expect(await expectList('listAlerts', {}, 'listalertsresponse')).toEqual({});
    const events = await expectList('listEvents', {}, 'listeventsresponse', 'event');
    expect((events.event as { type: string }[])[0].type).toBe('USER.LOGIN');
    // signed-in listGuiThemes filters by domain
    const themes = await u.call('listGuiThemes', { domainid: sim.state.domains[1].id });
    expect(themes.body).toMatchObject({ count: 1, guiThemes: [{ name: 'customers' }] });
  });

  it("a user's listApis leaves out admin commands, and calling one is a 432", async () => {
    const sim = createSimulator({ state: world().s });
    const u = ui(sim);
    await u.login('alice', 'password', '/customers');
    const names = ((await u.call('listApis')).body.api as { name: string }[]).map((a) => a.name);
    expect(names).toContain('listVirtualMachines');
    for (const admin of ['listHosts', 'listCapacity', 'readyForShutdown', 'listSystemVms']) expect(names).not.toContain(admin);
    expect((await u.call('listCapacity')).status).toBe(432);
    expect((await u.call('listZones')).status).toBe(200);
  });

  it('a sessionkey that does not match ends the session; a disabled account loses its session', async () => {
    const sim = createSimulator({ state: world().s });
    const u = ui(sim);
    await u.login('alice', 'password', '/customers');
    expect((await u.call('listZones')).status).toBe(200);
    sim.state.accounts.find((a) => a.name === 'alice')!.state = 'disabled';
    expect((await u.call('listZones'))).toMatchObject({ status: 401, body: { errortext: 'unable to verify user credentials' } });
    sim.state.accounts.find((a) => a.name === 'alice')!.state = 'enabled';
    expect((await u.call('listZones')).status).toBe(401); // the session is gone
    const jsid = u.jar.cookies.get('JSESSIONID')!.value;
    await u.login('alice', 'password', '/customers');
    expect(u.jar.cookies.get('JSESSIONID')!.value).not.toBe(jsid);
    const forged = await sim.app.request(`${ORIGIN}/client/api/?command=listZones&response=json&sessionkey=forged`, { headers: { cookie: `JSESSIONID=${u.jar.cookies.get('JSESSIONID')!.value}` } });
    expect(forged.status).toBe(401);
    expect((await u.call('listZones')).status).toBe(401);
  });
});

describe('two-factor authentication', () => {
  it('TOTP (RFC 6238 test vector, Base32 round trip)', () => {
    // RFC 6238 appendix B, SHA1, key "12345678901234567890", T = 59 s → 94287082 (8 digits): the last 6 are 287082
    const key = base32Encode(Buffer.from('12345678901234567890'));
    expect(base32Decode(key).toString()).toBe('12345678901234567890');
    expect(totpCode(key, 59_000)).toBe('287082');
    expect(totpCode(key, 1111111109_000)).toBe('081804');
    expect(hotp(Buffer.from('12345678901234567890'), 0)).toBe('755224'); // RFC 4226 appendix D
    expect(matchTotp(key, '287082', 59_000 + 30_000)).toBe(1);
    expect(matchTotp(key, '287082', 59_000 + 60_000)).toBeUndefined();
    expect(matchTotp(key, '287082', 59_000, { lastUsedStep: 1 })).toBeUndefined();
  });

  it('login answers is2faenabled=true/is2faverified=false; the session does nothing else until the code is right; a code works once', async () => {
    let now = Date.parse('2030-01-01T00:00:10Z');
    const { s, key } = world();
    const sim = createSimulator({ state: s, clock: () => now });
    const u = ui(sim);
    const login = await u.login('carol', 'password', '/customers');
    expect(login.body).toMatchObject({ is2faenabled: 'true', is2faverified: 'false', providerfor2fa: 'totp', issuerfor2fa: 'CloudStack' });
    expect((await u.call('listApis')).status).toBe(200); // allowed before 2FA
    const blocked = await u.call('listZones');
    expect(blocked).toMatchObject({ status: 511, body: { errorcode: 511 } });
    expect(blocked.body.errortext).toMatch(/2FA is enabled but not verified, please verify 2FA using validateUserTwoFactorAuthenticationCode/);
    expect((await u.call('validateUserTwoFactorAuthenticationCode', { codefor2fa: totpCode(key, now) })).status).toBe(401); // that session ended

    await u.login('carol', 'password', '/customers');
    const wrong = await u.call('validateUserTwoFactorAuthenticationCode', { codefor2fa: '000000' === totpCode(key, now) ? '111111' : '000000' });
    expect(wrong).toMatchObject({ status: 511, body: { errortext: 'two-factor authentication code provided is invalid' } });
    expect((await u.call('listZones')).status).toBe(401);

    await u.login('carol', 'password', '/customers');
    const ok = await u.call('validateUserTwoFactorAuthenticationCode', { codefor2fa: totpCode(key, now) });
    expect(ok).toEqual({ status: 200, key: 'validateusertwofactorauthenticationcoderesponse', body: { success: true } });
    expect((await u.call('listZones')).status).toBe(200);

    // the same code again (same 30 s step) on a new session: refused (replay)
    await u.login('carol', 'password', '/customers');
    expect((await u.call('validateUserTwoFactorAuthenticationCode', { codefor2fa: totpCode(key, now) })).status).toBe(511);
    now += 30_000;
    await u.login('carol', 'password', '/customers');
    expect((await u.call('validateUserTwoFactorAuthenticationCode', { codefor2fa: totpCode(key, now) })).status).toBe(200);
    const me = await u.call('listUsers', { username: 'carol' });
    expect(me.body).toMatchObject({ user: [{ username: 'carol', is2faenabled: true, providerfor2fa: 'totp' }] });
  });

  it('static PIN; the 2FA command without a session is a 401', async () => {
    const sim = createSimulator({ state: world().s });
    const u = ui(sim);
    await u.login('pin', 'password', '/customers');
    expect((await u.call('validateUserTwoFactorAuthenticationCode', { codefor2fa: '4711' })).status).toBe(200);
    expect((await u.call('listVirtualMachines')).status).toBe(200);
    const anon = await sim.app.request(`${ORIGIN}/client/api/`, { method: 'POST', body: 'command=validateUserTwoFactorAuthenticationCode&codefor2fa=1&response=json', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(anon.status).toBe(401);
  });
});
