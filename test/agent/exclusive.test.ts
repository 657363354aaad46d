/**
 * Issue 12 items 1 and 2, the fault test with real processes: one lab VM, one repository on a
 * real sshd in a network namespace whose link is slowed (tc) so every backup and restore lasts
 * seconds, and the work started against each other while the first holds the VM:
 * - two CLIs on this host (the host lock refuses the second);
 * - a CLI on a second agent host (its own UTS namespace: another host name, its own lock dir)
 *   and one on this host (the repository lease refuses the second, naming the other host);
 * - the daemon (`sendense-agent serve`) and a CLI, both ways;
 * - an in-place restore with a backup asked meanwhile (refused), and the VM started mid-restore
 *   (the restore is refused right before the swap and the volume stays as it was), then the
 *   restore again with the VM stopped, and the next backup a full.
 * Afterwards every point of every disk is restored and compared with its truth (qemu-img
 * compare), verify passes, point ids are distinct and in order: nothing was lost.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentJson } from '../../agent/link/client.ts';
import { followJob } from '../../agent/link/follow.ts';
import { run } from '../../agent/system/run.ts';
import { daemonDir, labAllow, openSocketFetch, spawnDaemon, type SpawnedDaemon } from '../lab/agent-daemon.ts';
import { createNetns, type LabNetns } from '../lab/netns.ts';
import { labDir, runId } from '../lab/paths.ts';
import { waitFor } from '../lab/proc.ts';
import { startRepoHost, type RepoHost } from '../lab/sshd.ts';
import { createLabVm, type LabVm } from '../lab/vm.ts';
import { AGENT_BIN, cli, cliEnv, sameContent, sshArgs, type CliResult } from './fixture.ts';

const M = 1 << 20;
let ns: LabNetns;
let host: RepoHost;
let vm: LabVm;
let daemon: SpawnedDaemon;
const truths = new Map<string, { vda: string; vdb: string }>();
const out = () => labDir('runs', runId(), 'exclusive');
const repo = () => host.url('repo');
const leaseFile = () => path.join(host.root, 'repo', vm.uuid, 'vm.lock');

/** the namespace's end of the veth pair, and the root namespace's (netns.ts names them sdl<id>n / sdl<id>h) */
async function shape(rate: string): Promise<void> {
  const links = (await run('ip', ['-n', ns.name, '-o', 'link', 'show'])).stdout;
  const vn = /\d+: (sdl[0-9a-z]+n)@/.exec(links)?.[1];
  if (!vn) throw new Error(`[test] no veth in ${ns.name}: ${links}`);
  const vh = `${vn.slice(0, -1)}h`;
  await run('ip', ['netns', 'exec', ns.name, 'tc', 'qdisc', 'replace', 'dev', vn, 'root', 'tbf', 'rate', rate, 'burst', '32kb', 'latency', '2s']);
  await run('tc', ['qdisc', 'replace', 'dev', vh, 'root', 'tbf', 'rate', rate, 'burst', '32kb', 'latency', '2s']);
}

beforeAll(async () => {
  ns = await createNetns('excl');
  host = await startRepoHost({ label: 'excl', netns: ns });
  await shape('24mbit');
  vm = await createLabVm({ label: 'excl', transient: true, disks: [{ size: 32 * M, randomPrefix: 20 * M }, { size: 8 * M, init: [{ offset: M, length: M, pattern: 0x21 }] }] });
  const dir = daemonDir('excl');
  const allow = labAllow();
  daemon = await spawnDaemon({ dir, allow: { ...allow, repositories: [...(allow.repositories as unknown[]), { url: `ssh://sendense-repo@${ns.address}:*/` }] } });
  mkdirSync(out(), { recursive: true });
}, 300_000);

afterAll(async () => {
  if (daemon) { daemon.kill('SIGTERM'); await daemon.exited; }
  await vm?.remove().catch(() => {});
  await host?.stop();
  await ns?.remove();
});

const backupArgs = () => ['backup', '--domain', vm.name, '--vm-id', vm.uuid, '--repo', repo(), ...sshArgs(host), '--json'];

