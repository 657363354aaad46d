/**
 * The whole system on this machine, for end-to-end tests (as `sendense demo` builds it, without
 * the HTTP server): the CloudStack simulator served on a loopback port (its SSVM upload URL is
 * reachable by the agent; uploads land in files), lab VMs mapped as CloudStack VMs, the real
 * agent daemon reached over SSH (loopback sshd), an SSH repository host, and the control plane on
 * a SQLite file, discovered and heartbeated. `api(method, path, body)` calls the API as admin.
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { openStore } from '../../db/open.ts';
import { createLinkGateway } from '../../api/agents/link-gateway.ts';
import { createSimulator, type Simulator } from '../../api/cloudstack-sim/app.ts';
import { serveSimulator, type ServedSimulator } from '../../api/cloudstack-sim/serve.ts';
import { addMappedVm, defaultState } from '../../api/cloudstack-sim/state.ts';
import { createVirshHypervisor } from '../../api/cloudstack-sim/virsh-hypervisor.ts';
import { createControlPlane, type ControlPlane } from '../../api/control-plane.ts';
import { daemonDir, spawnDaemon } from '../lab/agent-daemon.ts';
import { labDir } from '../lab/paths.ts';
import { REPO_USER, startRepoHost, type RepoHost } from '../lab/sshd.ts';
import { createLabVm, type LabDiskSpec, type LabVm } from '../lab/vm.ts';

export interface E2eVm {
  lab: LabVm;
  /** the CloudStack VM id */
  vmId: string;
  volumeIds: string[];
}

export interface E2eWorld {
  sim: Simulator;
  served: ServedSimulator;
  cp: ControlPlane;
  repo: RepoHost;
  uploadDir: string;
  vms: Record<string, E2eVm>;
  api(method: string, p: string, body?: unknown): Promise<Response>;
  close(): Promise<void>;
}

export async function startWorld(label: string, vms: Record<string, LabDiskSpec[]>): Promise<E2eWorld> {
  const cleanups: (() => Promise<unknown>)[] = [];
  const close = async () => { for (const c of cleanups.reverse()) await c().catch(() => {}); };
  try {
    const kvm = await startRepoHost({ label: `${label}-kvm` });
    cleanups.push(() => kvm.stop());
    const repo = await startRepoHost({ label: `${label}-repo` });
    cleanups.push(() => repo.stop());
    const agent = await spawnDaemon({ dir: daemonDir(`${label}-agent`), socketOwner: REPO_USER });
    cleanups.push(async () => { agent.kill('SIGTERM'); await agent.exited; });
    const state = defaultState();
    state.vms = [];
    state.volumes = [];
    const mapped: Record<string, E2eVm> = {};
    for (const [name, disks] of Object.entries(vms)) {
      const lab = await createLabVm({ label: `${label}-${name}`, transient: true, disks });
      cleanups.push(() => lab.remove());
      const m = addMappedVm(state, {
        name, libvirtDomain: lab.name, domainXmlPath: path.join(lab.dir, 'domain.xml'), running: true,
        disks: lab.disks.map((d) => ({ file: d.path, size: d.size, format: d.format })),
      });
      mapped[name] = { lab, ...m };
    }
    const uploadDir = labDir(`${label}-uploads`);
    mkdirSync(uploadDir, { recursive: true });
    const sim = createSimulator({ state, hypervisor: createVirshHypervisor(), uploadDir, asyncDelayMs: 20 });
    const served = await serveSimulator(sim, { port: 0 });
    cleanups.push(() => served.close());
    const gateway = createLinkGateway({
      access: () => ({
        host: kvm.host, port: kvm.port, username: kvm.user, identityFile: kvm.identityFile, knownHostsFile: kvm.knownHostsFile,
        socketPath: agent.socketPath, repoIdentity: repo.identityFile, repoKnownHosts: repo.knownHostsFile,
      }),
    });
    cleanups.push(() => gateway.close());
    const dbDir = labDir(`${label}-db`);
    mkdirSync(dbDir, { recursive: true });
    const store = openStore(path.join(dbDir, 'sendense.db'));
    cleanups.push(async () => { store.close(); rmSync(dbDir, { recursive: true, force: true }); });
    await store.repositories.sync([{ name: 'e2e', url: repo.url('backups'), kind: 'ssh', isDefault: true, capacityBytes: 2 ** 40 }]);
    const cp = createControlPlane({
      store, gateway, tokenSecret: 'e2e-secret-that-is-long-enough-0123456789',
      cloudstack: { endpoint: served.endpoint, credentials: sim.adminKeys }, pollMs: 200, progressWriteMs: 200,
      log: (m) => { if (process.env.SENDENSE_DEBUG) process.stderr.write(`${m}\n`); },
    });
    cleanups.push(() => cp.stop());
    await cp.start({ discoveryIntervalSeconds: 0, schedulerTickSeconds: 0, heartbeatSeconds: 0 });
    await cp.heartbeat();
    const login = await cp.app.request('http://sendense.test/api/v1/auth/login', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'password', domain: '/' }),
    });
    if (login.status !== 200) throw new Error(`[e2e] admin login: ${login.status} ${await login.text()}`);
    const { token } = (await login.json()) as { token: string };
    return {
      sim, served, cp, repo, uploadDir, vms: mapped, close,
      api: (method, p, body) => Promise.resolve(cp.app.request(`http://sendense.test${p}`, {
        method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      })),
    };
  } catch (e) {
    await close();
    throw e;
  }
}
