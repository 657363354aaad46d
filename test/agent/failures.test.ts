/**
 * Issue 3 §8, failures: the agent killed mid-backup (SIGKILL and SIGTERM), the SSH link dropped
 * mid-stream, the repository out of space. Each time: a clear error (or none, for SIGKILL), the
 * VM running and not paused, no libvirt job left, no point recorded, leftovers cleaned by the next
 * run, and the next backup correct.
 */
import path from 'node:path';
import { existsSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLabVm, type LabVm } from '../lab/vm.ts';
import { killSessions, startRepoHost, type RepoHost } from '../lab/sshd.ts';
import { smallFsInRepoHost } from '../lab/small-fs.ts';
import { labDir, runId } from '../lab/paths.ts';
import { waitFor } from '../lab/proc.ts';
import { virsh } from '../lab/virsh.ts';
import { cli, sameContent, sshArgs } from './fixture.ts';

const M = 1 << 20;
let host: RepoHost;
const vms: LabVm[] = [];
beforeAll(async () => { host = await startRepoHost({ label: 'fail' }); });
afterAll(async () => { for (const v of vms) await v.remove().catch(() => {}); await host?.stop(); });

/** all files under a directory, recursively, relative */
function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(path.relative(dir, path.join(e.parentPath, e.name)));
  return out.sort();
}

async function noJobAndRunning(vm: LabVm): Promise<void> {
  expect(await vm.state()).toBe('running');
  expect(await virsh(['domjobinfo', vm.name])).toMatch(/Job type:\s+None/);
}

async function bigVm(label: string): Promise<LabVm> {
  // enough data that the backup takes a while on this machine
  const vm = await createLabVm({ label, transient: true, disks: [{ size: 768 * M, randomPrefix: 640 * M }] });
  vms.push(vm);
  return vm;
}

/** Starts a backup and does `act` once a partial image shows up in the repository. */
async function interrupted(vm: LabVm, repo: string, act: (pid: number) => Promise<void> | void) {
  const repoDir = path.join(host.root, repo, vm.uuid, 'disk-0');
  let pid = 0;
  const p = cli(['backup', '--domain', vm.name, '--repo', host.url(repo), ...sshArgs(host), '--json'], { onSpawn: (x) => { pid = x; } });
  await waitFor('a partial image in the repository', () => files(repoDir).some((f) => f.startsWith('.partial-')), 120_000, 20);
  await act(pid);
  return p;
}

async function goodBackupAfter(vm: LabVm, repo: string, expectType: 'full' | 'incremental') {
  const truth = await vm.truth('vda');
  const r = await cli(['backup', '--domain', vm.name, '--repo', host.url(repo), ...sshArgs(host), '--json']);
  expect(r.stderr, r.stderr).toBe('');
  expect(r.json.type).toBe(expectType);
  const to = path.join(labDir('runs', runId(), 'fail-restores'), `${vm.name}-${r.json.point_id}.raw`);
  const rr = await cli(['restore', '--repo', host.url(repo), ...sshArgs(host), '--vm-id', vm.uuid, '--disk', 'vda', '--to', to, '--format', 'raw', '--json']);
  expect(rr.json?.ok, rr.stderr).toBe(true);
  expect(await sameContent(to, 'raw', truth)).toBe(true);
  return r.json;
}

/** the point manifests (a killed run's id claim, `.claim-<id>`, is a leftover like its partials) */
function points(repo: string, vm: LabVm): string[] {
  return files(path.join(host.root, repo, vm.uuid, 'points')).filter((f) => !f.startsWith('.'));
}

/** leftovers of interrupted runs: partial files and point id claims */
function leftovers(repo: string, vm: LabVm): string[] {
  return files(path.join(host.root, repo, vm.uuid)).filter((f) => f.includes('.partial-') || f.includes('.claim-'));
}

describe('agent: failures never leave a half-written point or a hurt VM', () => {
  it('agent killed with SIGKILL mid-backup: no point; the next run ends the stale job and cleans up', async () => {
    const vm = await bigVm('kill9');
    const r = await interrupted(vm, 'kill9', (pid) => { process.kill(pid, 'SIGKILL'); });
    expect(r.signal).toBe('SIGKILL');
    expect(points('kill9', vm)).toEqual([]);
    expect(await vm.state()).toBe('running'); // never paused
    // the stale job is still there (nobody could end it): the next run must deal with it
    const b = await goodBackupAfter(vm, 'kill9', 'full');
    await noJobAndRunning(vm);
    expect(points('kill9', vm)).toEqual([`${b.point_id}.json`]);
    expect(leftovers('kill9', vm)).toEqual([]);
  });

  it('agent stopped with SIGTERM mid-backup: clear error, job ended, no point', async () => {
    const vm = await bigVm('term');
    const r = await interrupted(vm, 'term', (pid) => { process.kill(pid, 'SIGTERM'); });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no restore point recorded.*SIGTERM/);
    await noJobAndRunning(vm);
    expect(points('term', vm)).toEqual([]);
    expect(files(path.join(host.root, 'term', vm.uuid)).filter((f) => f.includes('.partial-'))).toEqual([]);
    await goodBackupAfter(vm, 'term', 'full');
  });

  it('SSH link dropped mid-stream: clear error, VM running, nothing recorded, next backup correct', async () => {
    const vm = await bigVm('sshdrop');
    await goodBackupAfter(vm, 'sshdrop', 'full');
    await vm.write('vda', 0, 300 * M, 0x7e); // a big incremental
    const r = await interrupted(vm, 'sshdrop', () => {
      // kill this host's sshd session processes (only its own: other test files' repository
      // hosts run as the same user): the connection drops mid-stream
      expect(killSessions(host).length).toBeGreaterThan(0);
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no restore point recorded/);
    expect(r.stderr).toMatch(/disconnect|connection|closed/i);
    await noJobAndRunning(vm);
    expect(points('sshdrop', vm)).toHaveLength(1);
    // the parent's checkpoint is still valid: the next backup is an incremental, and it removes
    // what the dropped run could not (its claim, partials)
    await goodBackupAfter(vm, 'sshdrop', 'incremental');
    expect(leftovers('sshdrop', vm)).toEqual([]);
  });

  it('repository out of space: clear error, VM running, nothing recorded', async () => {
    const vm = await createLabVm({ label: 'nospace', transient: true, disks: [{ size: 64 * M, randomPrefix: 40 * M }] });
    vms.push(vm);
    const fsys = await smallFsInRepoHost(host, { sizeMiB: 16, sub: 'tiny' });
    try {
      const r = await cli(['backup', '--domain', vm.name, '--repo', host.url('tiny'), ...sshArgs(host), '--json']);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/no restore point recorded/);
      expect(r.stderr).toMatch(/space/i);
      await noJobAndRunning(vm);
      expect(files(fsys.dir).filter((f) => f.endsWith('.qcow2') || f.includes('.partial-') || f.startsWith(`${vm.uuid}/points/`))).toEqual([]);
    } finally {
      await fsys.unmount();
    }
  });
});