/** The CLI as another agent host: its own UTS namespace (host name agent-b) and its own lock dir. */
function cliOnHostB(args: string[]): Promise<CliResult> {
  const lockDir = path.join(out(), 'locks-b');
  return new Promise((resolve, reject) => {
    const child = spawn('unshare', ['--uts', 'sh', '-c', 'hostname agent-b && exec "$0" "$@"', process.execPath, AGENT_BIN, ...args], {
      env: { ...cliEnv(), SENDENSE_AGENT_LOCKDIR: lockDir }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => { stdout += b; });
    child.stderr.on('data', (b) => { stderr += b; });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      let json;
      try { json = JSON.parse(stdout.trim().split('\n').pop() ?? ''); } catch { /* not json */ }
      resolve({ code, signal, stdout, stderr, json });
    });
  });
}

/** A backup job on the daemon; resolves with the finished job. */
async function daemonBackup(): Promise<{ ok: boolean; pointId?: string; error?: string }> {
  const { client } = openSocketFetch(daemon.socketPath);
  const res = await client.v1.backups.$post({ json: { domain: vm.name, vmId: vm.uuid, repo: repo(), identity: host.identityFile, knownHosts: host.knownHostsFile } });
  const { job } = await agentJson(res);
  const end = await followJob(client, job.id);
  return end.state === 'succeeded' ? { ok: true, pointId: (end.result as { pointId: string }).pointId } : { ok: false, error: end.error?.message };
}

type Outcome = { ok: boolean; pointId?: string; error?: string };
const ofCli = (r: CliResult): Outcome => (r.json?.ok ? { ok: true, pointId: r.json.point_id } : { ok: false, error: r.json?.error ?? r.stderr });

/** Changes both disks, takes their truth, then runs `first`; once it holds the VM's lease, `second`. */
async function race(round: number, first: () => Promise<Outcome>, second: () => Promise<Outcome>): Promise<[Outcome, Outcome]> {
  await vm.write('vda', (round % 6) * 4 * M, 6 * M, 0x40 + round);
  await vm.write('vdb', (round % 7) * M + 4096, 5000, 0x60 + round);
  const t = { vda: await vm.truth('vda', path.join(out(), `r${round}-vda.raw`)), vdb: await vm.truth('vdb', path.join(out(), `r${round}-vdb.raw`)) };
  const a = first();
  await waitFor('the first job holds the lease', async () => existsSync(leaseFile()), 120_000, 20);
  const b = await second();
  const r: [Outcome, Outcome] = [await a, b];
  for (const o of r) if (o.ok) truths.set(o.pointId!, t);
  return r;
}

