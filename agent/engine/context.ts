/**
 * @layer entry
 * HostContext: what every job of this host's engine shares for the life of the process — one
 * LibvirtHypervisor (one set of virsh sessions and per-domain locks), the work directory for
 * per-job sockets and scratch files, and how a repository is opened — and the helpers the job
 * files (backup-job.ts, restore-jobs.ts, repository-jobs.ts) use. Built by host.ts only.
 *
 * A job opens its own repository connection and closes it at the end, so concurrent jobs never
 * share one; the hypervisor is shared on purpose (its per-domain locks then hold across jobs).
 */
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import { LibvirtHypervisor } from '../hypervisor/libvirt.ts';
import { checkQcow2 } from '../qcow2/check.ts';
import type { RandomAccess } from '../qcow2/port.ts';
import { openTarget } from '../target/open.ts';
import type { BackupTarget } from '../target/port.ts';
import { AGENT_VERSION } from '../version.ts';

/** where a repository is and how to reach it: the requests' RepoAccess fields */
export interface RepoAccess {
  repo: string;
  identity?: string;
  knownHosts?: string;
}

export interface HostContextOptions {
  /** per-job sockets and scratch files; default SENDENSE_AGENT_WORKDIR or /var/lib/sendense-agent/jobs */
  workDir?: string;
  /**
   * close a job's repository connection without waiting for it (the CLI: the process exits once
   * the answer is printed, the repository host sees the connection end); default: wait
   */
  closeInBackground?: boolean;
  /**
   * the host-local per-VM locks (engine/vm-lock.ts), shared by every agent process of this host;
   * default SENDENSE_AGENT_LOCKDIR or /var/lib/sendense-agent/locks
   */
  lockDir?: string;
  /** the hypervisor to use (default: a LibvirtHypervisor on qemu:///system, made on first use) */
  hypervisor?: LibvirtHypervisor;
}

export interface HostContext {
  readonly hypervisor: LibvirtHypervisor;
  /** the work directory, made if missing */
  workDir(): string;
  /** the directory of the host-local per-VM locks */
  lockDir(): string;
  readonly host: string;
  readonly version: string;
  openRepo(req: RepoAccess, signal?: AbortSignal): Promise<BackupTarget>;
  /** runs `body` with a repository connection of its own, closed at the end whatever happens */
  withRepo<T>(req: RepoAccess, signal: AbortSignal, body: (t: BackupTarget) => Promise<T>): Promise<T>;
  /** closes a connection a job opened (in the background with closeInBackground) */
  release(target: BackupTarget): Promise<void>;
  /** waits for connections closed in the background */
  settle(): Promise<void>;
}

export function defaultLockDir(): string {
  return process.env.SENDENSE_AGENT_LOCKDIR ?? '/var/lib/sendense-agent/locks';
}

export function defaultWorkDir(): string {
  return process.env.SENDENSE_AGENT_WORKDIR ?? '/var/lib/sendense-agent/jobs';
}

/** The qcow2 checker as verification wants it: one line per problem. */
export async function checkImage(ra: RandomAccess, signal?: AbortSignal): Promise<string[]> {
  return (await checkQcow2(ra, { signal })).map((p) => `qcow2 ${p.code}: ${p.message}`);
}

export function openRepoTarget(url: string, o: { identity?: string; knownHosts?: string; signal?: AbortSignal } = {}): Promise<BackupTarget> {
  return openTarget(url, { identityFile: o.identity, knownHostsFile: o.knownHosts, signal: o.signal });
}

export function hostContext(opts: HostContextOptions = {}): HostContext {
  let hypervisor = opts.hypervisor;
  const closing = new Set<Promise<void>>();
  const release = async (target: BackupTarget): Promise<void> => {
    const p = target.close().catch(() => {});
    if (!opts.closeInBackground) return p;
    closing.add(p);
    void p.finally(() => closing.delete(p));
  };
  return {
    get hypervisor() {
      hypervisor ??= new LibvirtHypervisor();
      return hypervisor;
    },
    workDir() {
      const d = opts.workDir ?? defaultWorkDir();
      mkdirSync(d, { recursive: true, mode: 0o755 });
      return d;
    },
    lockDir: () => opts.lockDir ?? defaultLockDir(),
    host: os.hostname(),
    version: AGENT_VERSION,
    openRepo: (req, signal) => openRepoTarget(req.repo, { identity: req.identity, knownHosts: req.knownHosts, signal }),
    async withRepo(req, signal, body) {
      const target = await openRepoTarget(req.repo, { identity: req.identity, knownHosts: req.knownHosts, signal });
      try {
        return await body(target);
      } finally {
        await release(target);
      }
    },
    release,
    async settle() {
      await Promise.all(closing);
    },
  };
}
