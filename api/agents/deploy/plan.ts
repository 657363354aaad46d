/**
 * @layer logic
 * The pure decisions of agent deployment: what to do on a host given what it has (install,
 * upgrade, nothing, or refuse and why), which hosts of CloudStack's list to take, the order of a
 * rolling upgrade (one cluster after another), the `authorized_keys` line that lets the control
 * plane's link key reach the agent's socket and nothing else, and the agent config written.
 */
import { compareVersions } from './version.ts';
import { packageFormatFor, parseOsRelease, type PackageFormat } from './os-release.ts';
import type { DeployErrorCode } from './errors.ts';
import type { DeployTarget, HostFacts } from './port.ts';

export type HostAction =
  | { kind: 'install'; format: PackageFormat }
  | { kind: 'upgrade'; format: PackageFormat; from: string }
  | { kind: 'current'; format: PackageFormat; version: string }
  | { kind: 'refuse'; code: DeployErrorCode; reason: string };

/** Room the package needs on the host: the file and its unpacked tree, about four times its size. */
export const SPACE_FACTOR = 4;

export function decideHost(facts: HostFacts, want: { version: string; sizes: Partial<Record<PackageFormat, number>> }, opts: { downgrade?: boolean } = {}): HostAction {
  if (facts.osRelease === null) return { kind: 'refuse', code: 'unsupported-os', reason: 'the host has no /etc/os-release: cannot tell which package it takes' };
  const os = parseOsRelease(facts.osRelease);
  const f = packageFormatFor(os);
  if ('unsupported' in f) return { kind: 'refuse', code: 'unsupported-os', reason: f.unsupported };
  if (!facts.libvirt) return { kind: 'refuse', code: 'no-libvirt', reason: `${os.prettyName} has no libvirt daemon (libvirtd or virtqemud): is it a CloudStack KVM host? Install libvirt first` };
  if (!facts.systemd) return { kind: 'refuse', code: 'failed', reason: 'the host does not run systemd: the agent package needs it to run its service' };
  const size = want.sizes[f.format];
  if (size === undefined) return { kind: 'refuse', code: 'no-package', reason: `the control plane has no .${f.format} package of sendense-agent ${want.version} for ${os.prettyName}` };
  const installed = facts.installedVersion;
  if (installed !== null) {
    const c = compareVersions(installed, want.version);
    if (c === 0) return { kind: 'current', format: f.format, version: installed };
    if (c > 0 && !opts.downgrade) return { kind: 'current', format: f.format, version: installed };
  }
  if (facts.freeBytes < size * SPACE_FACTOR) {
    return { kind: 'refuse', code: 'disk-full', reason: `only ${mib(facts.freeBytes)} free on the host, the package needs about ${mib(size * SPACE_FACTOR)} (in /var/tmp and /usr)` };
  }
  return installed === null ? { kind: 'install', format: f.format } : { kind: 'upgrade', format: f.format, from: installed };
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(0)} MiB`;

/** The comment that marks the control plane's link key in the agent user's authorized_keys. */
export const LINK_KEY_COMMENT = 'sendense-control-plane';

/**
 * The line for the link key: `restrict` turns off every forward, pty, agent and X11 forwarding and
 * ~/.ssh/rc; `port-forwarding` turns forwarding back on (the socket forward needs it),
 * `permitlisten` narrows remote TCP listens to a privileged port the user cannot bind, and a
 * session, were one asked for, runs /bin/false whatever it asks (the shell is nologin too).
 * NOT possible with OpenSSH: "unix-socket forwards only". Its unix-socket forwards share the
 * permission set of TCP forwards: `permitopen` (authorized_keys or sshd_config, which take only
 * host:port, "none" refused in authorized_keys) and `AllowTcpForwarding no` shut the socket
 * forward too (sshd logs "Received request to connect to path …, but the request was denied").
 * So the key may still open local TCP forwards from the host; the drop-in below takes away
 * remote forwards, tty, agent/X11 forwarding and tunnels, and forces /bin/false on sessions.
 * The key's own comment is replaced by LINK_KEY_COMMENT (re-runs find and replace it).
 */
export function linkKeyLine(publicKey: string): string {
  const [type, blob] = publicKey.trim().split(/\s+/);
  if (!type || !blob || !/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa|sk-\S+)$/.test(type) || !/^[A-Za-z0-9+/=]+$/.test(blob)) {
    throw new Error(`[deploy] the control plane's link key is not an OpenSSH public key line: '${publicKey.slice(0, 40)}…'`);
  }
  return `restrict,port-forwarding,permitlisten="127.0.0.1:9",command="/bin/false" ${type} ${blob} ${LINK_KEY_COMMENT}`;
}

/** /etc/ssh/sshd_config.d/sendense-agent.conf: the link user may forward to unix sockets and do nothing else. */
export const SSHD_DROPIN_PATH = '/etc/ssh/sshd_config.d/sendense-agent.conf';
export function sshdDropIn(user: string): string {
  return [
    '# Sendense: the control plane\'s link user: local forwards only (the agent\'s unix socket), no session',
    '# (written by `sendense agents deploy`; removed by `sendense agents remove --purge`)',
    `Match User ${user}`,
    '    AllowTcpForwarding local', '    AllowStreamLocalForwarding local', '    AllowAgentForwarding no', '    X11Forwarding no',
    '    PermitTTY no', '    PermitTunnel no', '    GatewayPorts no', '    ForceCommand /bin/false', '',
  ].join('\n');
}

