/**
 * @layer adapter
 * virsh as a typed call, its failures turned into HypervisorErrors whose code says what happened
 * (libvirt-errors.ts) and whose message names the command and libvirt's own reason. XML
 * documents are handed to virsh in files inside a private temporary directory (virsh reads them
 * client-side).
 *
 * Calls go to long-lived virsh sessions (virsh-session.ts: a few milliseconds a command instead
 * of a process and a connection each); a call with its own time limit (guest agent commands,
 * which may wait seconds) or with words a session cannot carry runs as `virsh -q -c <uri> …`
 * through agent/system/run.ts. Neither goes through a shell. `sessions: false` (or the environment
 * variable SENDENSE_VIRSH_SESSIONS=0) turns sessions off.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CommandError, run } from '../system/run.ts';
import { classifyLibvirtError, libvirtReason } from './libvirt-errors.ts';
import { HypervisorError } from './port.ts';
import { sessionSafe } from './virsh-framing.ts';
import { VirshSessionError, VirshSessions } from './virsh-session.ts';

export interface VirshOptions {
  /** libvirt connection URI; default qemu:///system */
  uri?: string;
  /** per-call limit in ms; default 60 s */
  timeoutMs?: number;
  /** long-lived virsh sessions (default) or a virsh process per call (false) */
  sessions?: boolean;
}

export class Virsh {
  readonly uri: string;
  private readonly timeoutMs: number;
  private readonly sessions?: VirshSessions;

  constructor(opts: VirshOptions = {}) {
    this.uri = opts.uri ?? 'qemu:///system';
    this.timeoutMs = opts.timeoutMs ?? 60_000;
    // SENDENSE_VIRSH_SESSIONS=0: a process per call (an escape hatch, and the benchmark's before)
    if (opts.sessions ?? process.env.SENDENSE_VIRSH_SESSIONS !== '0') this.sessions = new VirshSessions({ uri: this.uri });
  }

  /** Runs virsh; resolves with stdout or rejects with a HypervisorError. */
  async call(args: string[], opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<string> {
    try {
      if (this.sessions && opts.timeoutMs === undefined && sessionSafe(args)) return await this.inSession(args, opts.signal);
      const r = await run('virsh', ['-q', '-c', this.uri, ...args], { signal: opts.signal, timeoutMs: opts.timeoutMs ?? this.timeoutMs });
      return r.stdout;
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (e instanceof CommandError) {
        const why = e.cause instanceof VirshSessionError ? e.cause.message.replace(/^\[hypervisor\] \[virsh\] /, '') : e.code === null ? `killed after ${opts.timeoutMs ?? this.timeoutMs} ms` : libvirtReason(e.stderr);
        throw new HypervisorError(e.code === null ? 'libvirt' : classifyLibvirtError(e.stderr), `[hypervisor] [libvirt] virsh ${args.slice(0, 2).join(' ')}: ${why}`, { cause: e });
      }
      throw new HypervisorError('libvirt', `[hypervisor] [libvirt] virsh ${args[0]}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Starts a session ahead of the first call (see VirshSessions.warmUp). */
  warmUp(): void {
    this.sessions?.warmUp();
  }

  /** Ends the sessions (they also end by themselves when idle). */
  close(): void {
    this.sessions?.close();
  }

  /** One command in a session; failures look like a one-shot virsh's (CommandError). */
  private async inSession(args: string[], signal?: AbortSignal): Promise<string> {
    const full = ['-q', '-c', this.uri, ...args];
    let r;
    try {
      r = await this.sessions!.exec(args, { timeoutMs: this.timeoutMs, signal });
    } catch (e) {
      if (e instanceof VirshSessionError) throw new CommandError('virsh', full, null, 'SIGKILL', e.message, '', { cause: e });
      throw e;
    }
    if (!r.ok) throw new CommandError('virsh', full, 1, null, r.stderr, r.stdout);
    return r.stdout;
  }

  /** Runs virsh with XML documents written to temporary files; `args` gets their paths. */
  async withXml(docs: string[], args: (files: string[]) => string[], opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<string> {
    const dir = mkdtempSync(path.join(tmpdir(), 'sendense-virsh-'));
    try {
      const files = docs.map((d, i) => {
        const f = path.join(dir, `doc${i}.xml`);
        writeFileSync(f, d, { mode: 0o600 });
        return f;
      });
      return await this.call(args(files), opts);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  /** A QMP command through libvirt's monitor passthrough; resolves with the parsed reply. */
  async qmp(domain: string, execute: string, args?: Record<string, unknown>, signal?: AbortSignal): Promise<{ return?: unknown; error?: { class?: string; desc?: string } }> {
    const out = await this.call(['qemu-monitor-command', domain, JSON.stringify(args ? { execute, arguments: args } : { execute })], { signal });
    try {
      return JSON.parse(out) as { return?: unknown; error?: { class?: string; desc?: string } };
    } catch (e) {
      throw new HypervisorError('libvirt', `[hypervisor] [libvirt] QMP ${execute} on ${domain}: unreadable reply ${out.slice(0, 200)}`, { cause: e });
    }
  }
}
