/**
 * End to end: the real `sendense-agent serve` process with the real engine (libvirt,
 * our NBD client, an SSH repository), driven by the control plane's link over a real sshd on
 * loopback — backup, restore and verify jobs with their event streams, a cancelled backup, a
 * daemon killed mid-backup and restarted, and one stopped with SIGTERM mid-backup. Each time:
 * the VM running and not paused, no libvirt job left, no point for a job that did not succeed.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemonDir, spawnDaemon, tcpListeners, type SpawnedDaemon } from '../../test/lab/agent-daemon.ts';
import { labDir, runId } from '../../test/lab/paths.ts';
import { REPO_USER, startRepoHost, type RepoHost } from '../../test/lab/sshd.ts';
import { createLabVm, type LabVm } from '../../test/lab/vm.ts';
import { virsh } from '../../test/lab/virsh.ts';
import { run } from '../system/run.ts';
import { agentJson } from '../link/client.ts';
import { followJob } from '../link/follow.ts';
import { checkAgent } from '../link/heartbeat.ts';
import { agentLink, type ReconnectingAgentLink } from '../link/reconnect.ts';
import type { JobEvent, JobRecord } from './job.ts';

const M = 1 << 20;
let host: RepoHost;
let dir: string;
let daemon: SpawnedDaemon;
let link: ReconnectingAgentLink;
let small: LabVm;
let big: LabVm;
const jobsSeen: JobRecord[] = [];

const repo = () => host.url('e2e');
const access = () => ({ repo: repo(), identity: host.identityFile, knownHosts: host.knownHostsFile });

beforeAll(async () => {
  host = await startRepoHost({ label: 'agentd-e2e' });
  dir = daemonDir('agentd-e2e');
  [small, big] = await Promise.all([
    createLabVm({ label: 'agentd-small', transient: true, disks: [{ size: 64 * M, randomPrefix: 16 * M }] }),
    createLabVm({ label: 'agentd-big', transient: true, disks: [{ size: 768 * M, randomPrefix: 600 * M }] }),
  ]);
  daemon = await spawnDaemon({ dir, socketOwner: REPO_USER });
  link = agentLink({ host: host.host, port: host.port, username: host.user, identityFile: host.identityFile, knownHostsFile: host.knownHostsFile, socketPath: daemon.socketPath });
}, 300_000);

afterAll(async () => {
  await link?.close();
  if (daemon) { daemon.kill('SIGTERM'); await daemon.exited; }
  for (const vm of [small, big]) await vm?.remove().catch(() => {});
  await host?.stop();
});

async function backup(vm: LabVm, extra: Record<string, unknown> = {}) {
  const res = await link.client.v1.backups.$post({ json: { domain: vm.name, vmId: vm.uuid, ...access(), ...extra } });
  expect(res.status, await res.clone().text()).toBe(202);
  return (await agentJson(res)).job;
}

/** Follows a job; `onProgress` once, at the first progress event with bytes copied. */
async function follow(id: string, onProgress?: () => Promise<void> | void) {
  const events: JobEvent[] = [];
  let fired: Promise<void> | undefined;
  const end = await followJob(link.client, id, {
    onEvent: (e) => {
      events.push(e);
      if (onProgress && !fired && e.type === 'progress' && e.progress.bytesDone > 0) fired = Promise.resolve(onProgress());
    },
  });
  await fired;
  jobsSeen.push(end);
  return { end, events };
}

async function vmUnharmed(vm: LabVm): Promise<void> {
  expect(await vm.state()).toBe('running'); // neither paused nor stopped
  expect(await virsh(['domjobinfo', vm.name])).toMatch(/Job type:\s+None/);
}

function repoFiles(vm: LabVm, sub = ''): string[] {
  const d = path.join(host.root, 'e2e', vm.uuid, sub);
  if (!existsSync(d)) return [];
  return readdirSync(d, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.relative(d, path.join(e.parentPath, e.name))).sort();
}

