/**
 * @layer usecase
 * One KVM host, end to end: connect as the admin's user (host key pinned), read the host's facts,
 * decide (plan.ts), upload and install the matching package, write the agent config, let the
 * control plane's link key reach the agent's socket only, hand over the repository's host key and
 * this host's own repository key (authorized on the repository host), enable and start the
 * service, then check health over the link: version, libvirt and QEMU, checkpoint support, free
 * space in the work dir, clock offset. Every step converges (writes only what differs), so a
 * re-run on a host that has it all changes nothing and says `current`.
 * Also here: remove (and purge) and status, which share the connection and the report row.
 */
import { asDeployError, DeployError } from './errors.ts';
import { parseOsRelease } from './os-release.ts';
import {
  agentConfigJson, CLOCK_TOLERANCE_MS, clockOffsetMs, decideHost, linkKeyLine, readsDropIns, repoKeyComment, SSHD_DROPIN_PATH, sshdDropIn, withKeyLine, type AgentConfigInput,
} from './plan.ts';
import type {
  AdminCredentials, AgentHealthReport, AgentPackage, AgentProbe, DeployTarget, HostConnector, HostSession, KeyPair, RepositoryKeys,
} from './port.ts';
import type { DeployEvent, DeployStep, HostRow } from './report.ts';
import type { PackageFormat } from './os-release.ts';

/** Paths on the KVM host (the packages' layout, packaging/README.md). */
export const HOST_PATHS = {
  agentConfig: '/etc/sendense/agent.json',
  linkAuthorizedKeys: '/var/lib/sendense/.ssh/authorized_keys',
  repoIdentity: '/var/lib/sendense-agent/.ssh/repo_ed25519',
  repoKnownHosts: '/var/lib/sendense-agent/.ssh/repo_known_hosts',
  repoKeyDir: '/var/lib/sendense-agent/.ssh',
} as const;

export interface DeployDeps {
  connector: HostConnector;
  probe: AgentProbe;
  /** absent: the per-host repository key is made and installed, and the row says to authorize it by hand */
  repositoryKeys?: RepositoryKeys;
  newKeyPair(comment: string): KeyPair;
  packages: Partial<Record<PackageFormat, AgentPackage>>;
  clock?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface DeploySettings {
  credentials: AdminCredentials;
  /** fingerprints the admin accepts, by host address or name */
  acceptHostKeys?: Record<string, string>;
  /** the control plane's link public key ('ssh-ed25519 AAAA…') */
  linkPublicKey: string;
  /** the repository host's known_hosts lines the agents need */
  repositoryKnownHosts: string;
  agentConfig: AgentConfigInput;
  /** how long to wait for a healthy agent after start (default 60 s) */
  healthTimeoutMs?: number;
  /** a work dir with less free space is reported as a problem (default 1 GiB) */
  minWorkDirFreeBytes?: number;
  downgrade?: boolean;
}

type Emit = (e: DeployEvent) => void;

const defaultSleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason); }, { once: true });
});

function baseRow(t: DeployTarget): Omit<HostRow, 'outcome' | 'message' | 'durationMs'> {
  return { name: t.name, ...(t.hostId ? { hostId: t.hostId } : {}), address: t.address, ...(t.clusterId ? { clusterId: t.clusterId } : {}), changed: [] };
}

function failedRow(t: DeployTarget, e: unknown, started: number, now: number, signal?: AbortSignal, partial: Partial<HostRow> = {}): HostRow {
  const d = asDeployError(e, signal);
  return { ...baseRow(t), ...partial, outcome: 'failed', code: d.code, message: d.message, ...(Object.keys(d.details).length ? { details: d.details } : {}), durationMs: now - started };
}

async function connect(deps: DeployDeps, t: DeployTarget, s: DeploySettings, signal?: AbortSignal): Promise<HostSession> {
  const accept = s.acceptHostKeys?.[t.address] ?? s.acceptHostKeys?.[t.name] ?? (t.hostId ? s.acceptHostKeys?.[t.hostId] : undefined);
  return deps.connector.connect(t, { credentials: s.credentials, acceptFingerprint: accept, signal });
}

