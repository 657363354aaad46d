/**
 * @layer usecase
 * DaemonGuard: applies the daemon's policy (policy.ts) to every request before it becomes a job
 * or a stream — the repository must be an allowed one, identity and known_hosts are the daemon's
 * choice, a restore file lands below the restore root once every symbolic link is resolved, an
 * in-place volume is a known disk below a primary-storage folder. It returns the request as the
 * engine will run it (the daemon's files filled in, paths resolved); a refusal is a PolicyError.
 * It also remembers the disk files each backup read (`backedUp`), so a stopped transient VM's
 * volumes stay known.
 */
import type { RestoreBody } from '../engine/requests.ts';
import type { HostFacts, VolumeRecord } from './host-facts.ts';
import { allowedRepository, isUnder, normalAbsolute, PolicyError, restoreFile, sshFile, volumeAllowed, type DaemonPolicy } from './policy.ts';

/** where a repository is and how to reach it (the requests' repository fields) */
export interface RepoAccess {
  repo: string;
  identity?: string;
  knownHosts?: string;
}

export interface DaemonGuardDeps {
  policy: DaemonPolicy;
  facts: HostFacts;
  volumes: VolumeRecord;
}

export class DaemonGuard {
  constructor(private readonly deps: DaemonGuardDeps) {}

  /** The repository access as this daemon allows it: its identity and known_hosts files. */
  access<T extends RepoAccess>(body: T): T {
    const { policy } = this.deps;
    const repo = allowedRepository(policy, body.repo);
    const identity = sshFile(policy, repo, 'identity', body.identity);
    const knownHosts = sshFile(policy, repo, 'knownHosts', body.knownHosts);
    const out = { ...body };
    delete out.identity;
    delete out.knownHosts;
    return { ...out, ...(identity ? { identity } : {}), ...(knownHosts ? { knownHosts } : {}) };
  }

  async restore(body: RestoreBody): Promise<RestoreBody> {
    const b = this.access(body);
    if (b.to !== undefined) return { ...b, to: await this.restoreFile(b.to) };
    if (b.inPlace) return { ...b, inPlace: { ...b.inPlace, path: await this.volume(b.inPlace.path) } };
    return b;
  }

  private async restoreFile(to: string): Promise<string> {
    const { policy, facts } = this.deps;
    const n = restoreFile(policy, to);
    const root = await facts.resolve(normalAbsolute(policy.restoreRoot)!);
    const real = await facts.resolve(n);
    if (real === root || !isUnder(root, real)) {
      throw new PolicyError('restore-root', 'allow.restoreRoot', `the restore destination '${to}' leads to ${real} through a symbolic link, which is not below ${root}`);
    }
    return n;
  }

  private async volume(volume: string): Promise<string> {
    const { policy, facts, volumes } = this.deps;
    const n = normalAbsolute(volume);
    if (!n) throw new PolicyError('volume-root', 'allow.volumeRoots', `the volume '${volume}' must be an absolute path without '..'`);
    const real = await facts.resolve(n);
    const pools = await facts.poolPaths();
    const roots = [...pools, ...await Promise.all([...pools, ...policy.volumeRoots].map((p) => facts.resolve(p).catch(() => p)))];
    if (!volumeAllowed(policy, n, pools) || !volumeAllowed(policy, real, roots)) {
      const where = real === n ? '' : ` (it leads to ${real})`;
      throw new PolicyError('volume-root', 'allow.volumeRoots', `the volume '${volume}'${where} is not below a primary-storage mount (/mnt/<pool uuid>/), a libvirt storage pool (${pools.join(', ') || 'none'}) or a configured volume root`);
    }
    if (policy.unknownVolumes) return real;
    const known = new Set([...await facts.domainVolumes(), ...(await volumes.all()).map((v) => v.file)]);
    if (known.has(n) || known.has(real)) return real;
    for (const k of known) if (await facts.resolve(k).catch(() => k) === real) return real;
    throw new PolicyError('unknown-volume', 'allow.unknownVolumes', `the volume '${volume}' is no disk of a domain this host knows (libvirt's domains, or one this agent has backed up)`);
  }

  /** A backup of `vmId` read these disk files: an in-place restore may write them later. */
  backedUp(vmId: string, domain: string, files: string[]): Promise<void> {
    return this.deps.volumes.remember(vmId, domain, files);
  }
}
