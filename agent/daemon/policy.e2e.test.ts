/**
 * Issue 12 item 6, end to end: the real `sendense-agent serve` process (real engine, libvirt) with
 * a policy in its config file, asked on its unix socket for what a caller must not get — another
 * repository, another SSH key, a restore file outside the restore root (by `..` and through a
 * symbolic link), an in-place restore onto a file outside the volume folders (also through a
 * link) or onto one that is no disk of a domain the host knows. Each is 403 `refused` naming
 * the rule and the config key, and nothing is written; the allowed requests are accepted.
 */
import { existsSync, mkdirSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { daemonDir, openSocketFetch, spawnDaemon, type SpawnedDaemon } from '../../test/lab/agent-daemon.ts';
import { labDir, labName, runId } from '../../test/lab/paths.ts';
import { createLabVm, type LabVm } from '../../test/lab/vm.ts';
import { agentJson } from '../link/client.ts';

let daemon: SpawnedDaemon;
let vm: LabVm;
let base: string;
let client: ReturnType<typeof openSocketFetch>['client'];
const dirs = { restores: '', volumes: '', repo: '', outside: '' };

beforeAll(async () => {
  base = labDir('runs', runId(), labName('policy'));
  for (const k of Object.keys(dirs) as (keyof typeof dirs)[]) mkdirSync((dirs[k] = path.join(base, k)), { recursive: true });
  // a defined domain (never started): its disk is a volume this host knows
  vm = await createLabVm({ label: 'policy', transient: false, start: false, disks: [{ size: 4 << 20 }] });
  writeFileSync(path.join(dirs.volumes, 'stray.qcow2'), 'not a disk of any domain');
  writeFileSync(path.join(dirs.outside, 'target.qcow2'), 'outside every volume folder');
  symlinkSync(dirs.outside, path.join(dirs.restores, 'out'));
  symlinkSync(path.join(dirs.outside, 'target.qcow2'), path.join(vm.dir, 'evil.qcow2'));
  daemon = await spawnDaemon({
    dir: daemonDir('agentd-policy'),
    allow: { repositories: [{ url: dirs.repo }], sshFiles: [], restoreRoot: dirs.restores, volumeRoots: [vm.dir, dirs.volumes] },
  });
  client = openSocketFetch(daemon.socketPath).client;
}, 120_000);

afterAll(async () => {
  if (daemon) { daemon.kill('SIGTERM'); await daemon.exited; }
  await vm?.remove().catch(() => {});
});

type Refusal = { error: { code: string; message: string; rule?: string; configKey?: string } };

async function refused(res: Response, rule: string, configKey: string): Promise<string> {
  const text = await res.text();
  expect(res.status, text).toBe(403);
  const body = JSON.parse(text) as Refusal;
  expect(body.error).toMatchObject({ code: 'refused', rule, configKey });
  expect(body.error.message).toContain(`change ${configKey} in the agent's config`);
  return body.error.message;
}

async function settled(id: string) {
  for (let i = 0; i < 600; i++) {
    const { job } = await agentJson(await client.v1.jobs[':id'].$get({ param: { id } }));
    if (['succeeded', 'failed', 'cancelled'].includes(job.state)) return job;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`job ${id} did not finish`);
}

const restore = (x: Record<string, unknown>) => client.v1.restores.$post({ json: { repo: dirs.repo, vmId: 'vm-1', disk: 'vda', ...x } });

describe('agent daemon policy (real daemon, unix socket)', () => {
  it('a repository the config does not allow is refused for every kind of request', async () => {
    const repo = path.join(base, 'elsewhere');
    await refused(await client.v1.backups.$post({ json: { domain: vm.name, repo } }), 'repository', 'allow.repositories');
    await refused(await client.v1.verify.$post({ json: { repo, vmId: 'vm-1' } }), 'repository', 'allow.repositories');
    await refused(await client.v1.prunes.$post({ json: { repo, vmId: 'vm-1', remove: ['20250101-000000'] } }), 'repository', 'allow.repositories');
    await refused(await client.v1.scan.$post({ json: { repo: 'ssh://root@127.0.0.1:22/' } }), 'repository', 'allow.repositories');
    await refused(await client.v1.exports.$post({ json: { repo: '/', vmId: 'vm-1', disk: 'vda' } }), 'repository', 'allow.repositories');
    await refused(await restore({ repo: `${dirs.repo}/../elsewhere`, to: path.join(dirs.restores, 'a.raw') }), 'repository', 'allow.repositories');
    // the allowed one answers
    const scan = await client.v1.scan.$post({ json: { repo: dirs.repo } });
    expect(scan.status, await scan.clone().text()).toBe(200);
  });

  it("an identity or known_hosts file the config does not name is refused (the caller cannot pick root's key)", async () => {
    await refused(await client.v1.scan.$post({ json: { repo: dirs.repo, identity: '/root/.ssh/id_ed25519' } }), 'ssh-file', 'allow.sshFiles');
    await refused(await client.v1.verify.$post({ json: { repo: dirs.repo, vmId: 'vm-1', knownHosts: '/etc/ssh/ssh_known_hosts' } }), 'ssh-file', 'allow.sshFiles');
  });

  it('a restore file outside the root — by .., through a symbolic link, or anywhere else — is refused and nothing is written', async () => {
    const msg = await refused(await restore({ to: `${dirs.restores}/../outside/evil.raw`, format: 'raw' }), 'restore-root', 'allow.restoreRoot');
    expect(msg).toMatch(/without '\.\.'/);
    const link = await refused(await restore({ to: path.join(dirs.restores, 'out', 'evil.raw'), format: 'raw' }), 'restore-root', 'allow.restoreRoot');
    expect(link).toMatch(/through a symbolic link/);
    await refused(await restore({ to: path.join(base, 'evil.raw') }), 'restore-root', 'allow.restoreRoot');
    expect(readdirSync(dirs.outside)).toEqual(['target.qcow2']);
    expect(existsSync(path.join(base, 'evil.raw'))).toBe(false);
    // below the root: accepted (the job then fails for want of a point in the empty repository)
    const ok = await restore({ to: path.join(dirs.restores, 'ok.raw'), format: 'raw' });
    expect(ok.status, await ok.clone().text()).toBe(202);
    const job = await settled((await agentJson(ok)).job.id);
    expect(job).toMatchObject({ state: 'failed', error: { code: 'restore-failed' } });
  });

  it('in place: outside the volume folders (also through a link) and files no known domain has are refused; a known disk is accepted', async () => {
    await refused(await restore({ inPlace: { path: path.join(dirs.outside, 'target.qcow2') } }), 'volume-root', 'allow.volumeRoots');
    const link = await refused(await restore({ inPlace: { path: path.join(vm.dir, 'evil.qcow2') } }), 'volume-root', 'allow.volumeRoots');
    expect(link).toMatch(/it leads to .*outside\/target\.qcow2/);
    await refused(await restore({ inPlace: { path: `${vm.dir}/../x.qcow2` } }), 'volume-root', 'allow.volumeRoots');
    await refused(await restore({ inPlace: { path: '/etc/shadow' } }), 'volume-root', 'allow.volumeRoots');
    const unknown = await refused(await restore({ inPlace: { path: path.join(dirs.volumes, 'stray.qcow2') } }), 'unknown-volume', 'allow.unknownVolumes');
    expect(unknown).toMatch(/no disk of a domain this host knows/);
    const ok = await restore({ inPlace: { path: vm.disks[0].path } });
    expect(ok.status, await ok.clone().text()).toBe(202);
    const job = await settled((await agentJson(ok)).job.id);
    expect(job).toMatchObject({ state: 'failed', error: { code: 'restore-failed' } });
    expect(readdirSync(dirs.outside)).toEqual(['target.qcow2']);
  });
});
