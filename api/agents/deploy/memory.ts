/**
 * @layer port
 * In-memory KVM hosts for deployment tests: each MemoryHost has an address, an SSH host key, the
 * users it lets in (password or key file, and whether sudo needs a password), an os-release, free
 * space, libvirt or not, files, an installed package version and a service. The connector keeps
 * the port's rules: an unpinned key fails `host-key-unknown` unless its fingerprint is accepted
 * (then it is pinned), a changed key `host-key-changed`, and so on; installing a package needs
 * room; the probe answers only when the service runs, with the installed version. MemoryRepositoryKeys
 * keeps the authorized_keys of a repository host.
 */
import { DeployError } from './errors.ts';
import { withKeyLine, withoutKeyLine } from './plan.ts';
import type {
  AgentHealthReport, AgentProbe, ConnectOptions, DeployTarget, HostConnector, HostFacts, HostSession, RepositoryKeys, ServiceState,
} from './port.ts';
import type { PackageFormat } from './os-release.ts';

export interface MemoryHostSpec {
  address: string;
  hostKeyFingerprint?: string;
  osRelease?: string | null;
  users?: Record<string, { password?: string; identityFile?: string; sudo?: 'nopasswd' | 'password' | 'none' }>;
  libvirt?: boolean;
  freeBytes?: number;
  clockSkewMs?: number;
  reachable?: boolean;
  /** the agent fails to start (a broken build) */
  brokenAgent?: boolean;
}

export const DEBIAN_12 = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n';
export const ROCKY_9 = 'NAME="Rocky Linux"\nVERSION_ID="9.3"\nID="rocky"\nID_LIKE="rhel centos fedora"\nPRETTY_NAME="Rocky Linux 9.3 (Blue Onyx)"\n';

export class MemoryHost {
  hostKeyFingerprint: string;
  osRelease: string | null;
  users: NonNullable<MemoryHostSpec['users']>;
  libvirt: boolean;
  freeBytes: number;
  clockSkewMs: number;
  reachable: boolean;
  brokenAgent: boolean;
  installed: { version: string; format: PackageFormat } | null = null;
  service: ServiceState = { enabled: false, active: false };
  files = new Map<string, { content: string; owner: string; mode: number }>();
  /** what the host was asked to do, in order */
  log: string[] = [];
  starts = 0;
  constructor(readonly address: string, spec: MemoryHostSpec) {
    this.hostKeyFingerprint = spec.hostKeyFingerprint ?? `SHA256:key-of-${address}`;
    this.osRelease = spec.osRelease === undefined ? DEBIAN_12 : spec.osRelease;
    this.users = spec.users ?? { root: { identityFile: '/keys/admin' } };
    this.libvirt = spec.libvirt ?? true;
    this.freeBytes = spec.freeBytes ?? 50 * 2 ** 30;
    this.clockSkewMs = spec.clockSkewMs ?? 0;
    this.reachable = spec.reachable ?? true;
    this.brokenAgent = spec.brokenAgent ?? false;
    this.files.set('/etc/ssh/sshd_config', { content: 'Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\n', owner: 'root', mode: 0o644 });
  }
}

export class MemoryFleet implements HostConnector, AgentProbe {
  readonly hosts = new Map<string, MemoryHost>();
  /** pinned host keys by address (the control plane's known_hosts) */
  readonly pinned = new Map<string, string>();
  now = () => 1_800_000_000_000;
  /** sessions open right now, and the most at once */
  open = 0;
  maxOpen = 0;

  add(spec: MemoryHostSpec): MemoryHost {
    const h = new MemoryHost(spec.address, spec);
    this.hosts.set(spec.address, h);
    return h;
  }

  host(address: string): MemoryHost {
    const h = this.hosts.get(address);
    if (!h) throw new Error(`no memory host ${address}`);
    return h;
  }

