/**
 * `sendense agents deploy` for real (api/agents/deploy/): the control plane deploys the agent
 * .deb to two namespace KVM hosts AT ONCE, taken from the CloudStack simulator's host list (two
 * Routing KVM hosts at the namespaces' veth addresses, beside one in Maintenance that is skipped),
 * over SSH as root with the host keys pinned: the first run stops at "host key unknown" with each
 * host's real fingerprint, the run that accepts exactly those keys installs. On each host then:
 * `systemctl is-active sendense-agent`, health green over the control plane's own link (the
 * `sendense` user, the link key: no shell, no remote forward), a per-host repository key
 * authorized on the repository host (only from that host's address); a re-run changes nothing;
 * a full backup of a TCG VM running under each host's own libvirtd goes through that host's
 * deployed agent into an SSH repository; a rolling upgrade to a newer build keeps the state (the
 * backup job is still in the agent's journal, the edited concurrency stays); wrong credentials
 * and a changed host key are refused with their reasons; remove and purge leave the hosts clean
 * and revoke their repository keys.
 *
 * Run time: 2 min 46 s measured here (load ~20 on 2 cores; the hosts' root file system cached; the first
 * build of it takes ~5 min more). What the namespaces cannot do: see test/lab/nshost.ts (no
 * /dev/kvm: QEMU runs TCG; no v1 resource controllers); a third host is not booted (time).
 */
import { randomUUID } from 'node:crypto';
import { chownSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackages } from '../../packaging/build.ts';
import { createLinkGateway } from '../../api/agents/link-gateway.ts';
import { CloudStackClient } from '../../api/cloudstack/client.ts';
import { createSimulator } from '../../api/cloudstack-sim/app.ts';
import { defaultState } from '../../api/cloudstack-sim/state.ts';
import { deployFleet, removeFleet, rollingUpgrade, statusFleet } from '../../api/agents/deploy/fleet.ts';
import { HOST_PATHS, type DeployDeps, type DeploySettings } from '../../api/agents/deploy/host-deploy.ts';
import { newKeyPair, packagesIn, publicKeyOf } from '../../api/agents/deploy/keys.ts';
import { linkProbe } from '../../api/agents/deploy/link-probe.ts';
import { sshHostConnector } from '../../api/agents/deploy/ssh-host.ts';
import { sshRepositoryKeys } from '../../api/agents/deploy/ssh-repository-keys.ts';
import { resolveTargets } from '../../api/agents/deploy/targets.ts';
import type { DeployTarget } from '../../api/agents/deploy/port.ts';
import type { DeployEvent } from '../../api/agents/deploy/report.ts';
import { run } from '../../agent/system/run.ts';
import { AGENT_SOCKET } from '../../agent/daemon/socket-path.ts';
import { bootNsHost, type NsHost } from './nshost.ts';
import { clientKey, startRepoHost, REPO_USER, type RepoHost } from './sshd.ts';
import { log } from './log.ts';

