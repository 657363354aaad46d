/**
 * Two `sendense serve` processes on one PostgreSQL 15, the CloudStack simulator on a real socket,
 * the real agent daemon behind a loopback sshd and an SSH repository host: 20 stopped VMs (lab
 * domains with 4 MiB raw volume files, 2 MiB of it random) on one schedule with one due time.
 * When backups run, the instance holding the most job leases is SIGKILLed. Afterwards: every
 * VM's due backup ran once and only once (one scheduled job, succeeded, one point), every point restores bit-exact (agent CLI from the repository against
 * the volume file), and no job, restore or maintenance job is left unfinished.
 * Run time here (2 cores, loaded): about 3-4 minutes, most of it waiting for the due minute,
 * the 30 s job lease of the killed instance and the 20 restores.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPgDatabase, openPgStore } from '../../db/pg/open.ts';
import type { Store } from '../../db/store.ts';
import { createSimulator } from '../../api/cloudstack-sim/app.ts';
import { serveSimulator } from '../../api/cloudstack-sim/serve.ts';
import { addMappedVm, defaultState } from '../../api/cloudstack-sim/state.ts';
import { createVirshHypervisor } from '../../api/cloudstack-sim/virsh-hypervisor.ts';
import { cli, sameContent, sshArgs } from '../agent/fixture.ts';
import { daemonDir, spawnDaemon, type SpawnedDaemon } from '../lab/agent-daemon.ts';
import { labDir, labName, runId } from '../lab/paths.ts';
import { startPostgres, type PostgresCluster } from '../lab/postgres.ts';
import { REPO_USER, startRepoHost, type RepoHost } from '../lab/sshd.ts';
import { createLabVm, type LabVm } from '../lab/vm.ts';

const MiB = 2 ** 20;
const N = 20;
const ROOT = path.resolve(import.meta.dirname, '../..');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const a = s.address(); s.close(() => resolve(typeof a === 'object' && a ? a.port : 0)); });
  });
}

interface Instance { name: string; port: number; url: string; child: ChildProcess; stderr: string }

describe('two sendense serve processes on one PostgreSQL, one killed mid-run', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  let pg: PostgresCluster;
  let store: Store;
  let repo: RepoHost;
  let repoUrl: string;
  let agent: SpawnedDaemon;
  let labs: LabVm[] = [];
  const vmIds: string[] = [];
  const instances: Instance[] = [];
  let dir: string;
  let configFile: string;

  const startInstance = async (name: string): Promise<Instance> => {
    const port = await freePort();
    const child = spawn(process.execPath, [path.join(ROOT, 'api/bin/sendense.mjs'), 'serve', '--config', configFile], {
      cwd: ROOT, env: { ...process.env, SENDENSE_LISTEN: `127.0.0.1:${port}` }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const inst: Instance = { name, port, url: `http://127.0.0.1:${port}`, child, stderr: '' };
    child.stderr!.on('data', (d: Buffer) => { inst.stderr += d.toString(); });
    child.stdout!.resume();
    cleanups.push(async () => { if (child.exitCode === null && child.signalCode === null) { child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); } });
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`sendense serve (${name}) exited ${child.exitCode}: ${inst.stderr}`);
      try { if ((await fetch(`${inst.url}/healthz`)).status < 500) break; } catch { /* not yet */ }
      if (i > 300) throw new Error(`sendense serve (${name}) did not answer: ${inst.stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    instances.push(inst);
    return inst;
  };

  beforeAll(async () => {
    const t0 = Date.now();
    dir = labDir('runs', runId(), labName('inst-cp'));
    mkdirSync(dir, { recursive: true });
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const kvm = await startRepoHost({ label: 'inst-kvm' });
    cleanups.push(() => kvm.stop());
    repo = await startRepoHost({ label: 'inst-repo' });
    cleanups.push(() => repo.stop());
    repoUrl = repo.url('backups');
    agent = await spawnDaemon({ dir: daemonDir('inst-agent'), socketOwner: REPO_USER, concurrency: 4 });
    cleanups.push(async () => { agent.kill('SIGTERM'); await agent.exited; });
    for (let i = 0; i < N; i += 5) {
      labs.push(...await Promise.all(Array.from({ length: Math.min(5, N - i) }, (_, k) =>
        createLabVm({ label: `inst-vm${i + k}`, transient: false, start: false, disks: [{ size: 4 * MiB, format: 'raw', randomPrefix: 2 * MiB }] }))));
    }
    cleanups.push(async () => { for (const l of labs) await l.remove().catch(() => {}); });
    const state = defaultState();
    state.vms = [];
    state.volumes = [];
    labs.forEach((lab, i) => {
      vmIds.push(addMappedVm(state, {
        name: `inst-${i}`, libvirtDomain: lab.name, domainXmlPath: path.join(lab.dir, 'domain.xml'), running: false,
        disks: lab.disks.map((d) => ({ file: d.path, size: d.size, format: d.format })),
      }).vmId);
    });
    const sim = createSimulator({ state, hypervisor: createVirshHypervisor() });
    const served = await serveSimulator(sim, { port: 0 });
    cleanups.push(() => served.close());

    pg = await startPostgres();
    cleanups.push(async () => pg.destroy());
    const url = await pg.createDatabase('instances');
    await (await openPgDatabase(url, { migrate: true })).close(); // sendense db migrate
    store = await openPgStore(url, { max: 4 });
    cleanups.push(async () => store.close());

    configFile = path.join(dir, 'sendense.json');
    writeFileSync(configFile, JSON.stringify({
      listen: { host: '127.0.0.1', port: 8480 },
      database: { url },
      cloudstack: { endpoint: served.endpoint, apiKey: sim.adminKeys.apiKey, secretKey: sim.adminKeys.secretKey, insecure: true },
      auth: { tokenSecret: randomBytes(32).toString('hex') },
      repositories: [{ name: 'inst', url: repoUrl, default: true }],
      agents: {
        user: kvm.user, port: kvm.port, identityFile: kvm.identityFile, knownHostsFile: kvm.knownHostsFile, socketPath: agent.socketPath,
        repoIdentityFile: repo.identityFile, repoKnownHostsFile: repo.knownHostsFile, heartbeatSeconds: 5, perHostConcurrency: 4,
      },
      scheduler: { tickSeconds: 3 },
      discovery: { intervalSeconds: 30 },
    }), { mode: 0o600 });
    await Promise.all([startInstance('A'), startInstance('B')]);
    process.stdout.write(`[instances] set up in ${Date.now() - t0} ms\n`);
  }, 400_000);

  afterAll(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
  }, 120_000);

  it('20 VMs on a schedule, one instance killed: every due backup once, every point bit-exact, nothing left running', async () => {
    await expect.poll(async () => (await store.vms.all()).filter((v) => !v.removedAt).length, { timeout: 60_000 }).toBe(N); // discovered
    const t0 = Date.now();
    // one due time, at least 20 s from now
    const due = new Date(Math.ceil((Date.now() + 20_000) / 60_000) * 60_000);
    const now = new Date(due.getTime() - 3_600_000);
    await store.policies.create({
      id: 'every-vm', name: 'once', schedule: `${due.getUTCMinutes()} ${due.getUTCHours()} * * *`, timezone: 'UTC', fullEvery: 7, maxChainLength: 30, retention: {},
      createdAt: now, updatedAt: now,
    });
    await store.policies.assign({ policyId: 'every-vm', kind: 'zone', target: (await store.vms.get(vmIds[0]))!.zoneId! });
    // backups are running on the agent: kill the instance that watches the most of them
    await expect.poll(async () => (await store.jobs.list({ status: ['running'] })).filter((j) => j.agentJobId).length, { timeout: 150_000, interval: 500 }).toBeGreaterThanOrEqual(2);
    const holders = new Map<string, number>();
    for (const j of await store.jobs.list({ status: ['dispatching', 'running'] })) {
      const h = (await store.leases.get(`job:${j.id}`))?.holder;
      if (h) holders.set(h, (holders.get(h) ?? 0) + 1);
    }
    const [top] = [...holders].sort((a, b) => b[1] - a[1]);
    const victim = instances.find((i) => top && top[0].includes(`:${i.child.pid}:`)) ?? instances[0];
    const survivor = instances.find((i) => i !== victim)!;
    victim.child.kill('SIGKILL');
    const killedAt = Date.now();
    process.stdout.write(`[instances] killed ${victim.name} (pid ${victim.child.pid}) holding ${top?.[1] ?? 0} job leases, ${Math.round((killedAt - t0) / 1000)} s in\n`);
    // every VM's due backup ends; no job is left unfinished
    const state = async () => {
      const all = await store.jobs.list({ limit: 1000 });
      const by: Record<string, number> = {};
      for (const j of all) by[j.status] = (by[j.status] ?? 0) + 1;
      const held = await Promise.all(all.filter((j) => !['succeeded', 'failed', 'cancelled'].includes(j.status)).map(async (j) => (await store.leases.get(`job:${j.id}`))?.holder ?? 'none'));
      const why = all.filter((j) => j.status === 'failed').map((j) => `${j.vmName}: ${j.errorCode} ${j.error}`);
      return `${all.length} jobs ${JSON.stringify(by)}; unfinished held by ${JSON.stringify(held)}; failed: ${why.join(' | ')}`;
    };
    const ended = async () => (await store.jobs.count()) >= N && (await store.jobs.unfinished()).length === 0;
    try {
      await expect.poll(ended, { timeout: 420_000, interval: 2000 }).toBe(true);
    } catch (e) {
      throw new Error(`not every job ended: ${await state()}\nsurvivor ${survivor.name}'s log:\n${survivor.stderr.slice(-3000)}`, { cause: e });
    }
    process.stdout.write(`[instances] all jobs ended ${Math.round((Date.now() - killedAt) / 1000)} s after the kill\n`);
    const jobs = await store.jobs.list({ limit: 1000 });
    expect(jobs.filter((j) => j.status !== 'succeeded').map((j) => `${j.vmName}: ${j.status} ${j.errorCode} ${j.error}`)).toEqual([]);
    expect(jobs.map((j) => j.trigger)).toEqual(jobs.map(() => 'schedule'));
    expect(new Set(jobs.map((j) => j.platformVmId)).size).toBe(N); // one per VM …
    expect(jobs).toHaveLength(N); // … and only one
    expect(await store.points.total()).toMatchObject({ points: N });
    expect(await store.restores.unfinished()).toHaveLength(0);
    expect(await store.maintenance.unfinished()).toHaveLength(0);
    // the survivor still answers
    expect((await fetch(`${survivor.url}/healthz`)).status).toBe(200);
    // every point restores bit-exact (the volume files have not changed since: the VMs are stopped)
    for (const [i, vmId] of vmIds.entries()) {
      const [p] = await store.points.listForVm(vmId);
      expect(p, `a point of inst-${i}`).toBeDefined();
      const to = path.join(dir, `restore-${i}.raw`);
      const r = await cli(['restore', '--repo', repoUrl, ...sshArgs(repo), '--vm-id', vmId, '--disk', 'vda', '--point', p.pointId, '--to', to, '--format', 'raw', '--json']);
      expect(r.code, r.stderr).toBe(0);
      expect(await sameContent(to, 'raw', labs[i].disks[0].path), `inst-${i} point ${p.pointId}`).toBe(true);
      rmSync(to, { force: true });
    }
    process.stdout.write(`[instances] run ${Math.round((Date.now() - t0) / 1000)} s (due time to all restored)\n`);
  }, 900_000);
});