describe('one VM, work started against each other from real processes (issue 12 items 1, 2)', () => {
  it('two CLIs; a CLI on another agent host; the daemon and a CLI both ways: one works, the other is refused busy', { timeout: 900_000 }, async () => {
    const [a1, a2] = await race(0, async () => ofCli(await cli(backupArgs())), async () => ofCli(await cli(backupArgs())));
    expect(a1, a1.error).toMatchObject({ ok: true });
    expect(a2.ok).toBe(false);
    expect(a2.error).toMatch(/VM .* is busy on this host: backup \(job backup-[0-9a-f]+\) by pid \d+/);

    const [b1, b2] = await race(1, async () => ofCli(await cliOnHostB(backupArgs())), async () => ofCli(await cli(backupArgs())));
    expect(b1, b1.error).toMatchObject({ ok: true });
    expect(b2.error).toMatch(new RegExp(`VM ${vm.uuid} is busy: backup \\(job backup-[0-9a-f]+\\) on agent-b pid \\d+`));

    const [c1, c2] = await race(2, daemonBackup, async () => ofCli(await cli(backupArgs())));
    expect(c1, c1.error).toMatchObject({ ok: true });
    expect(c2.error).toMatch(/busy on this host: backup/);

    const [d1, d2] = await race(3, async () => ofCli(await cli(backupArgs())), daemonBackup);
    expect(d1, d1.error).toMatchObject({ ok: true });
    expect(d2.ok).toBe(false);
    expect(d2.error).toMatch(/busy on this host: backup/);

    // the winners' points, in the order they were taken; no leftovers, no lease, no claim
    const ids = [a1, b1, c1, d1].map((o) => o.pointId!);
    const listed = (await cli(['list', '--repo', repo(), ...sshArgs(host), '--vm-id', vm.uuid, '--json'])).json;
    expect(listed.points.map((p: { id: string }) => p.id)).toEqual(ids);
    expect([...ids].sort()).toEqual(ids);
    const manifest = (id: string) => JSON.parse(readFileSync(path.join(host.root, 'repo', vm.uuid, 'points', `${id}.json`), 'utf8'));
    expect(ids.map((id) => manifest(id).seq)).toEqual([1, 2, 3, 4]);
    for (const d of ['disk-0', 'disk-1', 'points']) expect(readdirSync(path.join(host.root, 'repo', vm.uuid, d)).filter((n) => n.startsWith('.')), d).toEqual([]);
    expect(existsSync(leaseFile())).toBe(false);
  });

  it('in-place restore: a backup meanwhile is refused; the VM started mid-restore makes it stop before the swap; then it goes through and the next backup is a full', { timeout: 900_000 }, async () => {
    const ids = [...truths.keys()].sort();
    const target = ids[1];
    const vol = vm.disk('vda').path;
    const before = path.join(out(), 'vda-before-restore.raw');
    await vm.destroy();
    await run('qemu-img', ['convert', '-f', 'qcow2', '-O', 'raw', vol, before]);
    const restoreArgs = ['restore', '--repo', repo(), ...sshArgs(host), '--vm-id', vm.uuid, '--disk', 'vda', '--point', target, '--in-place', vol, '--json'];
    await shape('12mbit');
    // the restore writes its image beside the volume first: once that file is there, the restore is running
    const dir = path.dirname(vol);
    const restoring = cli(restoreArgs);
    await waitFor('the in-place restore is writing', async () => readdirSync(dir).some((n) => n.includes('.sendense-restore-')), 120_000, 20);
    const meanwhile = ofCli(await cli(backupArgs()));
    expect(meanwhile.ok).toBe(false);
    expect(meanwhile.error).toMatch(/busy on this host: restore-in-place/);
    await vm.start(); // by the user, or HA
    const refused = ofCli(await restoring);
    expect(refused.ok).toBe(false);
    expect(refused.error).toMatch(/in-place restore .* failed, .* is as it was: .*(is disk vda of domain .* which is running|is in use)/);
    await vm.destroy();
    expect(await sameContent(vol, 'qcow2', before), 'the volume is as it was').toBe(true);
    expect(readdirSync(dir).filter((n) => n.includes('.sendense-')), 'no temporary or rollback file').toEqual([]);

    await shape('200mbit');
    const done = await cli(restoreArgs);
    expect(done.json, done.stderr).toMatchObject({ ok: true, point_id: target });
    expect(await sameContent(vol, 'qcow2', truths.get(target)!.vda)).toBe(true);

    // the next backup after an in-place restore is a full (the restored image has no checkpoint bitmap)
    await vm.start();
    const t = { vda: await vm.truth('vda', path.join(out(), 'after-vda.raw')), vdb: await vm.truth('vdb', path.join(out(), 'after-vdb.raw')) };
    const next = await cli(backupArgs());
    expect(next.json, next.stderr).toMatchObject({ ok: true });
    expect(next.json.disks.find((d: { target: string }) => d.target === 'vda')).toMatchObject({ type: 'full' });
    truths.set(next.json.point_id, t);
  });

  it('afterwards every point of every disk restores to its truth and verify passes: nothing was lost', { timeout: 900_000 }, async () => {
    const ids = [...truths.keys()].sort();
    expect(ids.length).toBe(5);
    for (const id of ids) {
      for (const disk of ['vda', 'vdb'] as const) {
        const to = path.join(out(), `check-${id}-${disk}.raw`);
        const r = await cli(['restore', '--repo', repo(), ...sshArgs(host), '--vm-id', vm.uuid, '--disk', disk, '--point', id, '--to', to, '--format', 'raw', '--json']);
        expect(r.json, r.stderr).toMatchObject({ ok: true, point_id: id, verified: true });
        expect(await sameContent(to, 'raw', truths.get(id)![disk]), `${id} ${disk}`).toBe(true);
      }
    }
    const v = await cli(['verify', '--repo', repo(), ...sshArgs(host), '--vm-id', vm.uuid, '--json']);
    expect(v.json, v.stderr).toMatchObject({ ok: true });
  });
});
