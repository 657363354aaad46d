/**
 * @layer entry
 * A control plane for tests: the CloudStack simulator (in memory, its fetch straight into its
 * app), a real SQLite file in a temp directory, the in-memory agent, and helpers to sign in as
 * a simulator user, call the API with a token or a CloudStack API key signature, and re-create
 * the control plane over the same database file (a restart, or a kill: `stop` writes nothing).
 *
 * The world: the simulator's default (zone1, host kvm1, ROOT with admin, domain "customers"
 * with domain admin dadmin and user alice: web-1 running, db-1 stopped, admin's infra-1) plus a
 * user bob in "customers" (vm bob-1) and a domain "other" with user carol (vm carol-1), so
 * every role has VMs it may and may not see.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openStore } from '../../db/open.ts';
import type { Store } from '../../db/store.ts';
import { MemoryAgentGateway } from '../agents/memory.ts';
import type { AgentBackupRequest, AgentGateway } from '../agents/port.ts';
import { targetOfDevice } from '../agents/targets.ts';
import { signApiRequest } from '../auth/request-signature.ts';
import { createSimulator, type Simulator } from '../cloudstack-sim/app.ts';
import { defaultState, newKey, parseSimState, type SimState } from '../cloudstack-sim/state.ts';
import { createControlPlane, type ControlPlane, type ControlPlaneOptions, type StartOptions } from '../control-plane.ts';

export const ENDPOINT = 'http://cloudstack.test/client/api';
export const BASE = 'http://sendense.test';
export const REPO_URL = 'ssh://sendense-repo@127.0.0.1/srv/sendense';

export function testWorld(): SimState {
  const s = defaultState();
  const customers = s.domains.find((d) => d.name === 'customers')!;
  const root = s.domains.find((d) => !d.parentId)!;
  const other = { id: randomUUID(), name: 'other', parentId: root.id };
  const bob = { id: randomUUID(), name: 'bob', domainId: customers.id, type: 0 as const };
  const carol = { id: randomUUID(), name: 'carol', domainId: other.id, type: 0 as const };
  const template = s.vms[0];
  const pool = s.storagePools[0];
  const vm = (name: string, accountId: string) => ({
    id: randomUUID(), name, displayName: name, accountId, zoneId: template.zoneId, hostId: template.hostId, state: 'Running' as const,
    serviceOfferingId: template.serviceOfferingId, templateId: template.templateId,
  });
  const bobVm = vm('bob-1', bob.id);
  const carolVm = vm('carol-1', carol.id);
  const vol = (vmId: string, accountId: string, name: string) => ({
    id: randomUUID(), name, type: 'ROOT' as const, vmId, deviceId: 0, size: 4 * 2 ** 30, poolId: pool.id, path: randomUUID(), accountId, zoneId: template.zoneId,
  });
  return parseSimState({
    ...s,
    domains: [...s.domains, other],
    accounts: [...s.accounts, bob, carol],
    users: [
      ...s.users,
      { id: randomUUID(), username: 'bob', accountId: bob.id, password: 'password', apiKey: newKey(), secretKey: newKey() },
      { id: randomUUID(), username: 'carol', accountId: carol.id, password: 'password', apiKey: newKey(), secretKey: newKey() },
    ],
    vms: [...s.vms, bobVm, carolVm],
    volumes: [...s.volumes, vol(bobVm.id, bob.id, 'ROOT-bob'), vol(carolVm.id, carol.id, 'ROOT-carol')],
  });
}

/** The in-memory agent's view of a simulator VM's disks: its volumes' device ids as libvirt targets. */
export function disksOf(sim: Simulator): (req: AgentBackupRequest) => { target: string; size: number }[] {
  return (req) => sim.state.volumes.filter((v) => v.vmId === req.vmId).sort((a, b) => (a.deviceId ?? 0) - (b.deviceId ?? 0))
    .map((v) => ({ target: targetOfDevice(v.deviceId ?? 0), size: v.size }));
}