/** Waits for a healthy agent of `version`; throws not-healthy with the last answer. */
async function waitHealthy(deps: DeployDeps, t: DeployTarget, version: string, s: DeploySettings, signal?: AbortSignal): Promise<AgentHealthReport> {
  const clock = deps.clock ?? Date.now;
  const sleep = deps.sleep ?? defaultSleep;
  const until = clock() + (s.healthTimeoutMs ?? 60_000);
  let last = 'no answer';
  for (;;) {
    signal?.throwIfAborted();
    try {
      const h = await deps.probe.health(t, { signal });
      // the agent reports the source's version (agent/version.ts); a package build tag (+…) or revision (-…) is not in it
      if (h.version === version || h.version === version.replace(/^\d+:/, '').split(/[+~-]/)[0]) return h;
      last = `it answers as version ${h.version}, not ${version}`;
    } catch (e) {
      if (signal?.aborted) throw e;
      last = (e as Error).message;
    }
    if (clock() > until) throw new DeployError('not-healthy', `the agent on ${t.name} does not answer healthy over the link after ${Math.round((s.healthTimeoutMs ?? 60_000) / 1000)} s: ${last}`);
    await sleep(500, signal);
  }
}

/** Health problems deployment reports on top of the agent's own. */
function judge(h: AgentHealthReport, offsetMs: number, s: DeploySettings): string[] {
  const p = [...h.problems];
  if (!h.checkpoints && !p.some((x) => /backup/.test(x))) p.push('libvirt does not support pull-mode backup with checkpoints');
  const min = s.minWorkDirFreeBytes ?? 2 ** 30;
  if (h.workDir && h.workDir.freeBytes < min) p.push(`the work dir ${h.workDir.path} has only ${(h.workDir.freeBytes / 2 ** 20).toFixed(0)} MiB free`);
  if (Math.abs(offsetMs) > CLOCK_TOLERANCE_MS) p.push(`the host's clock is ${(offsetMs / 1000).toFixed(1)} s ${offsetMs > 0 ? 'ahead of' : 'behind'} the control plane's: run NTP (chrony) on it`);
  return p;
}

async function converge(session: HostSession, path: string, content: string, owner: string, mode: number, signal?: AbortSignal): Promise<boolean> {
  if ((await session.readFile(path, { signal })) === content) return false;
  await session.writeFile(path, content, { owner, group: owner, mode, signal });
  return true;
}

