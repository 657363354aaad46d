/**
 * Health, placement and failover with real parts: the CloudStack simulator with three KVM hosts
 * (kvm1, kvm2, kvm3: one cluster, the lab VMs' disks in a cluster-wide SharedMountPoint pool),
 * three real agent daemons (`sendense-agent serve`, the real engine on the lab's libvirt), each
 * reached over SSH (a loopback sshd, one socket per "host"), an SSH repository host, and the
 * control plane on SQLite with its health monitor running on its own every 2 s.
 *
 * What the three "hosts" share: this machine's one libvirt. Every agent sees every lab domain,
 * so nothing but placement keeps a running VM's backup on its own host — which is what this
 * proves (a wrong placement would succeed, and the test would fail on the host it ran on).
 *
 *  1. all three agents active; a stopped VM's backup runs on the least busy agent (kvm1: all idle, by name)
 *  2. kvm1's daemon SIGKILLed → seen as lost (status inactive, agent.lost audited) within
 *     LOST_WITHIN_MS = one 2 s round + the 10 s health timeout (measured: printed)
 *  3. the stopped VM's next backup fails over to another agent and restores bit-exact;
 *     kvm2's "host" dies (daemon and its qemu-nbd SIGKILLed) mid-copy of another stopped VM: after
 *     the grace period (FAILOVER_MS) that backup is failed `agent_lost` and runs again on kvm3
 *  4. the running VM on kvm1: "host unavailable: kvm1 agent inactive since <time>", no point
 *  5. kvm1's daemon started again → recovered; the monitor catches the running VM's backup up, on kvm1
 *  6. the simulator migrates the running VM to kvm3 (its hostid), discovery sees it, the next
 *     backup runs on kvm3's agent
 * Run time: about 2–3 minutes on this 2-core machine under load (TCG guest start, eight backups,
 * two restores; 143 s in a run at 00:03 UTC with seven other helpers' work on the machine).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLinkGateway } from '../../api/agents/link-gateway.ts';
import { createSimulator, type Simulator } from '../../api/cloudstack-sim/app.ts';
import { serveSimulator } from '../../api/cloudstack-sim/serve.ts';
import { addMappedVm, defaultState, HostStateSchema } from '../../api/cloudstack-sim/state.ts';
import { createVirshHypervisor } from '../../api/cloudstack-sim/virsh-hypervisor.ts';
import { createControlPlane, type ControlPlane } from '../../api/control-plane.ts';
import type { BackupJob } from '../../db/schema.ts';
import { openStore } from '../../db/open.ts';
import type { Store } from '../../db/store.ts';
import { cli, sameContent, sshArgs } from '../agent/fixture.ts';
import { daemonDir, spawnDaemon, type SpawnedDaemon } from '../lab/agent-daemon.ts';
import { labDir, labName, runId } from '../lab/paths.ts';
import { REPO_USER, startRepoHost, type RepoHost } from '../lab/sshd.ts';
import { createLabVm, type LabVm } from '../lab/vm.ts';

const HEARTBEAT_S = 2;
const HEALTH_TIMEOUT_MS = 10_000;
const LOST_WITHIN_MS = HEARTBEAT_S * 1000 + HEALTH_TIMEOUT_MS;
const MiB = 2 ** 20;
/** a lost agent's in-flight stopped-VM backups fail over after this long (the product's default is 60 s) */
const FAILOVER_MS = 1000;

