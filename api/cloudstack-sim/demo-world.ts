/**
 * @layer logic
 * The CloudStack `sendense demo` shows (issue 10 §1): accounts in more than one domain, so
 * signing in as each user shows a different set of VMs.
 *
 *   ROOT                 admin   (root admin)          infra-1 (listed only)
 *   ROOT/customers       dadmin  (domain admin of customers: sees alice's and carol's VMs)
 *                        alice   (user)                web-1  (a real lab VM)
 *                        carol   (user, two-factor TOTP) app-1 (listed only)
 *   ROOT/partners        bob     (user)                db-1   (a real lab VM)
 *
 * Every password is `password`. carol's TOTP key is fixed (`DEMO_TOTP_KEY`) so the demo can print
 * an otpauth:// URI for an authenticator app and the current code. "Listed only" VMs have no disks
 * on this machine: backing one up fails with the agent's error (the demo's failing example).
 * A GUI theme for the customers domain adds the plug-in to CloudStack's menu (createGuiTheme's
 * jsonconfiguration.plugins).
 */
import { randomUUID } from 'node:crypto';
import { addMappedVm, defaultState, newKey, parseSimState, type MappedDisk, type SimState } from './state.ts';

/** Base32 of "sendense-demo-totp!!" (20 bytes) */
export const DEMO_TOTP_KEY = 'ONSW4ZDFNZZWKLLEMVWW6LLUN52HAIJB';

export interface DemoVmSpec {
  libvirtDomain: string;
  domainXmlPath?: string;
  disks: MappedDisk[];
}

export interface DemoWorld {
  state: SimState;
  /** the two real VMs: web-1 (alice) and db-1 (bob) */
  vms: { name: string; vmId: string; owner: string }[];
}

/** The demo's world; `real` are the two lab VMs (web-1 for alice, db-1 for bob). `pluginPath` goes into the GUI theme. */
export function demoWorld(real: [DemoVmSpec, DemoVmSpec], opts: { pluginPath?: string } = {}): DemoWorld {
  const base = defaultState();
  const root = base.domains.find((d) => !d.parentId)!;
  const customers = base.domains.find((d) => d.name === 'customers')!;
  const partners = { id: randomUUID(), name: 'partners', parentId: root.id, state: 'Active' as const };
  const bob = { id: randomUUID(), name: 'bob', domainId: partners.id, type: 0 as const, state: 'enabled' as const };
  const carol = { id: randomUUID(), name: 'carol', domainId: customers.id, type: 0 as const, state: 'enabled' as const };
  const admin = base.accounts.find((a) => a.type === 1)!;
  const user = (username: string, accountId: string, firstname: string, extra: Record<string, unknown> = {}) => ({
    id: randomUUID(), username, accountId, password: 'password', apiKey: newKey(), secretKey: newKey(), firstname, lastname: 'Demo', ...extra,
  });
  const offering = base.serviceOfferings[0].id;
  const template = base.templates[0].id;
  const zone = base.zones[0].id;
  const listed = (name: string, accountId: string) => ({
    id: randomUUID(), name, displayName: name, accountId, zoneId: zone, state: 'Stopped' as const, serviceOfferingId: offering, templateId: template,
  });
  const infra = listed('infra-1', admin.id);
  const app = listed('app-1', carol.id);
  const pool = base.storagePools[0].id;
  const vol = (vmId: string, accountId: string, name: string) => ({
    id: randomUUID(), name, type: 'ROOT' as const, vmId, deviceId: 0, size: 8 * 2 ** 30, poolId: pool, path: randomUUID(), accountId, zoneId: zone,
  });
  const state = parseSimState({
    ...base,
    settings: { ...base.settings },
    domains: [...base.domains, partners],
    accounts: [...base.accounts, bob, carol],
    users: [...base.users, user('bob', bob.id, 'Bob'), user('carol', carol.id, 'Carol', { twoFactor: { provider: 'totp', key: DEMO_TOTP_KEY } })],
    vms: [infra, app],
    volumes: [vol(infra.id, admin.id, 'ROOT-infra-1'), vol(app.id, carol.id, 'ROOT-app-1')],
  });
  if (opts.pluginPath) setPluginTheme(state, opts.pluginPath);
  const alice = state.accounts.find((a) => a.name === 'alice')!;
  const vms = real.map((spec, i) => {
    const name = i === 0 ? 'web-1' : 'db-1';
    const { vmId } = addMappedVm(state, { name, libvirtDomain: spec.libvirtDomain, domainXmlPath: spec.domainXmlPath, running: true, disks: spec.disks, accountId: i === 0 ? alice.id : bob.id });
    return { name, vmId, owner: i === 0 ? 'alice' : 'bob' };
  });
  return { state, vms };
}

/** The customers domain's GUI theme (createGuiTheme): its jsonconfiguration adds the plug-in at `pluginPath` to the menu. */
export function setPluginTheme(state: SimState, pluginPath: string): void {
  const customers = state.domains.find((d) => d.name === 'customers');
  if (!customers) return;
  const jsonConfiguration = JSON.stringify({ plugins: [{ name: 'VM protection', path: pluginPath, icon: 'cloud-server-outlined' }] });
  const t = state.guiThemes.find((x) => x.name === 'customers');
  if (t) { t.jsonConfiguration = jsonConfiguration; return; }
  state.guiThemes.push({
    id: randomUUID(), name: 'customers', description: 'adds Sendense to the menu of the customers domain', jsonConfiguration,
    domainIds: [customers.id], commonNames: [], accountIds: [], isPublic: true,
  });
}

/** What to type where: the users, what each sees, and carol's authenticator URI. */
export function demoSignIns(): { username: string; domain: string; role: string; sees: string; note?: string }[] {
  return [
    { username: 'admin', domain: '/', role: 'root admin', sees: 'every VM (web-1, db-1, infra-1, app-1) and the infrastructure' },
    { username: 'dadmin', domain: '/customers', role: 'domain admin of customers', sees: 'web-1 and app-1' },
    { username: 'alice', domain: '/customers', role: 'user', sees: 'web-1' },
    { username: 'bob', domain: '/partners', role: 'user', sees: 'db-1' },
    { username: 'carol', domain: '/customers', role: 'user with two-factor sign-in (TOTP)', sees: 'app-1', note: `otpauth://totp/CloudStack:carol?secret=${DEMO_TOTP_KEY}&issuer=CloudStack` },
  ];
}