/** Whether this sshd_config reads the drop-in directory (Debian 12, Ubuntu, EL 9 do; EL 8's does not). */
export function readsDropIns(sshdConfig: string | null): boolean {
  return /^\s*Include\s+\/etc\/ssh\/sshd_config\.d\/\*\.conf\b/m.test(sshdConfig ?? '');
}

/** authorized_keys with `line` in place of any earlier line carrying the same comment; other keys kept. */
export function withKeyLine(existing: string | null, line: string, comment = LINK_KEY_COMMENT): string {
  const kept = (existing ?? '').split('\n').filter((l) => l.trim() && !l.trim().endsWith(` ${comment}`));
  return `${[...kept, line].join('\n')}\n`;
}

/** authorized_keys without the lines carrying `comment`. */
export function withoutKeyLine(existing: string | null, comment: string): string {
  const kept = (existing ?? '').split('\n').filter((l) => l.trim() && !l.trim().endsWith(` ${comment}`));
  return kept.length ? `${kept.join('\n')}\n` : '';
}

/** The comment of a host's own repository key (the repository host's authorized_keys line). */
export function repoKeyComment(target: Pick<DeployTarget, 'hostId' | 'name'>): string {
  return `sendense-agent@${(target.hostId ?? target.name).replace(/[^A-Za-z0-9._-]/g, '_')}`;
}

export interface AgentConfigInput {
  socket: string;
  socketOwner: string;
  journal: string;
  workDir: string;
  concurrency: number;
  /** the repositories the agent may write to (its policy's allow.repositories), each with the host's own repository key */
  repositories?: { url: string; identity: string; knownHosts: string }[];
}

/** /etc/sendense/agent.json as deployment writes it (the package's keys, plus the daemon's allow-list). */
export function agentConfigJson(c: AgentConfigInput): string {
  const allow = c.repositories?.length ? { allow: { repositories: c.repositories } } : {};
  return `${JSON.stringify({ socket: c.socket, socketOwner: c.socketOwner, journal: c.journal, workDir: c.workDir, concurrency: c.concurrency, ...allow }, null, 2)}\n`;
}

/** A CloudStack host as listHosts returns it (the fields deployment reads). */
export interface CloudStackHostRow {
  id: string;
  name: string;
  ipaddress?: string;
  state?: string;
  resourcestate?: string;
  clusterid?: string;
  zoneid?: string;
}

export interface HostSelection {
  /** host ids or names; none = every KVM host */
  hosts?: string[];
  zoneId?: string;
  clusterId?: string;
  /** also take hosts CloudStack has in Maintenance / Disabled or not Up */
  includeUnavailable?: boolean;
}

export interface SelectedHosts {
  targets: DeployTarget[];
  /** hosts left out, with why */
  skipped: { name: string; hostId?: string; reason: string }[];
  /** names asked for that CloudStack does not know */
  unknown: string[];
}

/** Which of CloudStack's KVM hosts to deploy to. */
export function selectHosts(rows: readonly CloudStackHostRow[], sel: HostSelection): SelectedHosts {
  const out: SelectedHosts = { targets: [], skipped: [], unknown: [] };
  const asked = sel.hosts?.length ? new Set(sel.hosts) : undefined;
  for (const name of asked ?? []) if (!rows.some((r) => r.id === name || r.name === name)) out.unknown.push(name);
  for (const r of rows) {
    if (asked && !asked.has(r.id) && !asked.has(r.name)) continue;
    if (sel.zoneId && r.zoneid !== sel.zoneId) continue;
    if (sel.clusterId && r.clusterid !== sel.clusterId) continue;
    if (!r.ipaddress) { out.skipped.push({ name: r.name, hostId: r.id, reason: 'CloudStack gives it no IP address' }); continue; }
    const unavailable = (r.state && r.state !== 'Up') ? `its state is ${r.state}` : (r.resourcestate && r.resourcestate !== 'Enabled') ? `its resource state is ${r.resourcestate}` : undefined;
    if (unavailable && !sel.includeUnavailable) { out.skipped.push({ name: r.name, hostId: r.id, reason: `${unavailable} in CloudStack (name it with includeUnavailable to deploy anyway)` }); continue; }
    out.targets.push({ hostId: r.id, name: r.name, address: r.ipaddress, clusterId: r.clusterid });
  }
  return out;
}

/** A rolling upgrade's waves: one cluster after another (hosts without a cluster last), in name order. */
export function rollingWaves(targets: readonly DeployTarget[]): DeployTarget[][] {
  const by = new Map<string, DeployTarget[]>();
  for (const t of targets) {
    const k = t.clusterId ?? '\uffff';
    by.set(k, [...(by.get(k) ?? []), t]);
  }
  return [...by.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, ts]) => [...ts].sort((a, b) => a.name.localeCompare(b.name)));
}

/** The host clock's offset from the control plane's (ms, positive: the host is ahead). */
export function clockOffsetMs(f: Pick<HostFacts, 'hostClockMs' | 'localClockMs'>): number {
  return f.hostClockMs - f.localClockMs;
}

/** Beyond this a host's clock is reported as a problem (backup times and leases compare clocks). */
export const CLOCK_TOLERANCE_MS = 5_000;