/** Deploys (installs, upgrades, or converges) the agent on one host; never throws: the row says. */
export async function deployHost(deps: DeployDeps, t: DeployTarget, s: DeploySettings, emit: Emit, signal?: AbortSignal): Promise<HostRow> {
  const clock = deps.clock ?? Date.now;
  const started = clock();
  const step = (st: DeployStep, fraction: number, message?: string) => emit({ type: 'host', host: t.name, step: st, fraction, ...(message ? { message } : {}) });
  const partial: Partial<HostRow> = {};
  let session: HostSession | undefined;
  try {
    step('connect', 0.02);
    session = await connect(deps, t, s, signal);
    step('inspect', 0.05);
    const facts = await session.facts({ signal });
    partial.os = facts.osRelease ? parseOsRelease(facts.osRelease).prettyName : undefined;
    partial.fromVersion = facts.installedVersion;
    const want = Object.values(deps.packages)[0]?.version;
    if (!want) throw new DeployError('no-package', 'the control plane has no sendense-agent package to deploy (agents.deploy.packagesDir)');
    const sizes = Object.fromEntries(Object.entries(deps.packages).map(([f, p]) => [f, p!.size]));
    const action = decideHost(facts, { version: want, sizes }, { downgrade: s.downgrade });
    if (action.kind === 'refuse') throw new DeployError(action.code, `${t.name}: ${action.reason}`);
    const changed: string[] = [];
    if (action.kind === 'install' || action.kind === 'upgrade') {
      const pkg = deps.packages[action.format]!;
      step('upload', 0.1, `${pkg.fileName} (${(pkg.size / 2 ** 20).toFixed(1)} MiB)`);
      const bytes = await pkg.read();
      const remote = await session.upload(pkg.fileName, bytes, { signal, onProgress: (n) => step('upload', 0.1 + 0.4 * (n / bytes.length)) });
      step('install', 0.5, action.kind === 'upgrade' ? `${action.from} → ${pkg.version}` : pkg.version);
      await session.install(remote, action.format, { signal });
      await session.removePath(remote, { signal }).catch(() => {});
      changed.push(action.kind === 'upgrade' ? `upgraded ${action.from} → ${pkg.version}` : `installed ${pkg.version}`);
    }
    step('configure', 0.7);
    const configChanged = await converge(session, HOST_PATHS.agentConfig, agentConfigJson(s.agentConfig), 'root', 0o644, signal);
    if (configChanged) changed.push(HOST_PATHS.agentConfig);
    step('keys', 0.75);
    const authorized = await session.readFile(HOST_PATHS.linkAuthorizedKeys, { signal });
    const next = withKeyLine(authorized, linkKeyLine(s.linkPublicKey));
    if (authorized !== next) {
      await session.writeFile(HOST_PATHS.linkAuthorizedKeys, next, { owner: 'sendense', group: 'sendense', mode: 0o600, signal });
      changed.push('link key');
    }
    let sshdNote = '';
    if (readsDropIns(await session.readFile('/etc/ssh/sshd_config', { signal }))) {
      if (await converge(session, SSHD_DROPIN_PATH, sshdDropIn(s.agentConfig.socketOwner), 'root', 0o644, signal)) {
        await session.reloadSshd({ signal });
        changed.push('sshd: the link user forwards to unix sockets only');
      }
    } else {
      sshdNote = ` (sshd_config does not include /etc/ssh/sshd_config.d/*.conf: add the Match block of ${SSHD_DROPIN_PATH} to it by hand to take TCP forwarding from the link user)`;
    }
    if (await converge(session, HOST_PATHS.repoKnownHosts, s.repositoryKnownHosts.endsWith('\n') ? s.repositoryKnownHosts : `${s.repositoryKnownHosts}\n`, 'root', 0o600, signal)) changed.push('repository host key');
    const comment = repoKeyComment(t);
    let pub = await session.readFile(`${HOST_PATHS.repoIdentity}.pub`, { signal });
    const priv = pub === null ? null : await session.readFile(HOST_PATHS.repoIdentity, { signal });
    if (pub === null || priv === null) {
      const kp = deps.newKeyPair(comment);
      await session.writeFile(HOST_PATHS.repoIdentity, kp.privateKey, { owner: 'root', group: 'root', mode: 0o600, signal });
      await session.writeFile(`${HOST_PATHS.repoIdentity}.pub`, `${kp.publicKey}\n`, { owner: 'root', group: 'root', mode: 0o644, signal });
      pub = kp.publicKey;
      changed.push('repository key');
    }
    let repoNote = '';
    if (deps.repositoryKeys) await deps.repositoryKeys.authorize(pub.trim(), comment, { signal });
    else repoNote = ` (authorize its repository key on the repository host by hand: ${pub.trim()})`;
    step('start', 0.85);
    const before = await session.service('state', { signal });
    if (!before.enabled || !before.active) {
      await session.service('start', { signal });
      changed.push('service started');
    } else if (configChanged) {
      await session.service('restart', { signal });
      changed.push('service restarted');
    }
    step('health', 0.9);
    const h = await waitHealthy(deps, t, action.kind === 'current' ? action.version : deps.packages[action.format]!.version, s, signal);
    const clockFacts = await session.facts({ signal });
    const offset = clockOffsetMs(clockFacts);
    const problems = judge(h, offset, s);
    const health = { ...h, problems, ok: problems.length === 0, clockOffsetMs: offset };
    // the package version on the host (the agent's own health says the source's version, without build tags)
    const version = action.kind === 'current' ? action.version : deps.packages[action.format]!.version;
    if (problems.length) throw new DeployError('not-healthy', `${t.name}: the agent ${version} runs but is not healthy: ${problems.join('; ')}`, {});
    step('finished', 1);
    return {
      ...baseRow(t), ...partial, version, changed, health,
      outcome: action.kind === 'current' && changed.length === 0 ? 'current' : 'done',
      message: `${action.kind === 'current' ? (changed.length ? `already ${version}; fixed: ${changed.join(', ')}` : `already ${version}, everything in place`) : changed[0]}; healthy (libvirt ${h.libvirtVersion ?? '?'}, clock offset ${(offset / 1000).toFixed(1)} s)${repoNote}${sshdNote}`,
      durationMs: clock() - started,
    };
  } catch (e) {
    step('finished', 1);
    return failedRow(t, e, started, clock(), signal, partial);
  } finally {
    await session?.close().catch(() => {});
  }
}

