/**
 * @layer logic
 * The daemon's policy: what a caller of its socket may ask for, decided by the daemon's own
 * config (`allow` in agent.json), never by the request. Whoever reaches the socket is trusted to
 * start jobs, not to pick files for a root process to read or write:
 *
 * - repositories: a body's `repo` must be one of `allow.repositories` or a folder below one
 *   (ssh: same user, host and port — `:*` in the config means any port —, path at or below;
 *   local: an absolute path at or below). Anything else: rule `repository`.
 * - identity / known_hosts: the ones configured for that repository are used when the body
 *   leaves them out; a body may name one only if it is that file or lies under `allow.sshFiles`
 *   (rule `ssh-file`).
 * - restore files (`to`): only below `allow.restoreRoot` (rule `restore-root`); `..` is refused
 *   outright and symbolic links are resolved before the check (restore-guard.ts).
 * - in-place volumes: only below a CloudStack primary-storage mount (`/mnt/<pool uuid>/`), a
 *   storage pool libvirt lists, or `allow.volumeRoots` (rule `volume-root`), and only a disk of a
 *   domain this host knows — libvirt's now, or one this daemon has backed up (rule
 *   `unknown-volume`; `allow.unknownVolumes: true` lifts it).
 * Every refusal is a PolicyError naming the rule and the config key that would allow it.
 */
import path from 'node:path';
import { parseTargetUrl, type TargetLocation } from '../target/url.ts';

export interface AllowedRepository {
  /** a directory, or ssh://user@host[:port|:*]/path */
  url: string;
  identity?: string;
  knownHosts?: string;
}

export interface DaemonPolicy {
  repositories: AllowedRepository[];
  /** identity and known_hosts files (or folders of them) a body may name */
  sshFiles: string[];
  /** restores to a file land below this folder */
  restoreRoot: string;
  /** folders of volumes beyond /mnt/<pool uuid>/ and libvirt's pools */
  volumeRoots: string[];
  /** in-place restores onto volumes of domains this host does not know */
  unknownVolumes: boolean;
}

export const DEFAULT_RESTORE_ROOT = '/var/lib/sendense-agent/restores';

export type PolicyRule = 'repository' | 'ssh-file' | 'restore-root' | 'volume-root' | 'unknown-volume';

export class PolicyError extends Error {
  override name = 'PolicyError';
  constructor(readonly rule: PolicyRule, readonly configKey: string, message: string, options?: { cause?: unknown }) {
    super(`[daemon] [policy] refused (${rule}): ${message}; to allow it, change ${configKey} in the agent's config (agent.json)`, options);
  }
}

/** Lexically normal absolute path; null when it is relative, holds NUL or a '..' segment. */
export function normalAbsolute(p: string): string | null {
  if (!p.startsWith('/') || p.includes('\0')) return null;
  const segs = p.split('/').filter((s) => s !== '' && s !== '.');
  if (segs.includes('..')) return null;
  return `/${segs.join('/')}`;
}

/** `p` is `root` or below it (both normal absolute paths). */
export function isUnder(root: string, p: string): boolean {
  return p === root || p.startsWith(root === '/' ? '/' : `${root}/`);
}

interface Pattern { loc: TargetLocation; anyPort: boolean }

function patternOf(url: string): Pattern {
  const anyPort = /^ssh:\/\/[^/]*:\*(\/|$)/i.test(url);
  const loc = parseTargetUrl(anyPort ? url.replace(/:\*(\/|$)/, ':22$1') : url);
  if (loc.kind === 'local') {
    const p = normalAbsolute(loc.path);
    if (!p) throw new Error(`[daemon] [policy] allow.repositories: '${url}' must be an absolute folder without '..'`);
    return { loc: { kind: 'local', path: p }, anyPort };
  }
  return { loc, anyPort };
}

/** Checks the config's entries once (at start), so a typo is named before any request. */
export function checkPolicy(p: DaemonPolicy): void {
  for (const r of p.repositories) patternOf(r.url);
  for (const [key, list] of [['allow.sshFiles', p.sshFiles], ['allow.volumeRoots', p.volumeRoots], ['allow.restoreRoot', [p.restoreRoot]]] as const) {
    for (const f of list) if (!normalAbsolute(f)) throw new Error(`[daemon] [policy] ${key}: '${f}' must be an absolute path without '..'`);
  }
}

function matches(pat: Pattern, loc: TargetLocation): boolean {
  if (pat.loc.kind === 'local' || loc.kind === 'local') return pat.loc.kind === loc.kind && isUnder(pat.loc.path, loc.path);
  return pat.loc.host.toLowerCase() === loc.host.toLowerCase() && (pat.anyPort || pat.loc.port === loc.port)
    && (pat.loc.user ?? '') === (loc.user ?? '') && isUnder(pat.loc.path, loc.path);
}

/** The allowed entry a repository URL falls under, or a PolicyError('repository'). */
export function allowedRepository(p: DaemonPolicy, url: string): AllowedRepository {
  let loc: TargetLocation;
  try {
    loc = parseTargetUrl(url);
  } catch (e) {
    throw new PolicyError('repository', 'allow.repositories', (e as Error).message, { cause: e });
  }
  if (loc.kind === 'local') {
    const n = normalAbsolute(loc.path);
    if (!n) throw new PolicyError('repository', 'allow.repositories', `the repository '${url}' must be an absolute folder without '..'`);
    loc = { kind: 'local', path: n };
  }
  const hit = p.repositories.find((r) => matches(patternOf(r.url), loc));
  if (!hit) {
    const known = p.repositories.map((r) => r.url).join(', ') || 'none';
    throw new PolicyError('repository', 'allow.repositories', `the repository '${url}' is not one this agent may use (allowed: ${known})`);
  }
  return hit;
}

/** The identity or known_hosts file to use: the body's (if allowed) or the repository's. */
export function sshFile(p: DaemonPolicy, repo: AllowedRepository, which: 'identity' | 'knownHosts', asked: string | undefined): string | undefined {
  const configured = repo[which];
  if (asked === undefined) return configured;
  const n = normalAbsolute(asked);
  if (n && (n === configured || p.sshFiles.some((f) => isUnder(path.normalize(f), n)))) return n;
  const field = which === 'identity' ? 'identity' : 'knownHosts';
  throw new PolicyError('ssh-file', 'allow.sshFiles', `${field} '${asked}' is not a file this agent may use for ${repo.url} (leave it out to use ${configured ?? "ssh's default"}, or list it)`);
}

/** Lexical check of a restore file below the root (symbolic links: restore-guard.ts). */
export function restoreFile(p: DaemonPolicy, to: string): string {
  const n = normalAbsolute(to);
  const root = normalAbsolute(p.restoreRoot)!;
  if (!n) throw new PolicyError('restore-root', 'allow.restoreRoot', `the restore destination '${to}' must be an absolute path without '..'`);
  if (n === root || !isUnder(root, n)) throw new PolicyError('restore-root', 'allow.restoreRoot', `the restore destination '${to}' is not below ${root}`);
  return n;
}

const POOL_MOUNT = /^\/mnt\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(\/|$)/i;

/** The folders an in-place volume may be in: CloudStack's pool mounts, libvirt's pools, the config's. */
export function volumeAllowed(p: DaemonPolicy, volume: string, poolPaths: readonly string[]): boolean {
  const n = normalAbsolute(volume);
  if (!n) return false;
  if (POOL_MOUNT.test(n) && n.split('/').length > 3) return true;
  return [...poolPaths, ...p.volumeRoots].some((r) => {
    const root = normalAbsolute(r);
    return root !== null && root !== '/' && root !== n && isUnder(root, n);
  });
}
