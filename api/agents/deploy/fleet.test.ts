import { describe, expect, it } from 'vitest';
import { deployFleet, removeFleet, rollingUpgrade, statusFleet } from './fleet.ts';
import type { DeployDeps, DeploySettings } from './host-deploy.ts';
import { MemoryFleet, MemoryRepositoryKeys, ROCKY_9 } from './memory.ts';
import type { AgentPackage } from './port.ts';
import type { DeployEvent } from './report.ts';

const pkg = (format: 'deb' | 'rpm', version: string): AgentPackage => ({
  format, version, size: 35 * 2 ** 20,
  fileName: format === 'deb' ? `sendense-agent_${version}_amd64.deb` : `sendense-agent-${version}-1.x86_64.rpm`,
  read: async () => new Uint8Array(1024),
});

function setup(version = '0.2.0') {
  const fleet = new MemoryFleet();
  const repo = new MemoryRepositoryKeys();
  let n = 0;
  const deps: DeployDeps = {
    connector: fleet, probe: fleet, repositoryKeys: repo,
    newKeyPair: (comment) => ({ privateKey: `PRIVATE-${++n}`, publicKey: `ssh-ed25519 KEY${n} ${comment}` }),
    packages: { deb: pkg('deb', version), rpm: pkg('rpm', version) },
    sleep: async () => {},
  };
  const settings: DeploySettings = {
    credentials: { user: 'root', identityFile: '/keys/admin' },
    linkPublicKey: 'ssh-ed25519 AAAALINK sendense@cp',
    repositoryKnownHosts: 'repo.example ssh-ed25519 AAAAREPO',
    agentConfig: { socket: '/run/sendense/agent.sock', socketOwner: 'sendense', journal: '/var/lib/sendense-agent/journal', workDir: '/var/lib/sendense-agent/jobs', concurrency: 2 },
    healthTimeoutMs: 50,
  };
  return { fleet, repo, deps, settings };
}
const target = (address: string, clusterId?: string) => ({ name: `kvm-${address}`, hostId: `id-${address}`, address, clusterId });

