/**
 * @layer entry
 * The agent's composition root: wires the real adapters (libvirt, our NBD client, ssh2 or local
 * repository targets) to the use cases, and turns SIGTERM/SIGINT into an AbortSignal so the
 * backup's watchdog runs (the libvirt job is ended, the VM never left paused) before exit.
 */
import { setMaxListeners } from 'node:events';
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import type { BackupDeps } from '../backup/backup.ts';
import { openNbdPool } from '../nbd/pool.ts';
import { openTarget } from '../target/open.ts';
import type { BackupTarget } from '../target/port.ts';
import { LibvirtHypervisor } from '../hypervisor/libvirt.ts';
import { checkQcow2 } from '../qcow2/check.ts';
import type { RandomAccess } from '../qcow2/port.ts';
import { UsageError } from './args.ts';

export const AGENT_VERSION = '0.1.0';

export function workDir(): string {
  const d = process.env.SENDENSE_AGENT_WORKDIR ?? '/var/lib/sendense-agent/jobs';
  mkdirSync(d, { recursive: true, mode: 0o755 });
  return d;
}

export async function openRepoTarget(url: string, o: { identity?: string; knownHosts?: string; signal?: AbortSignal }): Promise<BackupTarget> {
  return openTarget(url, { identityFile: o.identity, knownHostsFile: o.knownHosts, signal: o.signal });
}

export async function checkImage(ra: RandomAccess, signal?: AbortSignal): Promise<string[]> {
  return (await checkQcow2(ra, { signal })).map((p) => `qcow2 ${p.code}: ${p.message}`);
}

export async function agentDeps(o: { repo: string; identity?: string; knownHosts?: string; signal?: AbortSignal; log?: (m: string) => void }): Promise<BackupDeps & { close(): Promise<void> }> {
  const hypervisor = new LibvirtHypervisor();
  hypervisor.warmUp(); // libvirt's connection is made while the repository's is
  const target = await openRepoTarget(o.repo, o);
  return {
    hypervisor,
    target,
    openSource: (uri, contexts, signal) => openNbdPool({ uri, contexts, connections: 4, signal }),
    // through the hypervisor's virsh sessions: no process per disk
    diskSize: (domain, disk, signal) => hypervisor.diskSize(domain, disk.target, signal),
    workDir: workDir(),
    host: os.hostname(),
    version: AGENT_VERSION,
    log: o.log ?? debugLog(),
    close: () => target.close(),
  };
}

/** SENDENSE_DEBUG=1: what the engine does, with milliseconds since the process started. */
export function debugLog(): (m: string) => void {
  if (!process.env.SENDENSE_DEBUG) return () => {};
  return (m) => process.stderr.write(`[agent +${Math.round(performance.now())}ms] ${m}\n`);
}

/** Runs a command with SIGTERM/SIGINT wired to an AbortSignal; failures become one line + exit 1. */
export async function withSignals(body: (signal: AbortSignal) => Promise<number>, json = false): Promise<number> {
  const ac = new AbortController();
  // every in-flight read and remote call listens on it
  setMaxListeners(0, ac.signal);
  const onSig = (sig: NodeJS.Signals) => ac.abort(new Error(`interrupted by ${sig}`));
  process.once('SIGTERM', onSig);
  process.once('SIGINT', onSig);
  try {
    return await body(ac.signal);
  } catch (e) {
    const msg = oneLine(e);
    if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: msg })}\n`);
    process.stderr.write(`sendense-agent: ${msg}\n`);
    return e instanceof UsageError ? 2 : 1;
  } finally {
    process.off('SIGTERM', onSig);
    process.off('SIGINT', onSig);
  }
}

function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s+/g, ' ').trim();
}

/** Runs `body` with a repository connection of its own, closed at the end whatever happens. */
export async function withRepoTarget<T>(req: { repo: string; identity?: string; knownHosts?: string }, signal: AbortSignal, body: (t: BackupTarget) => Promise<T>): Promise<T> {
  const target = await openRepoTarget(req.repo, { identity: req.identity, knownHosts: req.knownHosts, signal });
  try {
    return await body(target);
  } finally {
    await target.close().catch(() => {});
  }
}
