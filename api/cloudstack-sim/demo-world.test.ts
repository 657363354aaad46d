/**
 * The demo's CloudStack: each user sees a different set of VMs, carol needs her TOTP code, and
 * the customers domain's GUI theme adds the plug-in to the menu.
 */
import { describe, expect, it } from 'vitest';
import { encodeParams, signParams } from '../cloudstack/signer.ts';
import { createSimulator } from './app.ts';
import { demoSignIns, demoWorld, DEMO_TOTP_KEY } from './demo-world.ts';
import { base32Decode, totpCode } from './totp.ts';

describe('demo world', () => {
  it('VMs of several accounts and domains: each sign-in sees its own; carol has 2FA; a GUI theme carries the plug-in', async () => {
    const disk = (n: string) => ({ file: `/var/tmp/demo/${n}.qcow2`, size: 2 ** 28 });
    const { state, vms } = demoWorld([{ libvirtDomain: 'demo-web', disks: [disk('a')] }, { libvirtDomain: 'demo-db', disks: [disk('b')] }], { pluginPath: 'http://127.0.0.1:8480/plugin/' });
    expect(vms.map((v) => `${v.name}:${v.owner}`)).toEqual(['web-1:alice', 'db-1:bob']);
    const sim = createSimulator({ state });
    const seen = async (username: string) => {
      const q = encodeParams(signParams({ command: 'listVirtualMachines', listall: 'true', response: 'json' }, { ...sim.keysOf(username), now: Date.now() }));
      const r = JSON.parse(await (await sim.app.request(`http://cs/client/api?${q}`)).text()).listvirtualmachinesresponse;
      return ((r.virtualmachine ?? []) as { name: string }[]).map((v) => v.name).sort();
    };
    expect(await seen('admin')).toEqual(['app-1', 'db-1', 'infra-1', 'web-1']);
    expect(await seen('dadmin')).toEqual(['app-1', 'web-1']);
    expect(await seen('alice')).toEqual(['web-1']);
    expect(await seen('bob')).toEqual(['db-1']);
    expect(await seen('carol')).toEqual(['app-1']);
    for (const s of demoSignIns()) {
      const sees = s.sees.match(/[a-z]+-1/g)!.sort();
      expect(sees, s.username).toEqual(await seen(s.username));
    }
    expect(base32Decode(DEMO_TOTP_KEY).toString()).toBe('sendense-demo-totp!!');
    const login = await sim.app.request('http://cs/client/api/', { method: 'POST', body: 'command=login&username=carol&password=password&domain=/customers&response=json', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const lr = JSON.parse(await login.text()).loginresponse;
    expect(lr.is2faenabled).toBe('true');
    const jsid = /JSESSIONID=([^;]+)/.exec(login.headers.getSetCookie().join(';'))![1];
    const v = await sim.app.request('http://cs/client/api/', { method: 'POST', body: `command=validateUserTwoFactorAuthenticationCode&codefor2fa=${totpCode(DEMO_TOTP_KEY, Date.now())}&sessionkey=${lr.sessionkey}&response=json`, headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `JSESSIONID=${jsid}` } });
    expect(v.status).toBe(200);
    const theme = JSON.parse(await (await sim.app.request(`http://cs/client/api/?command=listGuiThemes&response=json&sessionkey=${lr.sessionkey}&domainid=${state.domains.find((d) => d.name === 'customers')!.id}`, { headers: { cookie: `JSESSIONID=${jsid}` } })).text());
    expect(JSON.parse(theme.listguithemesresponse.guiThemes[0].jsonconfiguration)).toEqual({ plugins: [{ name: 'VM protection', path: 'http://127.0.0.1:8480/plugin/', icon: 'cloud-server-outlined' }] });
  });
});