const pkgVersion = (JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../package.json'), 'utf8')) as { version: string }).version;
const V1 = pkgVersion;
const V2 = `${pkgVersion}+deploy2`;

const hosts: NsHost[] = [];
let repo: RepoHost;
let dir: string;
let pkgDirs: { v1: string; v2: string };
let targets: DeployTarget[];
let deps: DeployDeps;
let settings: DeploySettings;
let cp: { linkKey: string; knownHosts: string; adminKey: string };
const vms = new Map<string, { vmId: string; domain: string }>();
const backupJobs = new Map<string, string>();

const REPO_SUB = 'deployed';

function repoUrl(h: NsHost): string {
  return `ssh://${REPO_USER}@${h.net.hostAddress}:${repo.port}${path.posix.join(repo.root, REPO_SUB)}`;
}

function gateway() {
  return createLinkGateway({
    access: (hostId) => {
      const h = hosts.find((x) => targets.find((t) => t.hostId === hostId)?.address === x.net.address);
      if (!h) return undefined;
      return { host: h.net.address, port: 22, username: 'sendense', identityFile: cp.linkKey, knownHostsFile: cp.knownHosts, socketPath: AGENT_SOCKET, repoIdentity: HOST_PATHS.repoIdentity, repoKnownHosts: HOST_PATHS.repoKnownHosts };
    },
  });
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'sendense-deploy-'));
  const t0 = Date.now();
  const [h1, h2, built] = await Promise.all([
    bootNsHost('dep1'),
    bootNsHost('dep2'),
    (async () => {
      const v1 = path.join(dir, 'pkgs-v1');
      const v2 = path.join(dir, 'pkgs-v2');
      await buildPackages({ outDir: v1, only: ['sendense-agent'], formats: ['deb'], version: V1, log });
      await buildPackages({ outDir: v2, only: ['sendense-agent'], formats: ['deb'], version: V2, log });
      return { v1, v2 };
    })(),
  ]);
  hosts.push(h1, h2);
  pkgDirs = built;
  log(`two namespace hosts booted and two agent builds made in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

  // the repository host: sshd on this machine, reachable from each namespace host over its veth
  repo = await startRepoHost({ label: 'deprepo', extraConfig: hosts.map((h) => `ListenAddress ${h.net.hostAddress}`).join('\n') });
  // the control plane edits the repository user's authorized_keys as that user
  const repoAuthKeys = path.join(path.dirname(repo.knownHostsFile), 'authorized_keys');
  const { uid, gid } = statSync(repo.root);
  chownSync(repoAuthKeys, uid, gid);

  // the control plane's files: its link key, its known_hosts (empty: nothing pinned yet), the admin's SSH key
  const linkKey = path.join(dir, 'id_ed25519');
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'sendense@control-plane', '-f', linkKey]);
  const knownHosts = path.join(dir, 'known_hosts');
  writeFileSync(knownHosts, '', { mode: 0o600 });
  const adminKey = await clientKey();
  cp = { linkKey, knownHosts, adminKey };
  // what a CloudStack KVM host has already: root's key from the management server's side
  for (const h of hosts) await h.sh(`install -d -m 0700 /root/.ssh && printf '%s\\n' '${readFileSync(`${adminKey}.pub`, 'utf8').trim()}' >> /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys`);

  // CloudStack's host list: the two namespace hosts as Routing KVM hosts, the simulator's own in Maintenance
  const state = defaultState();
  state.hosts[0].resourceState = 'Maintenance';
  const zoneId = state.zones[0].id;
  state.hosts.push(
    { id: randomUUID(), name: h1.hostname, ip: h1.net.address, zoneId, podId: state.hosts[0].podId, clusterId: 'c0a1e0de-0000-4000-8000-0000000000c1', state: 'Up', resourceState: 'Enabled', hypervisorVersion: '7.2.0' },
    { id: randomUUID(), name: h2.hostname, ip: h2.net.address, zoneId, podId: state.hosts[0].podId, clusterId: 'c0a1e0de-0000-4000-8000-0000000000c2', state: 'Up', resourceState: 'Enabled', hypervisorVersion: '7.2.0' },
  );
  const sim = createSimulator({ state });
  const cs = new CloudStackClient({ endpoint: 'http://cloudstack.sim/client/api', credentials: sim.adminKeys, fetch: sim.fetch });
  const sel = await resolveTargets(cs, {});
  expect(sel.skipped).toEqual([{ name: 'kvm1', hostId: state.hosts[0].id, reason: expect.stringMatching(/resource state is Maintenance/) }]);
  targets = sel.targets;
  expect(targets.map((t) => t.address).sort()).toEqual(hosts.map((h) => h.net.address).sort());

  const repoKnownHosts = hosts.map((h) => `[${h.net.hostAddress}]:${repo.port} ${repo.hostKeyPub}`).join('\n');
  deps = {
    connector: sshHostConnector({ knownHostsFile: knownHosts }),
    probe: linkProbe({ user: 'sendense', identityFile: linkKey, knownHostsFile: knownHosts, socketPath: AGENT_SOCKET }),
    repositoryKeys: sshRepositoryKeys({
      host: repo.host, port: repo.port, user: REPO_USER, identityFile: repo.identityFile, knownHostsFile: repo.knownHostsFile, authorizedKeysFile: repoAuthKeys,
      fromAddress: (comment) => { const t = targets.find((x) => comment.endsWith(`@${x.hostId}`)); return t?.address; },
    }),
    newKeyPair,
    packages: packagesIn(pkgDirs.v1),
  };
  settings = {
    credentials: { user: 'root', identityFile: adminKey },
    linkPublicKey: publicKeyOf(linkKey),
    repositoryKnownHosts: repoKnownHosts,
    agentConfig: {
      socket: AGENT_SOCKET, socketOwner: 'sendense', journal: '/var/lib/sendense-agent/journal', workDir: '/var/lib/sendense-agent/jobs', concurrency: 2,
      // the daemon's allow-list: the repository as each host reaches it (over its own veth)
      repositories: hosts.map((h) => ({ url: repoUrl(h), identity: HOST_PATHS.repoIdentity, knownHosts: HOST_PATHS.repoKnownHosts })),
    },
    healthTimeoutMs: 90_000,
    minWorkDirFreeBytes: 64 * 2 ** 20,
  };
}, 1_800_000);

afterAll(async () => {
  for (const h of hosts) await h.stop().catch(() => {});
  await repo?.stop().catch(() => {});
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('deploying the agent from the control plane to namespace KVM hosts', () => {
  it("refuses hosts whose keys are not pinned, showing each host's real fingerprint", async () => {
    const rows = await deployFleet(deps, targets, settings, { concurrency: 2 });
    for (const r of rows) {
      const h = hosts.find((x) => x.net.address === r.address)!;
      const real = (await h.exec('ssh-keygen', ['-lf', '/etc/ssh/ssh_host_ed25519_key.pub'])).stdout.split(' ')[1];
      expect(r).toMatchObject({ outcome: 'failed', code: 'host-key-unknown', details: { fingerprint: real } });
      expect(r.message).toContain(real);
      expect((await h.exec('dpkg-query', ['-W', 'sendense-agent'], { okCodes: [1] })).code).toBe(1);
    }
    expect(readFileSync(cp.knownHosts, 'utf8')).toBe('');
  });

  it('deploys to both hosts at once once the admin accepts exactly those keys: active, healthy over the link', async () => {
    const first = await deployFleet(deps, targets, settings, { concurrency: 2 });
    const accept = Object.fromEntries(first.map((r) => [r.address, r.details!.fingerprint!]));
    const events: DeployEvent[] = [];
    const t0 = Date.now();
    const rows = await deployFleet(deps, targets, { ...settings, acceptHostKeys: accept }, { concurrency: 2, emit: (e) => events.push(e) });
    log(`deployed to ${rows.length} hosts at once in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${rows.map((r) => `${r.name} ${r.outcome} ${r.durationMs} ms`).join(', ')}`);
    for (const r of rows.filter((x) => x.outcome === 'failed')) {
      // say what the host saw: the service, its socket, sshd's log, and OpenSSH's own try of the forward
      const h = hosts.find((x) => x.net.address === r.address)!;
      const diag = await h.sh('systemctl status sendense-agent --no-pager -n 5; ls -la /run/sendense; journalctl -u ssh --no-pager -n 15', { okCodes: [0, 1, 2, 3] });
      const sock = path.join(dir, `fwd-${r.address}.sock`);
      const fwd = await run('sh', ['-c', `timeout 15 ssh -i ${cp.linkKey} -o UserKnownHostsFile=${cp.knownHosts} -o StrictHostKeyChecking=yes -o BatchMode=yes -o ExitOnForwardFailure=yes -N -L ${sock}:${AGENT_SOCKET} sendense@${r.address} & sleep 3; curl -sS --max-time 5 --unix-socket ${sock} http://agent/v1/health; sleep 1; kill %1`], { okCodes: [0, 1, 2, 7, 52, 56, 124, 143] }).catch((e: Error) => ({ stdout: '', stderr: e.message }));
      log(`diagnostics for ${r.name}:\n${diag.stdout}\n${diag.stderr}\nOpenSSH forward: ${fwd.stdout}\n${fwd.stderr}`);
    }
    for (const r of rows) expect(r, r.message).toMatchObject({ outcome: 'done', version: V1, fromVersion: null, os: 'Debian GNU/Linux 12 (bookworm)' });
    // both hosts were being worked on at the same time
    const uploads = events.filter((e) => e.type === 'host' && e.step === 'upload').map((e) => (e as { host: string }).host);
    expect(new Set(uploads).size).toBe(2);
    const firstDone = events.findIndex((e) => e.type === 'row');
    expect(new Set(events.slice(0, firstDone).filter((e) => e.type === 'host' && e.step === 'install').map((e) => (e as { host: string }).host)).size).toBe(2);
    for (const r of rows) {
      const h = hosts.find((x) => x.net.address === r.address)!;
      expect((await h.exec('systemctl', ['is-active', 'sendense-agent'], { okCodes: [3] })).stdout.trim()).toBe('active');
      expect(r.health).toMatchObject({ ok: true, version: V1, hostname: h.hostname, checkpoints: true, libvirtVersion: expect.stringMatching(/^libvirt 9\./), workDir: { path: '/var/lib/sendense-agent/jobs' } });
      expect(Math.abs(r.health!.clockOffsetMs)).toBeLessThan(2000);
      const keys = (await h.exec('cat', [HOST_PATHS.linkAuthorizedKeys])).stdout;
      expect(keys).toBe(`restrict,port-forwarding,permitlisten="127.0.0.1:9",command="/bin/false" ${publicKeyOf(cp.linkKey).split(' ').slice(0, 2).join(' ')} sendense-control-plane\n`);
      expect((await h.exec('stat', ['-c', '%U %a', HOST_PATHS.linkAuthorizedKeys, HOST_PATHS.repoIdentity])).stdout.trim().split('\n')).toEqual(['sendense 600', 'root 600']);
    }
    // the pinned keys are the accepted ones, one line per host
    expect(readFileSync(cp.knownHosts, 'utf8').trim().split('\n')).toHaveLength(2);
    // each host's own repository key is authorized, only from its address
    const authorized = await repo.ssh(`cat ${path.join(path.dirname(repo.knownHostsFile), 'authorized_keys')}`);
    for (const t of targets) expect(authorized).toMatch(new RegExp(`^no-port-forwarding,no-agent-forwarding,no-X11-forwarding,no-pty,from="${t.address.replace(/\./g, '\\.')}" ssh-ed25519 \\S+ sendense-agent@${t.hostId}$`, 'm'));
  });

  it('the link key opens no shell and no remote forward (local forwards stay: OpenSSH ties the socket forward to them)', async () => {
    const h = hosts[0];
    const ssh = ['-i', cp.linkKey, '-o', `UserKnownHostsFile=${cp.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', `sendense@${h.net.address}`];
    const shell = await run('ssh', [...ssh, 'id'], { okCodes: [0, 1, 255], timeoutMs: 30_000 });
    expect(shell.stdout).not.toMatch(/uid=/);
    const remote = await run('ssh', ['-N', '-o', 'ExitOnForwardFailure=yes', '-R', '127.0.0.1:2222:127.0.0.1:22', ...ssh], { okCodes: [0, 1, 255], timeoutMs: 30_000 });
    expect(remote.code).toBe(255);
    expect(remote.stderr).toMatch(/remote port forwarding failed/);
    const effective = (await h.exec('sshd', ['-T', '-C', 'user=sendense,host=cp,addr=198.18.0.1'])).stdout;
    expect(effective).toMatch(/^allowtcpforwarding local$/m);
    expect(effective).toMatch(/^allowstreamlocalforwarding local$/m);
    expect(effective).toMatch(/^permittty no$/m);
  });

  it('a re-run changes nothing and says already current', async () => {
    const rows = await deployFleet(deps, targets, settings, { concurrency: 2 });
    for (const r of rows) expect(r, r.message).toMatchObject({ outcome: 'current', changed: [], version: V1 });
  });

  it("a backup of a VM under each host's own libvirtd runs through that host's deployed agent", async () => {
    const gw = gateway();
    try {
      await Promise.all(targets.map(async (t) => {
        const h = hosts.find((x) => x.net.address === t.address)!;
        const domain = `i-2-${hosts.indexOf(h) + 10}-VM`;
        const vmId = randomUUID();
        const disk = `/var/lib/libvirt/images/${vmId}.qcow2`;
        await h.exec('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M']);
        await h.exec('qemu-io', ['-c', 'write -P 0xab 0 8M', disk]);
        const xml = `<domain type='qemu'><name>${domain}</name><uuid>${vmId}</uuid><memory unit='MiB'>128</memory><vcpu>1</vcpu>
<os><type arch='x86_64' machine='q35'>hvm</type><boot dev='hd'/></os>
<devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='${disk}'/><target dev='vda' bus='virtio'/></disk>
<controller type='usb' model='none'/><memballoon model='none'/></devices></domain>`;
        await h.sh(`cat > /root/${domain}.xml <<'EOF'\n${xml}\nEOF\nvirsh -c qemu:///system create /root/${domain}.xml`, { timeoutMs: 180_000 });
        expect((await h.exec('virsh', ['-c', 'qemu:///system', 'domstate', domain])).stdout.trim()).toBe('running');
        vms.set(t.hostId!, { vmId, domain });
        const { agentJobId } = await gw.startBackup(t.hostId!, { requestId: randomUUID(), vmId, domain, mode: 'full', repository: repoUrl(h) });
        backupJobs.set(t.hostId!, agentJobId);
        const until = Date.now() + 300_000;
        for (;;) {
          const s = await gw.jobStatus(t.hostId!, agentJobId);
          if (s.state === 'succeeded') {
            expect(s.result!.manifest).toMatchObject({ vm_uuid: vmId, type: 'full' });
            break;
          }
          if (s.state === 'failed' || s.state === 'cancelled') throw new Error(`backup on ${t.name}: ${s.state}: ${s.error?.message}`);
          if (Date.now() > until) throw new Error(`backup on ${t.name} did not finish in 300 s (${s.state})`);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }));
      const listing = await repo.ssh(`ls ${path.posix.join(repo.root, REPO_SUB)}`);
      for (const { vmId } of vms.values()) expect(listing).toContain(vmId);
    } finally {
      await gw.close();
    }
  });

  it('a rolling upgrade to a newer build keeps config and state (the backup is still in the journal)', async () => {
    for (const h of hosts) await h.sh(`sed -i 's/"concurrency": 2/"concurrency": 3/' ${HOST_PATHS.agentConfig}`);
    const upgradeSettings = { ...settings, agentConfig: { ...settings.agentConfig, concurrency: 3 } };
    const order: string[] = [];
    const rows = await rollingUpgrade({ ...deps, packages: packagesIn(pkgDirs.v2) }, targets, upgradeSettings, {
      concurrency: 2,
      runningJobs: async (t) => (await deps.probe.health(t)).runningJobs,
      emit: (e) => {
        const what = e.type === 'row' ? e.row.name : e.type === 'host' && e.step === 'upload' ? `upload ${e.host}` : undefined;
        if (what && order.at(-1) !== what) order.push(what);
      },
    });
    for (const r of rows) expect(r, r.message).toMatchObject({ outcome: 'done', fromVersion: V1, version: V2, changed: [`upgraded ${V1} → ${V2}`] });
    // one cluster at a time: the second host's upload comes after the first host's row
    const waves = [...targets].sort((a, b) => a.clusterId!.localeCompare(b.clusterId!));
    expect(order).toEqual([`upload ${waves[0].name}`, waves[0].name, `upload ${waves[1].name}`, waves[1].name]);
    const gw = gateway();
    try {
      for (const t of targets) {
        const h = hosts.find((x) => x.net.address === t.address)!;
        expect((await h.exec('dpkg-query', ['-W', '-f=${Version}', 'sendense-agent'])).stdout).toBe(V2);
        expect(readFileSync(h.hostPath(HOST_PATHS.agentConfig), 'utf8')).toMatch(/"concurrency": 3/);
        const health = await gw.health(t.hostId!);
        expect(health).toMatchObject({ capabilities: { jobs: { concurrency: 3 } } });
        const job = await gw.jobStatus(t.hostId!, backupJobs.get(t.hostId!)!);
        expect(job).toMatchObject({ state: 'succeeded', kind: 'backup' });
      }
    } finally {
      await gw.close();
    }
  });

  it('wrong credentials and a changed host key are refused, each on its own row', async () => {
    const other = path.join(dir, 'not-authorized');
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const wrong = await statusFleet(deps, targets, { credentials: { user: 'root', identityFile: other } }, { concurrency: 2 });
    for (const r of wrong) expect(r).toMatchObject({ outcome: 'failed', code: 'auth-failed', message: expect.stringMatching(/refused the key/) });
    const changedKh = path.join(dir, 'known_hosts.changed');
    const lines = readFileSync(cp.knownHosts, 'utf8').trim().split('\n');
    const victim = targets[0].address;
    writeFileSync(changedKh, lines.map((l) => l.startsWith(`${victim} `) ? `${victim} ${repo.hostKeyPub}` : l).join('\n') + '\n');
    const rows = await statusFleet({ ...deps, connector: sshHostConnector({ knownHostsFile: changedKh }) }, targets, { credentials: settings.credentials }, { concurrency: 2 });
    expect(rows.map((r) => r.code ?? r.outcome)).toEqual(['host-key-changed', 'ok']);
    expect(rows[0].message).toMatch(/HOST KEY CHANGED/);
    expect(rows[1]).toMatchObject({ version: V2, health: { ok: true } });
  });

  it('remove keeps config and data; purge leaves each host clean and revokes its repository key', async () => {
    for (const h of hosts) await h.exec('virsh', ['-c', 'qemu:///system', 'destroy', [...vms.values()][hosts.indexOf(h)].domain], { okCodes: [1] });
    const removed = await removeFleet(deps, targets, settings, false, { concurrency: 2 });
    for (const r of removed) expect(r, r.message).toMatchObject({ outcome: 'removed', message: `removed ${V2}; config and state kept` });
    for (const h of hosts) {
      expect((await h.exec('systemctl', ['is-active', 'sendense-agent'], { okCodes: [3, 4] })).stdout.trim()).not.toBe('active');
      expect((await h.exec('cat', [HOST_PATHS.agentConfig])).stdout).toMatch(/"concurrency": 3/);
      expect((await h.exec('ls', ['/var/lib/sendense-agent/journal'])).stdout.trim()).not.toBe('');
    }
    const purged = await removeFleet(deps, targets, settings, true, { concurrency: 2 });
    for (const r of purged) expect(r, r.message).toMatchObject({ outcome: 'removed', message: 'purged the config and state a remove left; its repository key revoked' });
    for (const h of hosts) {
      for (const p of ['/var/lib/sendense-agent', '/var/lib/sendense', '/etc/sendense', '/usr/lib/sendense', '/run/sendense', '/lib/systemd/system/sendense-agent.service', '/var/tmp/sendense-deploy']) {
        const left = (await h.exec('test', ['-e', p], { okCodes: [1] })).code === 0 && p === '/var/tmp/sendense-deploy'
          ? (await h.exec('ls', ['-A', p])).stdout.trim() === '' ? 1 : 0
          : (await h.exec('test', ['-e', p], { okCodes: [1] })).code;
        expect(left, `${p} after purge on ${h.hostname}`).toBe(1);
      }
      expect((await h.exec('getent', ['passwd', 'sendense'], { okCodes: [2] })).code).toBe(2);
      expect((await h.sh('find /etc/systemd -name "sendense*"')).stdout.trim()).toBe('');
    }
    const authorized = await repo.ssh(`cat ${path.join(path.dirname(repo.knownHostsFile), 'authorized_keys')}`);
    expect(authorized).not.toMatch(/sendense-agent@/);
    expect(authorized).toMatch(/sendense-lab/);
    const again = await removeFleet(deps, targets, settings, true, { concurrency: 2 });
    for (const r of again) expect(r).toMatchObject({ outcome: 'current', message: 'not installed: nothing to remove' });
  });
});