describe('agent daemon end to end (real engine, real VM, through the SSH link)', () => {
  it('health over the link reports the real host; the daemon listens on no TCP port', async () => {
    const s = await checkAgent(link);
    expect(s.status, s.error).toBe('active');
    expect(s.capabilities?.libvirt.version).toMatch(/^libvirt \d+\./);
    expect(s.capabilities?.libvirt.backup).toBe(true);
    expect(s.capabilities?.qemuImg).toMatch(/^qemu-img version/);
    expect(tcpListeners(daemon.pid)).toEqual([]);
    expect(tcpListeners(host.pid).length).toBeGreaterThan(0); // the check does see a TCP listener
    const doms = await agentJson(await link.client.v1.domains.$get({ query: { disks: 'true' } }));
    const d = doms.domains.find((x) => x.uuid === small.uuid);
    expect(d).toMatchObject({ name: small.name, state: 'running', persistent: false });
    expect(d?.disks?.map((x) => x.target)).toEqual(['vda']);
  });

  it('backup (full, then incremental) → restore → verify, each a job followed over SSH', async () => {
    const { end: full, events } = await follow((await backup(small)).id);
    expect(full.state, full.error?.message).toBe('succeeded');
    expect(full.kind === 'backup' && full.result).toMatchObject({ type: 'full', vmId: small.uuid, manifest: { id: expect.stringMatching(/^\d{8}-\d{6}$/), type: 'full', disks: [{ target: 'vda' }] } });
    expect(events[0].type).toBe('state');
    expect(events.some((e) => e.type === 'progress')).toBe(true);
    expect(repoFiles(small, 'points')).toHaveLength(1);

    await small.write('vda', 3 * M, 2 * M, 0x5a);
    const truth = await small.truth('vda');
    const { end: incr } = await follow((await backup(small)).id);
    expect(incr.state, incr.error?.message).toBe('succeeded');
    const point = incr.kind === 'backup' ? incr.result! : undefined;
    expect(point).toMatchObject({ type: 'incremental' });
    expect(point!.bytesRead).toBeLessThan(8 * M);

    const to = path.join(labDir('runs', runId(), 'agentd-restores'), `${small.name}.raw`);
    const r = await agentJson(await link.client.v1.restores.$post({ json: { ...access(), vmId: small.uuid, disk: 'vda', point: point!.pointId, to, format: 'raw' } }));
    const { end: restored } = await follow(r.job.id);
    expect(restored).toMatchObject({ state: 'succeeded', result: { pointId: point!.pointId, to, format: 'raw' } });
    expect((await run('qemu-img', ['compare', '-q', '-f', 'raw', '-F', 'raw', to, truth], { okCodes: [1] })).code).toBe(0);

    const v = await agentJson(await link.client.v1.verify.$post({ json: { ...access(), vmId: small.uuid } }));
    const { end: verified } = await follow(v.job.id);
    expect(verified).toMatchObject({ state: 'succeeded', result: { ok: true } });
    expect(verified.kind === 'verify' && verified.result!.points).toHaveLength(2);
    await vmUnharmed(small);
  });

  it('cancel a running backup: cancelled, VM running and not paused, no libvirt job, no point, no partial file', async () => {
    const job = await backup(big);
    const { end, events } = await follow(job.id, async () => {
      const res = await link.client.v1.jobs[':id'].cancel.$post({ param: { id: job.id } });
      expect(res.status).toBe(202);
    });
    expect(end.state, JSON.stringify(end.error)).toBe('cancelled');
    expect(end.error?.message).toMatch(/no restore point recorded: cancelled by request/);
    const copied = events.flatMap((e) => (e.type === 'progress' ? [e.progress.bytesDone] : [])).at(-1)!;
    expect(copied).toBeGreaterThan(0);
    expect(copied).toBeLessThan(600 * M);
    await vmUnharmed(big);
    expect(repoFiles(big, 'points')).toEqual([]);
    expect(repoFiles(big).filter((f) => f.includes('partial'))).toEqual([]);
  });

  it('the daemon killed mid-backup and restarted: the job is failed, finished jobs are found again, the next backup is clean', async () => {
    const job = await backup(big);
    await follow(job.id, () => { daemon.kill('SIGKILL'); }).catch(() => undefined);
    expect((await daemon.exited).signal).toBe('SIGKILL');
    expect(await big.state()).toBe('running');
    daemon = await spawnDaemon({ dir, socketOwner: REPO_USER });
    // a control plane asking the restarted agent (same SSH link, reconnects on demand)
    const crashed = (await agentJson(await link.client.v1.jobs[':id'].$get({ param: { id: job.id } }))).job;
    expect(crashed).toMatchObject({ state: 'failed', error: { code: 'agent-restarted' } });
    expect(crashed.error!.message).toMatch(/agent restarted during the job/);
    for (const j of jobsSeen) {
      expect((await agentJson(await link.client.v1.jobs[':id'].$get({ param: { id: j.id } }))).job).toMatchObject({ id: j.id, state: j.state, kind: j.kind });
    }
    // no manifest (the killed run's point id claim, points/.claim-<id>, is a leftover like its partials)
    expect(repoFiles(big, 'points').filter((f) => !f.startsWith('.'))).toEqual([]);
    // the libvirt job the killed agent left is ended by the next backup, which succeeds
    const { end } = await follow((await backup(big)).id);
    expect(end.state, end.error?.message).toBe('succeeded');
    const r = end.kind === 'backup' ? end.result! : undefined;
    console.log(`[agentd] full backup of ${(r!.bytesRead / M).toFixed(0)} MiB through the daemon into an SSH repository: ${(r!.durationMs / 1000).toFixed(1)} s, ${(r!.bytesRead / M / (r!.durationMs / 1000)).toFixed(0)} MiB/s`);
    expect(repoFiles(big, 'points')).toHaveLength(1);
    expect(repoFiles(big).filter((f) => f.includes('partial'))).toEqual([]);
    await vmUnharmed(big);
  });

  it('the daemon stopped with SIGTERM mid-backup: the job ends failed (agent-stopped) after cleaning up, the daemon exits 0', async () => {
    const job = await backup(big, { mode: 'full' });
    await follow(job.id, () => { daemon.kill('SIGTERM'); }).catch(() => undefined);
    expect(await daemon.exited).toEqual({ code: 0, signal: null });
    expect(daemon.log()).toMatch(/SIGTERM: stopping/);
    await vmUnharmed(big);
    expect(repoFiles(big, 'points')).toHaveLength(1);
    expect(existsSync(daemon.socketPath)).toBe(false);
    daemon = await spawnDaemon({ dir, socketOwner: REPO_USER });
    expect((await agentJson(await link.client.v1.jobs[':id'].$get({ param: { id: job.id } }))).job).toMatchObject({ state: 'failed', error: { code: 'agent-stopped' } });
  });
});