/** A host dying: its agent daemon and the daemon's children (qemu-nbd exports) SIGKILLed at once. */
function killHost(d: SpawnedDaemon): void {
  const children = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return readFileSync(`/proc/${p}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')[1] === String(d.pid); } catch { return false; }
  });
  d.kill('SIGKILL');
  for (const c of children) { try { process.kill(Number(c), 'SIGKILL'); } catch { /* gone */ } }
}

const cleanups: (() => Promise<unknown>)[] = [];
let sim: Simulator;
let cp: ControlPlane;
let store: Store;
let repo: RepoHost;
let repoUrl: string;
let dataDir: string;
const daemons = new Map<string, SpawnedDaemon>();
const dirs = new Map<string, string>();
const hostIds: Record<'kvm1' | 'kvm2' | 'kvm3', string> = { kvm1: '', kvm2: '', kvm3: '' };
let web: { id: string; lab: LabVm };
let db: { id: string; lab: LabVm };
let big: { id: string; lab: LabVm };
const logs: string[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const nameOf = (hostId: string | null) => Object.entries(hostIds).find(([, id]) => id === hostId)?.[0] ?? hostId;

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms: number): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`[failover test] ${what}: not within ${ms} ms; control plane log:\n${logs.slice(-30).join('\n')}`);
    await sleep(100);
  }
}

async function backup(vmId: string): Promise<BackupJob> {
  const job = await cp.runner.enqueue({ vmId, trigger: 'manual' });
  return cp.runner.settled(job.id, AbortSignal.timeout(240_000));
}

/** restores the job's point of `vda` from the repository with the agent CLI and compares it with `truth` */
async function restoresTo(job: BackupJob, vmId: string, truth: string): Promise<boolean> {
  const point = (await store.points.listForVm(vmId)).find((p) => p.jobId === job.id);
  if (!point) throw new Error(`[failover test] job ${job.id} recorded no point`);
  const to = path.join(dataDir, `restore-${randomBytes(3).toString('hex')}.raw`);
  const r = await cli(['restore', '--repo', repoUrl, ...sshArgs(repo), '--vm-id', vmId, '--disk', 'vda', '--point', point.pointId, '--to', to, '--format', 'raw', '--json']);
  if (r.code !== 0) throw new Error(`[failover test] restore: ${r.stderr}`);
  try { return await sameContent(to, 'raw', truth); } finally { rmSync(to, { force: true }); }
}

async function startAgent(host: string): Promise<SpawnedDaemon> {
  const d = await spawnDaemon({ dir: dirs.get(host)!, socketOwner: REPO_USER });
  daemons.set(host, d);
  return d;
}

beforeAll(async () => {
  const kvm = await startRepoHost({ label: 'fo-kvm' });
  cleanups.push(() => kvm.stop());
  repo = await startRepoHost({ label: 'fo-repo' });
  cleanups.push(() => repo.stop());
  repoUrl = repo.url('backups');

  const state = defaultState();
  state.vms = [];
  state.volumes = [];
  const kvm1 = state.hosts[0];
  hostIds.kvm1 = kvm1.id;
  for (const name of ['kvm2', 'kvm3'] as const) {
    const h = HostStateSchema.parse({ id: randomUUID(), name, ip: '127.0.0.1', zoneId: kvm1.zoneId, podId: kvm1.podId, clusterId: kvm1.clusterId });
    state.hosts.push(h);
    hostIds[name] = h.id;
  }
  for (const [name, id] of Object.entries(hostIds)) {
    dirs.set(id, daemonDir(`fo-agent-${name}`));
    await startAgent(id);
  }
  cleanups.push(async () => { for (const d of daemons.values()) { d.kill('SIGTERM'); await d.exited; } });

  // a running VM on kvm1 (transient, as CloudStack runs them) and a stopped one (a defined domain, not started)
  const webLab = await createLabVm({ label: 'fo-web', transient: true, disks: [{ size: 16 * MiB, randomPrefix: 4 * MiB }] });
  cleanups.push(() => webLab.remove());
  const dbLab = await createLabVm({ label: 'fo-db', transient: false, start: false, disks: [{ size: 16 * MiB, format: 'raw', randomPrefix: 6 * MiB }] });
  cleanups.push(() => dbLab.remove());
  const mapped = (lab: LabVm, name: string, running: boolean) => addMappedVm(state, {
    name, libvirtDomain: lab.name, domainXmlPath: path.join(lab.dir, 'domain.xml'), running, hostId: kvm1.id,
    disks: lab.disks.map((d) => ({ file: d.path, size: d.size, format: d.format })),
  });
  web = { id: mapped(webLab, 'web-1', true).vmId, lab: webLab };
  db = { id: mapped(dbLab, 'db-1', false).vmId, lab: dbLab };
  // a stopped VM whose backup takes long enough to kill its agent mid-copy
  const bigLab = await createLabVm({ label: 'fo-big', transient: false, start: false, disks: [{ size: 256 * MiB, format: 'raw', randomPrefix: 160 * MiB }] });
  cleanups.push(() => bigLab.remove());
  big = { id: mapped(bigLab, 'big-1', false).vmId, lab: bigLab };
  // both VMs' disk folders are SharedMountPoint pools of kvm1's cluster: every host of it reaches them
  sim = createSimulator({ state, hypervisor: createVirshHypervisor() });
  const served = await serveSimulator(sim, { port: 0 });
  cleanups.push(() => served.close());

  const gateway = createLinkGateway({
    access: (hostId) => {
      const d = daemons.get(hostId);
      return d && {
        host: kvm.host, port: kvm.port, username: kvm.user, identityFile: kvm.identityFile, knownHostsFile: kvm.knownHostsFile,
        socketPath: d.socketPath, repoIdentity: repo.identityFile, repoKnownHosts: repo.knownHostsFile,
      };
    },
  });
  cleanups.push(() => gateway.close());
  dataDir = labDir('runs', runId(), labName('fo-cp'));
  mkdirSync(dataDir, { recursive: true });
  store = openStore(path.join(dataDir, 'sendense.db'));
  cleanups.push(async () => store.close());
  await store.repositories.sync([{ name: 'fo', url: repoUrl, kind: 'ssh', isDefault: true, capacityBytes: 2 ** 40 }]);
  cp = createControlPlane({
    store, gateway, tokenSecret: randomBytes(32).toString('hex'),
    cloudstack: { endpoint: served.endpoint, credentials: sim.adminKeys }, pollMs: 200, progressWriteMs: 200, agentFailoverMs: FAILOVER_MS,
    log: (m) => { logs.push(`${new Date().toISOString()} ${m}`); if (process.env.SENDENSE_DEBUG) process.stderr.write(`${m}\n`); },
  });
  cleanups.push(() => cp.stop());
  await cp.start({ discoveryIntervalSeconds: 0, schedulerTickSeconds: 0, heartbeatSeconds: HEARTBEAT_S });
}, 300_000);

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

describe('agent health, placement and failover on three KVM hosts with real agent daemons', () => {
  it('all three agents turn active on their own (the monitor\'s rounds)', async () => {
    await until('three active agents', async () => {
      const a = await store.agents.list();
      return a.length === 3 && a.every((x) => x.status === 'active') && a;
    }, 60_000);
    const audit = await store.audit.list({ action: 'agent.up' });
    expect(audit.map((e) => nameOf(e.targetId)).sort()).toEqual(['kvm1', 'kvm2', 'kvm3']);
  });

  it('a stopped VM on shared storage is backed up by the least busy agent (all idle: kvm1)', async () => {
    const job = await backup(db.id);
    expect(job.error ?? '').toBe('');
    expect(job).toMatchObject({ status: 'succeeded' });
    expect(nameOf(job.kvmHostId)).toBe('kvm1');
  });

  let lostAt = 0;
  it(`kvm1's agent killed: seen as lost within ${LOST_WITHIN_MS} ms`, async () => {
    const t0 = Date.now();
    const d = daemons.get(hostIds.kvm1)!;
    d.kill('SIGKILL');
    await d.exited;
    const row = await until('kvm1 seen as lost', async () => {
      const a = await store.agents.getByHost(hostIds.kvm1);
      return a?.status === 'inactive' && a;
    }, LOST_WITHIN_MS + 5_000);
    lostAt = Date.now();
    const took = lostAt - t0;
    console.log(`[failover test] kvm1's agent seen as lost ${took} ms after SIGKILL (rounds every ${HEARTBEAT_S} s, health timeout ${HEALTH_TIMEOUT_MS} ms): ${row.statusMessage}`);
    expect(took).toBeLessThan(LOST_WITHIN_MS);
    expect(row.statusMessage).toBeTruthy();
    const lost = await store.audit.list({ action: 'agent.lost' });
    expect(lost.map((e) => nameOf(e.targetId))).toEqual(['kvm1']);
    const text = await (await cp.app.request('http://sendense.test/metrics')).text();
    expect(text).toContain(`sendense_agent_up{host="${hostIds.kvm1}"`);
    expect(text.split('\n').find((l) => l.startsWith(`sendense_agent_up{host="${hostIds.kvm1}"`))).toMatch(/ 0$/);
  });

  it('the stopped VM\'s next backup fails over to another agent and restores bit-exact', async () => {
    const job = await backup(db.id);
    expect(job.error ?? '').toBe('');
    expect(job.status).toBe('succeeded');
    expect(['kvm2', 'kvm3']).toContain(nameOf(job.kvmHostId));
    expect(await restoresTo(job, db.id, db.lab.disks[0].path)).toBe(true);
  });

  it('kvm2\'s host dies mid-backup of a stopped VM: after the grace period that backup is failed agent_lost and runs again on kvm3 (a full), restoring bit-exact', async () => {
    const first = await cp.runner.enqueue({ vmId: big.id, trigger: 'manual' });
    const running = await until('the big backup copying on kvm2', async () => {
      const j = await store.jobs.get(first.id);
      if (j && ['succeeded', 'failed', 'cancelled'].includes(j.status)) throw new Error(`[failover test] the big backup ended before it could be cut: ${j.status} ${j.error ?? ''}`);
      return j?.status === 'running' && (j.bytesDone ?? 0) > 0 && j;
    }, 120_000);
    expect(nameOf(running.kvmHostId)).toBe('kvm2');
    const t0 = Date.now();
    killHost(daemons.get(hostIds.kvm2)!);
    const failed = await until('the in-flight backup failed over', async () => {
      const j = await store.jobs.get(first.id);
      return j?.status === 'failed' && j;
    }, LOST_WITHIN_MS + FAILOVER_MS + 10_000);
    console.log(`[failover test] the backup cut on kvm2 failed over ${Date.now() - t0} ms after the host died (${failed.error})`);
    expect(failed).toMatchObject({ errorCode: 'agent_lost' });
    expect(failed.error).toMatch(/^the agent on kvm2 was lost while it had this backup .*queued again for another agent; no restore point was recorded$/);
    const [again] = await store.jobs.list({ vmId: big.id, limit: 1 });
    expect(again.id).not.toBe(first.id);
    const done = await cp.runner.settled(again.id, AbortSignal.timeout(240_000));
    expect(done.error ?? '').toBe('');
    expect(done).toMatchObject({ status: 'succeeded', type: 'full' });
    expect(nameOf(done.kvmHostId)).toBe('kvm3');
    expect(await restoresTo(done, big.id, big.lab.disks[0].path)).toBe(true);
    expect((await store.points.listForVm(big.id)).map((p) => p.jobId)).toEqual([done.id]);
  });

  let unavailable: BackupJob;
  it('the running VM on kvm1 fails "host unavailable: kvm1 agent inactive since <time>", recording nothing', async () => {
    const seen = (await store.agents.getByHost(hostIds.kvm1))!.lastHeartbeatAt!;
    unavailable = await backup(web.id);
    expect(unavailable).toMatchObject({ status: 'failed', errorCode: 'host_unavailable' });
    expect(unavailable.error).toMatch(new RegExp(`^host unavailable: kvm1 agent inactive since ${seen.toISOString().replace(/\./g, '\\.')}: `));
    expect(await store.points.listForVm(web.id)).toEqual([]);
  });

  it('kvm1\'s agent back: recovered, and the running VM\'s backup is caught up on kvm1', async () => {
    await startAgent(hostIds.kvm1);
    await until('kvm1 active again', async () => (await store.agents.getByHost(hostIds.kvm1))?.status === 'active', LOST_WITHIN_MS + 5_000);
    expect((await store.audit.list({ action: 'agent.recovered' })).map((e) => nameOf(e.targetId))).toEqual(['kvm1']);
    const next = await until('a catch-up job for web-1', async () => {
      const [j] = await store.jobs.list({ vmId: web.id, limit: 1 });
      return j && j.id !== unavailable.id && j;
    }, 10_000);
    const done = await cp.runner.settled(next.id, AbortSignal.timeout(240_000));
    expect(done.error ?? '').toBe('');
    expect(done).toMatchObject({ status: 'succeeded' });
    expect(nameOf(done.kvmHostId)).toBe('kvm1');
    expect(logs.some((l) => l.includes('catching up: backup of web-1 queued again'))).toBe(true);
  });

  it('the simulator migrates the running VM to kvm3: discovery sees it, the next backup runs on kvm3\'s agent', async () => {
    sim.state.vms.find((v) => v.id === web.id)!.hostId = hostIds.kvm3;
    const report = await cp.discovery.refresh();
    expect(report.changes).toContainEqual({ id: web.id, name: 'web-1', kind: 'migrated', from: hostIds.kvm1, to: hostIds.kvm3 });
    const job = await backup(web.id);
    expect(job.error ?? '').toBe('');
    expect(job.status).toBe('succeeded');
    expect(nameOf(job.kvmHostId)).toBe('kvm3');
    const points = await store.points.listForVm(web.id);
    expect(points).toHaveLength(2);
  });
});
