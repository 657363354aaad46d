/**
 * The whole product on this machine, for end-to-end tests and benchmarks (the same wiring as
 * `sendense demo`): lab VMs (transient TCG guests with real qcow2 disks) known to the CloudStack
 * simulator as its VMs on one KVM host; that host reached over a loopback sshd, behind which the
 * real agent daemon (`sendense-agent serve`) runs; a repository host (another loopback sshd); and
 * the control plane (`startServer`) on a real SQLite file, listening on a loopback port.
 *
 * Generic on purpose (other tests reuse it): the caller says which VMs and disks, and the
 * per-host and agent concurrency. Needs the lab (libvirt started: vitest's global setup, or the
 * bench's main). Every VM is owned by the simulator's user `alice` (password 'password'); `admin`
 * is root admin. `close()` removes what it started, in reverse order.
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { createLabVm, type LabDiskSpec, type LabVm } from '../lab/vm.ts';
import { startRepoHost, REPO_USER, type RepoHost } from '../lab/sshd.ts';
import { labDir, labName, runId } from '../lab/paths.ts';
import { createNetns, type LabNetns } from '../lab/netns.ts';
import { shapeLink } from '../lab/shape-link.ts';
import { daemonDir, labAllow, spawnDaemon, type SpawnedDaemon } from '../lab/agent-daemon.ts';
import { cli, sameContent, sshArgs } from '../agent/fixture.ts';
import { createSimulator, type Simulator } from '../../api/cloudstack-sim/app.ts';
import { serveSimulator } from '../../api/cloudstack-sim/serve.ts';
import { addMappedVm, defaultState } from '../../api/cloudstack-sim/state.ts';
import { createVirshHypervisor } from '../../api/cloudstack-sim/virsh-hypervisor.ts';
import { parseConfig } from '../../api/config.ts';
import { startServer, type RunningServer } from '../../api/server.ts';
import { createLinkGateway } from '../../api/agents/link-gateway.ts';

export interface E2eVmSpec {
  /** the CloudStack name (and the lab domain's label) */
  name: string;
  disks: LabDiskSpec[];
}

export interface E2eOptions {
  /** names the lab resources (default 'e2e') */
  label?: string;
  vms: E2eVmSpec[];
  /** the control plane's jobs per host at once (config agents.perHostConcurrency; default 2) */
  perHostConcurrency?: number;
  /** the agent daemon's jobs at once (--concurrency; default: perHostConcurrency) */
  agentConcurrency?: number;
  /**
   * The repository host in a network namespace of its own, the link to it shaped to this many
   * Mbit/s (tc tbf): a backup that takes long enough to act on while it runs, without a big disk.
   */
  repoRateMbit?: number;
  /** the control plane's log lines (default: dropped) */
  log?: (m: string) => void;
}

export interface E2eVm {
  name: string;
  /** CloudStack's VM id: what the API takes */
  id: string;
  lab: LabVm;
}

export interface E2e {
  vms: E2eVm[];
  vm(name: string): E2eVm;
  server: RunningServer;
  /** the control plane's base URL (http://127.0.0.1:PORT) */
  url: string;
  sim: Simulator;
  kvm: RepoHost;
  repo: RepoHost;
  /** the repository's URL as the control plane knows it */
  repoUrl: string;
  agent: SpawnedDaemon;
  /** signs in through the API (password 'password'); the token */
  login(username?: string): Promise<string>;
  /** fetch against the control plane, with `Authorization: Bearer token` when given */
  api(pathAndQuery: string, init?: RequestInit & { token?: string }): Promise<Response>;
  /**
   * Restores one disk of a recorded point with the agent CLI straight from the repository and
   * compares it with `truth` (a raw file, LabVm.truth): true when identical.
   */
  sameAsTruth(point: { vmUuid: string; pointId: string }, disk: string, truth: string): Promise<boolean>;
  close(): Promise<void>;
}

