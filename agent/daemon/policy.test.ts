/**
 * The daemon's policy (issue 12 item 6) on memory host facts: allowed repositories and their SSH
 * files, restore files below the root (`..` and symbolic links), in-place volumes below pool
 * folders and known to the host. The same rules against the real daemon: policy.e2e.test.ts.
 */
import { describe, expect, it } from 'vitest';
import type { RestoreBody } from '../engine/requests.ts';
import { MemoryHostFacts, MemoryVolumeRecord } from './host-facts.ts';
import { DaemonGuard } from './policy-guard.ts';
import { allowedRepository, PolicyError, type DaemonPolicy } from './policy.ts';

const POOL = '/mnt/0b7e1c3a-5d2f-4a8e-9c61-2f3d4e5a6b7c';
const policy: DaemonPolicy = {
  repositories: [
    { url: 'ssh://backup@repo.example:2222/srv/sendense', identity: '/etc/sendense/agent/repo_key', knownHosts: '/etc/sendense/agent/known_hosts' },
    { url: 'ssh://lab@127.0.0.1:*/' },
    { url: '/var/backups/sendense' },
  ],
  sshFiles: ['/etc/sendense/keys'],
  restoreRoot: '/var/lib/sendense-agent/restores',
  volumeRoots: ['/srv/volumes'],
  unknownVolumes: false,
};

function guard(facts = new MemoryHostFacts(), volumes = new MemoryVolumeRecord(), p = policy) {
  return new DaemonGuard({ policy: p, facts, volumes });
}

async function refusal(f: () => unknown): Promise<PolicyError> {
  try {
    await f();
  } catch (e) {
    expect(e).toBeInstanceOf(PolicyError);
    return e as PolicyError;
  }
  throw new Error('not refused');
}

const restore = (x: Partial<RestoreBody>): RestoreBody => ({ repo: '/var/backups/sendense', vmId: 'vm1', disk: 'vda', format: 'qcow2', overwrite: false, ...x });

