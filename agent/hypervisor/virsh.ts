/**
 * @layer adapter
 * virsh as a typed call: `virsh -q -c <uri> …` through agent/system/run.ts (never a shell), its
 * failures turned into HypervisorErrors whose code says what happened (libvirt-errors.ts) and
 * whose message names the command and libvirt's own reason. XML documents are handed to virsh
 * in files inside a private temporary directory (virsh reads them client-side).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CommandError, run } from '../system/run.ts';
import { classifyLibvirtError, libvirtReason } from './libvirt-errors.ts';
import { HypervisorError } from './port.ts';

export interface VirshOptions {
  /** libvirt connection URI; default qemu:///system */
  uri?: string;
  /** per-call limit in ms; default 60 s */
  timeoutMs?: number;
}

export class Virsh {
  readonly uri: string;
  private readonly timeoutMs: number;

  constructor(opts: VirshOptions = {}) {
    this.uri = opts.uri ?? 'qemu:///system';
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  /** Runs virsh; resolves with stdout or rejects with a HypervisorError. */
  async call(args: string[], opts: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<string> {
    try {
      const r = await run('virsh', ['-q', '-c', this.uri, ...args], { signal: opts.signal, timeoutMs: opts.timeoutMs ?? this.timeoutMs });
      return r.stdout;
    } catch (e) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (e instanceof CommandError) {
        const why = e.code === null ? `killed after ${opts.timeoutMs ?? this.timeoutMs} ms` : libvirtReason(e.stderr);
        throw new HypervisorError(e.code === null ? 'libvirt' : classifyLibvirtError(e.stderr), `[hypervisor] [libvirt] virsh ${args.slice(0, 2).join(' ')}: ${why}`, { cause: e });
      }
      throw new HypervisorError('libvirt', `[hypervisor] [libvirt] virsh ${args[0]}: ${(e as Error).message}`, { cause: e });
    }
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