/** Removes the agent from one host (purge: its config, state and repository key too, revoked on the repository). */
export async function removeHost(deps: DeployDeps, t: DeployTarget, s: Pick<DeploySettings, 'credentials' | 'acceptHostKeys'>, purge: boolean, emit: Emit, signal?: AbortSignal): Promise<HostRow> {
  const clock = deps.clock ?? Date.now;
  const started = clock();
  const partial: Partial<HostRow> = {};
  let session: HostSession | undefined;
  try {
    emit({ type: 'host', host: t.name, step: 'connect', fraction: 0.05 });
    session = await connect(deps, t, s as DeploySettings, signal);
    const facts = await session.facts({ signal });
    partial.fromVersion = facts.installedVersion;
    partial.os = facts.osRelease ? parseOsRelease(facts.osRelease).prettyName : undefined;
    emit({ type: 'host', host: t.name, step: 'remove', fraction: 0.4 });
    const changed: string[] = [];
    const format: PackageFormat = facts.osRelease && /ID(_LIKE)?=.*(rhel|fedora|centos|rocky|alma)/.test(facts.osRelease) ? 'rpm' : 'deb';
    if (facts.installedVersion !== null || purge) {
      if (await session.remove(format, purge, { signal })) {
        changed.push(facts.installedVersion === null ? 'purged the config and state a remove left' : `${purge ? 'purged' : 'removed'} ${facts.installedVersion}`);
      }
    }
    if (purge) {
      // rpm has no purge, and the repository key lives in the agent's state: take it all away
      await session.removePath(HOST_PATHS.repoKeyDir, { signal });
      if ((await session.readFile(SSHD_DROPIN_PATH, { signal })) !== null) {
        await session.removePath(SSHD_DROPIN_PATH, { signal });
        await session.reloadSshd({ signal });
      }
      if (deps.repositoryKeys) await deps.repositoryKeys.revoke(repoKeyComment(t), { signal });
    }
    emit({ type: 'host', host: t.name, step: 'finished', fraction: 1 });
    return {
      ...baseRow(t), ...partial, version: null, changed, outcome: changed.length ? 'removed' : 'current',
      message: changed.length ? `${changed.join(', ')}${purge ? '; its repository key revoked' : '; config and state kept'}` : 'not installed: nothing to remove',
      durationMs: clock() - started,
    };
  } catch (e) {
    emit({ type: 'host', host: t.name, step: 'finished', fraction: 1 });
    return failedRow(t, e, started, clock(), signal, partial);
  } finally {
    await session?.close().catch(() => {});
  }
}

/** What one host runs: package version, service state and the agent's health over the link. */
export async function hostStatus(deps: DeployDeps, t: DeployTarget, s: Pick<DeploySettings, 'credentials' | 'acceptHostKeys'>, emit: Emit, signal?: AbortSignal): Promise<HostRow> {
  const clock = deps.clock ?? Date.now;
  const started = clock();
  const partial: Partial<HostRow> = {};
  let session: HostSession | undefined;
  try {
    emit({ type: 'host', host: t.name, step: 'connect', fraction: 0.1 });
    session = await connect(deps, t, s as DeploySettings, signal);
    const facts = await session.facts({ signal });
    partial.os = facts.osRelease ? parseOsRelease(facts.osRelease).prettyName : undefined;
    partial.version = facts.installedVersion;
    if (facts.installedVersion === null) throw new DeployError('failed', `${t.name}: sendense-agent is not installed`);
    const svc = await session.service('state', { signal });
    if (!svc.active) throw new DeployError('not-healthy', `${t.name}: sendense-agent ${facts.installedVersion} is installed but its service is ${svc.enabled ? 'enabled and not running' : 'disabled'}`);
    emit({ type: 'host', host: t.name, step: 'health', fraction: 0.6 });
    const h = await deps.probe.health(t, { signal });
    const offset = clockOffsetMs(facts);
    const problems = judge(h, offset, { credentials: s.credentials } as DeploySettings);
    emit({ type: 'host', host: t.name, step: 'finished', fraction: 1 });
    const health = { ...h, problems, ok: problems.length === 0, clockOffsetMs: offset };
    if (problems.length) throw Object.assign(new DeployError('not-healthy', `${t.name}: ${problems.join('; ')}`), { health });
    return { ...baseRow(t), ...partial, health, outcome: 'ok', message: `${h.version} active and healthy (libvirt ${h.libvirtVersion ?? '?'}, ${h.runningJobs} job(s) running)`, durationMs: clock() - started };
  } catch (e) {
    emit({ type: 'host', host: t.name, step: 'finished', fraction: 1 });
    const health = (e as { health?: HostRow['health'] }).health;
    return failedRow(t, e, started, clock(), signal, { ...partial, ...(health ? { health } : {}) });
  } finally {
    await session?.close().catch(() => {});
  }
}