describe('deploying agents to many hosts (memory hosts)', () => {
  it('installs on every host with a concurrency limit; each failure in its own row, the others go on', async () => {
    const { fleet, repo, deps, settings } = setup();
    fleet.add({ address: 'a' }); fleet.add({ address: 'b' }); fleet.add({ address: 'c', osRelease: ROCKY_9 });
    fleet.add({ address: 'd', osRelease: 'ID=debian\nVERSION_ID="11"\nPRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\n' });
    fleet.add({ address: 'e', libvirt: false }); fleet.add({ address: 'f', freeBytes: 20 * 2 ** 20 });
    fleet.add({ address: 'g', reachable: false }); fleet.add({ address: 'h', users: { root: { password: 'right' } } });
    fleet.add({ address: 'j', brokenAgent: true }); fleet.add({ address: 'k', clockSkewMs: 90_000 });
    for (const h of fleet.hosts.keys()) if (h !== 'l') fleet.pinned.set(h, `SHA256:key-of-${h}`);
    fleet.add({ address: 'l' });
    fleet.add({ address: 'm' }); fleet.pinned.set('m', 'SHA256:the-old-key');
    const events: DeployEvent[] = [];
    const targets = [...fleet.hosts.keys()].map((a) => target(a));
    const rows = await deployFleet(deps, targets, settings, { concurrency: 3, emit: (e) => events.push(e) });
    const by = Object.fromEntries(rows.map((r) => [r.address, r]));
    expect(Object.fromEntries(rows.map((r) => [r.address, r.code ?? r.outcome]))).toEqual({
      a: 'done', b: 'done', c: 'done', d: 'unsupported-os', e: 'no-libvirt', f: 'disk-full', g: 'unreachable', h: 'auth-failed',
      j: 'not-healthy', k: 'not-healthy', l: 'host-key-unknown', m: 'host-key-changed',
    });
    expect(fleet.maxOpen).toBeLessThanOrEqual(3);
    expect(fleet.maxOpen).toBeGreaterThan(1);
    expect(by.a).toMatchObject({ version: '0.2.0', fromVersion: null, os: 'Debian GNU/Linux 12 (bookworm)', health: { ok: true, libvirtVersion: 'libvirt 9.0.0', checkpoints: true, clockOffsetMs: 0 } });
    expect(by.c.changed[0]).toBe('installed 0.2.0');
    expect(fleet.host('c').installed).toEqual({ version: '0.2.0', format: 'rpm' });
    expect(by.d.message).toMatch(/Debian GNU\/Linux 11 \(bullseye\) is not supported/);
    expect(by.k.message).toMatch(/clock is 90\.0 s ahead of the control plane's/);
    expect(by.l.details).toMatchObject({ fingerprint: 'SHA256:key-of-l' });
    expect(fleet.host('l').installed).toBeNull();
    expect(by.m.message).toMatch(/HOST KEY CHANGED/);
    // the link key reaches only the socket forward; the repository got one key per deployed host
    const keys = fleet.host('a').files.get('/var/lib/sendense/.ssh/authorized_keys')!;
    expect(keys).toMatchObject({ owner: 'sendense', mode: 0o600, content: 'restrict,port-forwarding,permitlisten="127.0.0.1:9",command="/bin/false" ssh-ed25519 AAAALINK sendense-control-plane\n' });
    expect(fleet.host('a').files.get('/var/lib/sendense-agent/.ssh/repo_ed25519')).toMatchObject({ owner: 'root', mode: 0o600 });
    expect(fleet.host('a').files.get('/etc/ssh/sshd_config.d/sendense-agent.conf')?.content).toMatch(/Match User sendense\n {4}AllowTcpForwarding local\n {4}AllowStreamLocalForwarding local/);
    expect(fleet.host('a').log).toContain('reload sshd');
    expect(repo.authorizedKeys.split('\n').filter(Boolean).map((l) => l.split(' ').pop())).toEqual(expect.arrayContaining(['sendense-agent@id-a', 'sendense-agent@id-b', 'sendense-agent@id-c']));
    // progress per host, ending with a row each and one done
    expect(events.filter((e) => e.type === 'row')).toHaveLength(targets.length);
    expect(events.at(-1)).toMatchObject({ type: 'done' });
    expect(events.some((e) => e.type === 'host' && e.host === 'kvm-a' && e.step === 'upload')).toBe(true);
  });

  it('a user that is not root needs sudo without a password', async () => {
    const { fleet, deps, settings } = setup();
    fleet.add({ address: 'i', users: { ops: { identityFile: '/keys/admin', sudo: 'password' } } }); fleet.pinned.set('i', 'SHA256:key-of-i');
    fleet.add({ address: 'j', users: { ops: { identityFile: '/keys/admin', sudo: 'nopasswd' } } }); fleet.pinned.set('j', 'SHA256:key-of-j');
    const rows = await deployFleet(deps, [target('i'), target('j')], { ...settings, credentials: { user: 'ops', identityFile: '/keys/admin' } });
    expect(rows.map((r) => r.code ?? r.outcome)).toEqual(['no-sudo', 'done']);
    expect(rows[0].message).toMatch(/sudo asks for a password/);
  });

  it('an unknown host key is accepted only when the admin gives exactly its fingerprint', async () => {
    const { fleet, deps, settings } = setup();
    fleet.add({ address: 'n' });
    const wrong = await deployFleet(deps, [target('n')], { ...settings, acceptHostKeys: { n: 'SHA256:something-else' } });
    expect(wrong[0]).toMatchObject({ code: 'host-key-unknown' });
    expect(fleet.pinned.has('n')).toBe(false);
    const ok = await deployFleet(deps, [target('n')], { ...settings, acceptHostKeys: { 'kvm-n': 'SHA256:key-of-n' } });
    expect(ok[0]).toMatchObject({ outcome: 'done' });
    expect(fleet.pinned.get('n')).toBe('SHA256:key-of-n');
  });

  it('a re-run changes nothing on a host that has it all; a drifted config is put back and the agent restarted', async () => {
    const { fleet, deps, settings } = setup();
    fleet.add({ address: 'a' }); fleet.pinned.set('a', 'SHA256:key-of-a');
    await deployFleet(deps, [target('a')], settings);
    const log = fleet.host('a').log.length;
    const again = await deployFleet(deps, [target('a')], settings);
    expect(again[0]).toMatchObject({ outcome: 'current', changed: [], message: expect.stringMatching(/already 0\.2\.0, everything in place/) });
    expect(fleet.host('a').log.length).toBe(log);
    fleet.host('a').files.set('/etc/sendense/agent.json', { content: '{}', owner: 'root', mode: 0o644 });
    const fixed = await deployFleet(deps, [target('a')], settings);
    expect(fixed[0]).toMatchObject({ outcome: 'done', changed: ['/etc/sendense/agent.json', 'service restarted'] });
  });

  it('rolling upgrade: one cluster at a time, each host after its jobs; a failed cluster stops the rest', async () => {
    const { fleet, deps, settings } = setup('0.1.0');
    for (const a of ['a1', 'a2', 'b1', 'c1']) { fleet.add({ address: a }); fleet.pinned.set(a, `SHA256:key-of-${a}`); }
    const targets = [target('a1', 'A'), target('a2', 'A'), target('b1', 'B'), target('c1', 'C')];
    await deployFleet(deps, targets, settings);
    const v2 = { ...deps, packages: { deb: pkg('deb', '0.2.0') } };
    const order: string[] = [];
    let busy = 2;
    const rows = await rollingUpgrade(v2, targets, settings, {
      concurrency: 1, pollMs: 1,
      runningJobs: async (t) => { order.push(`jobs? ${t.address}`); return t.address === 'a2' && busy > 0 ? busy-- : 0; },
      emit: (e) => { if (e.type === 'row') order.push(`row ${e.row.address} ${e.row.outcome}`); },
    });
    expect(order).toEqual(['jobs? a1', 'row a1 done', 'jobs? a2', 'jobs? a2', 'jobs? a2', 'row a2 done', 'jobs? b1', 'row b1 done', 'jobs? c1', 'row c1 done']);
    expect(rows.map((r) => r.changed[0])).toEqual(['upgraded 0.1.0 → 0.2.0', 'upgraded 0.1.0 → 0.2.0', 'upgraded 0.1.0 → 0.2.0', 'upgraded 0.1.0 → 0.2.0']);

    fleet.host('b1').brokenAgent = true;
    const v3 = { ...deps, packages: { deb: pkg('deb', '0.3.0') } };
    const r3 = await rollingUpgrade(v3, targets, settings, { runningJobs: async () => 0 });
    expect(r3.map((r) => `${r.address} ${r.code ?? r.outcome}`)).toEqual(['a1 done', 'a2 done', 'b1 not-healthy', 'c1 skipped']);
    expect(r3[3].message).toMatch(/cluster B had 1 failed host\(s\) \(kvm-b1\)/);
    expect(fleet.host('c1').installed?.version).toBe('0.2.0');

    const stuck = await rollingUpgrade(v3, [target('c1', 'C')], settings, { runningJobs: async () => 1, drainTimeoutMs: 0, pollMs: 1 });
    expect(stuck[0]).toMatchObject({ code: 'busy', message: expect.stringMatching(/still runs 1 job/) });
  });

  it('status reads each host; remove keeps data, purge takes it and revokes the repository key', async () => {
    const { fleet, repo, deps, settings } = setup();
    fleet.add({ address: 'a' }); fleet.pinned.set('a', 'SHA256:key-of-a');
    fleet.add({ address: 'b' }); fleet.pinned.set('b', 'SHA256:key-of-b');
    await deployFleet(deps, [target('a'), target('b')], settings);
    fleet.host('b').service.active = false;
    const st = await statusFleet(deps, [target('a'), target('b')], settings);
    expect(st.map((r) => r.code ?? r.outcome)).toEqual(['ok', 'not-healthy']);
    expect(st[1].message).toMatch(/installed but its service is enabled and not running/);
    const removed = await removeFleet(deps, [target('a')], settings, false);
    expect(removed[0]).toMatchObject({ outcome: 'removed', message: 'removed 0.2.0; config and state kept' });
    expect(fleet.host('a').files.has('/etc/sendense/agent.json')).toBe(true);
    expect(repo.authorizedKeys).toMatch(/sendense-agent@id-a/);
    const purged = await removeFleet(deps, [target('a')], settings, true);
    expect(purged[0]).toMatchObject({ outcome: 'removed', message: 'purged the config and state a remove left; its repository key revoked' });
    expect((await removeFleet(deps, [target('a')], settings, true))[0]).toMatchObject({ outcome: 'current', message: 'not installed: nothing to remove' });
    await deployFleet(deps, [target('a')], settings);
    const p2 = await removeFleet(deps, [target('a')], settings, true);
    expect(p2[0]).toMatchObject({ outcome: 'removed', message: 'purged 0.2.0; its repository key revoked' });
    expect([...fleet.host('a').files.keys()].filter((k) => k.startsWith('/etc/sendense') || k.startsWith('/var/lib/sendense'))).toEqual([]);
    expect(repo.authorizedKeys).not.toMatch(/sendense-agent@id-a/);
    expect(repo.authorizedKeys).toMatch(/sendense-agent@id-b/);
  });
});