export async function startE2e(o: E2eOptions): Promise<E2e> {
  const label = o.label ?? 'e2e';
  const cleanups: (() => Promise<unknown>)[] = [];
  const close = async () => { for (const c of cleanups.splice(0).reverse()) await c().catch(() => {}); };
  try {
    const kvm = await startRepoHost({ label: `${label}-kvm` });
    cleanups.push(() => kvm.stop());
    let netns: LabNetns | undefined;
    if (o.repoRateMbit) {
      netns = await createNetns(`${label}-ns`);
      const ns = netns;
      cleanups.push(() => ns.remove());
      await shapeLink(ns, o.repoRateMbit);
    }
    const repo = await startRepoHost({ label: `${label}-repo`, netns });
    cleanups.push(() => repo.stop());
    const per = o.perHostConcurrency ?? 2;
    // the daemon's policy allows the lab's loopback repositories; a repository behind a shaped link sits at the namespace's address
    const allow = labAllow();
    if (netns) allow.repositories = [...(allow.repositories as unknown[]), { url: `ssh://${REPO_USER}@${netns.address}:*/` }];
    const agent = await spawnDaemon({ dir: daemonDir(`${label}-agent`), socketOwner: REPO_USER, concurrency: o.agentConcurrency ?? per, allow });
    cleanups.push(async () => { agent.kill('SIGTERM'); await agent.exited; });

    const labVms = await Promise.all(o.vms.map(async (spec) => {
      const vm = await createLabVm({ label: `${label}-${spec.name}`, transient: true, disks: spec.disks });
      cleanups.push(() => vm.remove());
      return vm;
    }));
    const state = defaultState();
    state.vms = [];
    state.volumes = [];
    const vms = o.vms.map((spec, i) => {
      const lab = labVms[i];
      const { vmId } = addMappedVm(state, {
        name: spec.name, libvirtDomain: lab.name, domainXmlPath: path.join(lab.dir, 'domain.xml'), running: true,
        disks: lab.disks.map((d) => ({ file: d.path, size: d.size, format: d.format })),
      });
      return { name: spec.name, id: vmId, lab };
    });
    const sim = createSimulator({ state, hypervisor: createVirshHypervisor() });
    const served = await serveSimulator(sim, { port: 0 });
    cleanups.push(() => served.close());

    const dataDir = labDir('runs', runId(), labName(`${label}-cp`));
    mkdirSync(dataDir, { recursive: true });
    const repoUrl = repo.url('backups');
    const config = parseConfig(JSON.stringify({
      listen: { host: '127.0.0.1', port: 0 },
      database: { path: path.join(dataDir, 'sendense.db') },
      cloudstack: { endpoint: served.endpoint, apiKey: sim.adminKeys.apiKey, secretKey: sim.adminKeys.secretKey, insecure: true },
      auth: { tokenSecret: randomBytes(32).toString('hex') },
      repositories: [{ name: 'e2e', url: repoUrl, default: true }],
      agents: { user: REPO_USER, socketPath: agent.socketPath, heartbeatSeconds: 10, perHostConcurrency: per },
    }), {}, label);
    const gateway = createLinkGateway({
      access: () => ({
        host: kvm.host, port: kvm.port, username: kvm.user, identityFile: kvm.identityFile, knownHostsFile: kvm.knownHostsFile,
        socketPath: agent.socketPath, repoIdentity: repo.identityFile, repoKnownHosts: repo.knownHostsFile,
      }),
    });
    cleanups.push(() => gateway.close());
    const server = await startServer(config, { gateway: () => gateway, log: o.log ?? (() => {}) });
    cleanups.push(() => server.close());

    const api = (p: string, init: RequestInit & { token?: string } = {}) => {
      const { token, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (token) headers.set('authorization', `Bearer ${token}`);
      if (rest.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
      return fetch(`${server.url}${p}`, { ...rest, headers });
    };
    return {
      vms, server, url: server.url, sim, kvm, repo, repoUrl, agent, api, close,
      vm(name) {
        const v = vms.find((x) => x.name === name);
        if (!v) throw new Error(`[e2e] no VM ${name}`);
        return v;
      },
      async login(username = 'admin') {
        const user = sim.state.users.find((u) => u.username === username);
        const domainId = sim.state.accounts.find((a) => a.id === user?.accountId)?.domainId;
        const r = await api('/api/v1/auth/login', { method: 'POST', body: JSON.stringify({ username, password: 'password', ...(domainId ? { domainId } : {}) }) });
        if (!r.ok) throw new Error(`[e2e] sign-in of ${username}: ${r.status} ${await r.text()}`);
        return ((await r.json()) as { token: string }).token;
      },
      async sameAsTruth(point, disk, truth) {
        const to = path.join(dataDir, `restore-${point.pointId}-${disk}-${randomBytes(3).toString('hex')}.raw`);
        const r = await cli(['restore', '--repo', repoUrl, ...sshArgs(repo), '--vm-id', point.vmUuid, '--disk', disk, '--point', point.pointId, '--to', to, '--format', 'raw', '--json']);
        if (r.code !== 0) throw new Error(`[e2e] restore of ${point.pointId} ${disk}: ${r.stderr}`);
        try {
          return await sameContent(to, 'raw', truth);
        } finally {
          rmSync(to, { force: true });
        }
      },
    };
  } catch (e) {
    await close();
    throw e;
  }
}