  async connect(t: DeployTarget, o: ConnectOptions): Promise<HostSession> {
    o.signal?.throwIfAborted();
    await Promise.resolve();
    const h = this.hosts.get(t.address);
    if (!h || !h.reachable) throw new DeployError('unreachable', `cannot reach ${t.address}:${t.port ?? 22} over SSH: connection refused`);
    const pin = this.pinned.get(t.address);
    if (pin === undefined) {
      if (o.acceptFingerprint !== h.hostKeyFingerprint) {
        throw new DeployError('host-key-unknown', `${t.address} is not pinned: it shows ssh-ed25519 ${h.hostKeyFingerprint}; check it on the host (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub) and accept exactly that fingerprint`, { fingerprint: h.hostKeyFingerprint, knownHostsLine: `${t.address} ssh-ed25519 AAAA-${h.address}` });
      }
      this.pinned.set(t.address, h.hostKeyFingerprint);
    } else if (pin !== h.hostKeyFingerprint) {
      throw new DeployError('host-key-changed', `HOST KEY CHANGED for ${t.address}: it shows ${h.hostKeyFingerprint}, the pinned key is ${pin}`, { fingerprint: h.hostKeyFingerprint });
    }
    const u = h.users[o.credentials.user];
    const ok = u && ((o.credentials.password !== undefined && o.credentials.password === u.password) || (o.credentials.identityFile !== undefined && o.credentials.identityFile === u.identityFile));
    if (!ok) throw new DeployError('auth-failed', `${o.credentials.user}@${t.address} refused the credentials`);
    if (o.credentials.user !== 'root' && u.sudo !== 'nopasswd') throw new DeployError('no-sudo', `${o.credentials.user}@${t.address} is not root and sudo ${u.sudo === 'password' ? 'asks for a password' : 'is not allowed'}`);
    this.open++;
    this.maxOpen = Math.max(this.maxOpen, this.open);
    const fleet = this;
    let closed = false;
    const live = () => { if (closed) throw new Error('session closed'); };
    const session: HostSession = {
      where: `${o.credentials.user}@${t.address}:22`,
      hostKeyFingerprint: h.hostKeyFingerprint,
      async facts(): Promise<HostFacts> {
        live();
        await Promise.resolve();
        return { osRelease: h.osRelease, installedVersion: h.installed?.version ?? null, libvirt: h.libvirt, systemd: true, freeBytes: h.freeBytes, hostClockMs: fleet.now() + h.clockSkewMs, localClockMs: fleet.now() };
      },
      async upload(name, data, opts) {
        live();
        if (data.length > h.freeBytes) throw new DeployError('disk-full', `${t.address}: no space left on device writing ${name}`);
        opts?.onProgress?.(data.length);
        const p = `/var/tmp/sendense-deploy/${name}`;
        h.files.set(p, { content: `<${data.length} bytes>`, owner: 'root', mode: 0o600 });
        h.log.push(`upload ${name}`);
        return p;
      },
      async install(file, format) {
        live();
        const m = /sendense-agent[_-]([^_]+?)(?:_amd64\.deb|-1\.x86_64\.rpm)$/.exec(file);
        if (!m) throw new DeployError('install-failed', `${t.address}: ${file} is not a sendense-agent package`);
        const format0 = /ID(_LIKE)?=.*(rhel|rocky)/.test(h.osRelease ?? '') ? 'rpm' : 'deb';
        if (format !== format0) throw new DeployError('install-failed', `${t.address}: cannot install a .${format} here`);
        h.installed = { version: m[1], format };
        if (!h.files.has('/etc/sendense/agent.json')) h.files.set('/etc/sendense/agent.json', { content: '{"default":true}\n', owner: 'root', mode: 0o644 });
        h.log.push(`install ${m[1]}`);
        // the package's scripts: a new install is enabled and started, an upgrade restarts a running service
        if (!h.service.enabled) h.service = { enabled: true, active: !h.brokenAgent };
        else if (h.service.active) h.service = { enabled: true, active: !h.brokenAgent };
        if (h.service.active) h.starts++;
      },
      async readFile(p) { live(); return h.files.get(p)?.content ?? null; },
      async writeFile(p, content, wo) {
        live();
        h.files.set(p, { content, owner: wo.owner, mode: wo.mode });
        h.log.push(`write ${p}`);
      },
      async service(action) {
        live();
        if (action === 'state') return { ...h.service };
        if (!h.installed) throw new DeployError('failed', `${t.address}: Unit sendense-agent.service not found`);
        h.service = { enabled: true, active: !h.brokenAgent };
        h.starts++;
        h.log.push(`service ${action}`);
        return { ...h.service };
      },
      async remove(_format, purge) {
        live();
        const leftovers = [...h.files.keys()].filter((p) => p.startsWith('/etc/sendense') || p.startsWith('/var/lib/sendense'));
        if (!h.installed && !(purge && leftovers.length)) return false;
        h.installed = null;
        h.service = { enabled: false, active: false };
        if (purge) for (const p of leftovers) h.files.delete(p);
        h.log.push(purge ? 'purge' : 'remove');
        return true;
      },
      async reloadSshd() { live(); h.log.push('reload sshd'); },
      async removePath(p) {
        live();
        for (const k of [...h.files.keys()]) if (k === p || k.startsWith(`${p}/`)) h.files.delete(k);
      },
      async close() { if (!closed) { closed = true; fleet.open--; } },
    };
    return session;
  }

  async health(t: DeployTarget): Promise<AgentHealthReport> {
    await Promise.resolve();
    const h = this.hosts.get(t.address);
    if (!h || !h.reachable || !h.installed || !h.service.active) throw new Error(`[link] cannot reach the agent on ${t.address}: not running`);
    if (!h.files.get('/var/lib/sendense/.ssh/authorized_keys')?.content.includes('sendense-control-plane')) throw new Error(`[link] sendense@${t.address} refused the link key`);
    return { ok: true, problems: [], version: h.installed.version, hostname: t.name, libvirtVersion: 'libvirt 9.0.0', qemuVersion: 'QEMU 7.2.0', checkpoints: true, workDir: { path: '/var/lib/sendense-agent/jobs', freeBytes: h.freeBytes }, runningJobs: 0 };
  }
}

export class MemoryRepositoryKeys implements RepositoryKeys {
  authorizedKeys = '';
  async authorize(publicKey: string, comment: string): Promise<void> {
    const [type, blob] = publicKey.split(/\s+/);
    this.authorizedKeys = withKeyLine(this.authorizedKeys, `${type} ${blob} ${comment}`, comment);
  }
  async revoke(comment: string): Promise<void> {
    this.authorizedKeys = withoutKeyLine(this.authorizedKeys, comment);
  }
}