describe('daemon policy: repositories and SSH files', () => {
  it('a repository at or below an allowed one passes; another host, user, port or folder is refused naming allow.repositories', async () => {
    expect(allowedRepository(policy, 'ssh://backup@repo.example:2222/srv/sendense/tenant-a').url).toBe('ssh://backup@repo.example:2222/srv/sendense');
    expect(allowedRepository(policy, 'ssh://lab@127.0.0.1:40123/var/tmp/x').url).toBe('ssh://lab@127.0.0.1:*/');
    expect(allowedRepository(policy, '/var/backups/sendense/a').url).toBe('/var/backups/sendense');
    for (const url of ['ssh://backup@repo.example:22/srv/sendense', 'ssh://root@repo.example:2222/srv/sendense', 'ssh://backup@evil.example:2222/srv/sendense',
      'ssh://backup@repo.example:2222/srv/sendensex', '/var/backups/sendense/../../../etc', '/var/backups', 'relative/dir']) {
      const e = await refusal(() => allowedRepository(policy, url));
      expect(e.rule, url).toBe('repository');
      expect(e.message).toMatch(/change allow\.repositories in the agent's config/);
    }
  });

  it("identity and known_hosts: the repository's when left out; the body's only when it is that file or below allow.sshFiles", async () => {
    const g = guard();
    expect(g.access({ repo: 'ssh://backup@repo.example:2222/srv/sendense' })).toEqual({
      repo: 'ssh://backup@repo.example:2222/srv/sendense', identity: '/etc/sendense/agent/repo_key', knownHosts: '/etc/sendense/agent/known_hosts',
    });
    expect(g.access({ repo: 'ssh://lab@127.0.0.1:1/x', identity: '/etc/sendense/keys/lab', knownHosts: '/etc/sendense/keys/kh' })).toMatchObject({ identity: '/etc/sendense/keys/lab' });
    for (const identity of ['/root/.ssh/id_ed25519', '/etc/sendense/keys/../../shadow', '/etc/sendense/keysx']) {
      const e = await refusal(() => g.access({ repo: 'ssh://backup@repo.example:2222/srv/sendense', identity }));
      expect(e).toMatchObject({ rule: 'ssh-file', configKey: 'allow.sshFiles' });
    }
  });
});

describe('daemon policy: restore files', () => {
  it('below the root passes; the root itself, outside, and any .. are refused', async () => {
    const g = guard();
    expect((await g.restore(restore({ to: '/var/lib/sendense-agent/restores/a/vda.qcow2' }))).to).toBe('/var/lib/sendense-agent/restores/a/vda.qcow2');
    for (const to of ['/etc/passwd', '/var/lib/sendense-agent/restores', '/var/lib/sendense-agent/restores/../jobs/x', '/var/lib/sendense-agent/restoresx']) {
      expect(await refusal(() => g.restore(restore({ to }))), to).toMatchObject({ rule: 'restore-root', configKey: 'allow.restoreRoot' });
    }
  });

  it('a symbolic link below the root that leads out is refused; one that stays inside passes', async () => {
    const facts = new MemoryHostFacts({ links: { '/var/lib/sendense-agent/restores/out': '/etc', '/var/lib/sendense-agent/restores/in': '/var/lib/sendense-agent/restores/b' } });
    const g = guard(facts);
    const e = await refusal(() => g.restore(restore({ to: '/var/lib/sendense-agent/restores/out/cron.d/evil' })));
    expect(e.message).toMatch(/leads to \/etc\/cron\.d\/evil through a symbolic link/);
    expect((await g.restore(restore({ to: '/var/lib/sendense-agent/restores/in/x.raw' }))).to).toBe('/var/lib/sendense-agent/restores/in/x.raw');
  });
});

describe('daemon policy: in-place volumes', () => {
  const vol = `${POOL}/5f0e6a52-3c1b-4f7d-8a9e-1b2c3d4e5f60`;

  it("a known domain's disk below a pool mount, a libvirt pool or a volume root passes", async () => {
    const facts = new MemoryHostFacts({ pools: ['/var/lib/libvirt/images'], volumes: [vol, '/var/lib/libvirt/images/a.qcow2', '/srv/volumes/b.raw'] });
    const g = guard(facts);
    for (const p of [vol, '/var/lib/libvirt/images/a.qcow2', '/srv/volumes/b.raw']) expect((await g.restore(restore({ inPlace: { path: p } }))).inPlace?.path).toBe(p);
  });

  it('outside those folders is refused (volume-root), also through a symbolic link inside a pool mount', async () => {
    const facts = new MemoryHostFacts({ links: { [`${POOL}/evil`]: '/etc/shadow' }, volumes: ['/etc/shadow', `${POOL}/evil`, '/mnt/notauuid/x', `${POOL}`] });
    const g = guard(facts);
    for (const p of ['/etc/shadow', `${POOL}/evil`, '/mnt/notauuid/x', POOL, `${POOL}/../../etc/shadow`]) {
      expect(await refusal(() => g.restore(restore({ inPlace: { path: p } }))), p).toMatchObject({ rule: 'volume-root', configKey: 'allow.volumeRoots' });
    }
  });

  it('a file no domain of this host has is refused (unknown-volume) until a backup of its VM has read it, or allow.unknownVolumes', async () => {
    const volumes = new MemoryVolumeRecord();
    const g = guard(new MemoryHostFacts(), volumes);
    expect(await refusal(() => g.restore(restore({ inPlace: { path: vol } })))).toMatchObject({ rule: 'unknown-volume', configKey: 'allow.unknownVolumes' });
    await g.backedUp('vm1', 'i-2-10-VM', [vol]);
    expect((await g.restore(restore({ inPlace: { path: vol } }))).inPlace?.path).toBe(vol);
    const open = guard(new MemoryHostFacts(), new MemoryVolumeRecord(), { ...policy, unknownVolumes: true });
    expect((await open.restore(restore({ inPlace: { path: `${POOL}/other` } }))).inPlace?.path).toBe(`${POOL}/other`);
  });
});