export interface Fixture {
  dir: string;
  dbPath: string;
  sim: Simulator;
  gateway: AgentGateway;
  memory?: MemoryAgentGateway;
  cp: ControlPlane;
  store: Store;
  vmId(name: string): string;
  /** signs in through the API; the token */
  login(username: string, domain?: string): Promise<string>;
  /** a request with a Bearer token (or none) */
  req(method: string, p: string, opts?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  /** a request signed with the user's CloudStack API key */
  signed(username: string, method: string, p: string, opts?: { body?: unknown; now?: number; ttlMs?: number; tamper?: (url: string) => string }): Promise<Response>;
  /** a new control plane over the same database file and gateway; the old one is stopped (written nothing more) */
  restart(opts?: { kill?: boolean }): Promise<ControlPlane>;
  close(): Promise<void>;
}

export async function makeFixture(o: {
  state?: SimState;
  gateway?: AgentGateway;
  options?: Partial<ControlPlaneOptions>;
  discover?: boolean;
  /** periodic tasks (default: none, tests call them) */
  start?: StartOptions;
} = {}): Promise<Fixture> {
  const dir = mkdtempSync(path.join(tmpdir(), 'sendense-cp-'));
  const dbPath = path.join(dir, 'sendense.db');
  const sim = createSimulator({ state: o.state ?? testWorld(), asyncDelayMs: 5 });
  const memory = o.gateway ? undefined : new MemoryAgentGateway({ tickMs: 5, disksOf: disksOf(sim) });
  const gateway = o.gateway ?? memory!;
  let store = openStore(dbPath);
  await store.repositories.sync([{ name: 'repo1', url: REPO_URL, kind: 'ssh', isDefault: true, capacityBytes: 2 ** 40 }]);
  const make = (s: Store) => createControlPlane({
    store: s, gateway, tokenSecret: 'test-secret-that-is-long-enough-0123456789',
    cloudstack: { endpoint: ENDPOINT, credentials: sim.adminKeys, fetch: sim.fetch },
    pollMs: 20, progressWriteMs: 0, log: () => {},
    clientAddress: (c) => c.req.header('x-test-client') ?? '192.0.2.10',
    ...o.options,
  });
  let cp = make(store);
  await cp.start({ discoveryIntervalSeconds: 0, schedulerTickSeconds: 0, heartbeatSeconds: 0, discoverNow: o.discover ?? true, ...o.start });

  const f: Fixture = {
    dir, dbPath, sim, gateway, memory, cp, store,
    vmId(name) {
      const vm = sim.state.vms.find((v) => v.name === name);
      if (!vm) throw new Error(`no VM ${name} in the simulator`);
      return vm.id;
    },
    async login(username, domain) {
      const u = sim.state.users.find((x) => x.username === username)!;
      const acct = sim.state.accounts.find((a) => a.id === u.accountId)!;
      const dom = domain ?? (acct.domainId === sim.state.domains.find((d) => !d.parentId)!.id ? '/' : undefined);
      const res = await f.req('POST', '/api/v1/auth/login', { body: { username, password: u.password, ...(dom ? { domain: dom } : { domainId: acct.domainId }) } });
      if (res.status !== 200) throw new Error(`login of ${username}: ${res.status} ${await res.text()}`);
      return ((await res.json()) as { token: string }).token;
    },
    async req(method, p, opts = {}) {
      const headers: Record<string, string> = { ...opts.headers };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      let body: string | undefined;
      if (opts.body !== undefined) { body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body); headers['content-type'] ??= 'application/json'; }
      return f.cp.app.request(`${BASE}${p}`, { method, headers, body });
    },
    async signed(username, method, p, opts = {}) {
      const keys = sim.keysOf(username);
      const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
      let url = signApiRequest({ method, url: `${BASE}${p}`, body, ...keys, now: opts.now, ttlMs: opts.ttlMs });
      if (opts.tamper) url = opts.tamper(url);
      return f.cp.app.request(url, { method, body, headers: body ? { 'content-type': 'application/json' } : {} });
    },
    async restart(r = {}) {
      await f.cp.stop();
      if (r.kill) f.store.close();
      store = r.kill ? openStore(dbPath) : store;
      f.store = store;
      cp = make(store);
      f.cp = cp;
      await cp.start({ discoveryIntervalSeconds: 0, schedulerTickSeconds: 0, heartbeatSeconds: 0, discoverNow: false });
      return cp;
    },
    async close() {
      await f.cp.stop();
      f.store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return f;
}
