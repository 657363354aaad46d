/**
 * The agent daemon in the lab: in this process with the fake engine and the memory hypervisor (for
 * link tests), or as the real `sendense-agent serve` process with libvirt (for end-to-end tests),
 * each on a unix socket under the run's lab directory. `openSocketFetch` speaks HTTP to a socket
 * directly, without SSH.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readlinkSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createAgentApp, type AgentApp } from '../../agent/daemon/app.ts';
import { FakeEngine } from '../../agent/daemon/fake-engine.ts';
import { MemoryJournal, type JobJournal } from '../../agent/daemon/journal.ts';
import { serveOnSocket, type SocketServer } from '../../agent/daemon/server.ts';
import type { Capabilities } from '../../agent/daemon/service.ts';
import { MemoryHypervisor } from '../../agent/hypervisor/memory.ts';
import { agentClient } from '../../agent/link/client.ts';
import { streamFetch } from '../../agent/link/stream-fetch.ts';
import { labDir, labName, runId } from './paths.ts';
import { isAlive, waitFor } from './proc.ts';

export const AGENT_BIN = path.resolve(import.meta.dirname, '../../agent/bin/sendense-agent.mjs');

export const FAKE_CAPS: Capabilities = {
  libvirt: { version: 'libvirt 9.0.0', hypervisor: 'QEMU 7.2.0', backup: true },
  qemuImg: 'qemu-img version 7.2.0', qemuNbd: 'qemu-nbd 7.2.0',
  nbd: { client: 'builtin', transports: ['unix'], metaContexts: ['base:allocation'] },
};

/** A fresh directory for one daemon (socket, journal, work dir). */
export function daemonDir(label = 'agentd'): string {
  return labDir('runs', runId(), labName(label));
}

export interface FakeDaemon {
  socketPath: string;
  agent: AgentApp;
  engine: FakeEngine;
  hypervisor: MemoryHypervisor;
  journal: JobJournal;
  server: SocketServer;
  stop(): Promise<void>;
}

/** The daemon with the fake engine, in this process, serving on `<dir>/run/agent.sock`. */
export async function startFakeDaemon(o: { dir?: string; owner?: { uid: number; gid: number }; engine?: FakeEngine; domains?: string[]; socketPath?: string } = {}): Promise<FakeDaemon> {
  const dir = o.dir ?? daemonDir();
  const socketPath = o.socketPath ?? path.join(dir, 'run', 'agent.sock');
  const hypervisor = new MemoryHypervisor();
  for (const name of o.domains ?? ['vm1', 'vm2']) hypervisor.createDomain({ name, disks: [{ size: 1 << 20 }] });
  const engine = o.engine ?? new FakeEngine({ steps: 10, stepMs: 20 });
  const journal = new MemoryJournal();
  const agent = createAgentApp({
    engine, journal, hypervisor, version: '0.1.0-lab', hostname: 'lab-kvm', probe: async () => FAKE_CAPS, problems: () => [], progressIntervalMs: 20,
  });
  const server = await serveOnSocket(agent.app.fetch, { socketPath, owner: o.owner });
  return {
    socketPath, agent, engine, hypervisor, journal, server,
    stop: async () => { await agent.close(); await server.close(); },
  };
}

/** A fetch (and the typed client) straight to a daemon's unix socket. */
export function openSocketFetch(socketPath: string) {
  const fetch = streamFetch(() => new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  }));
  return { fetch, client: agentClient(fetch) };
}

export interface SpawnedDaemon {
  pid: number;
  socketPath: string;
  journalDir: string;
  workDir: string;
  child: ChildProcess;
  /** what it wrote to stderr so far */
  log(): string;
  /** resolves with the exit code (or signal) */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
}

/**
 * The lab's daemon policy (agent.json `allow`): the lab's SSH repository hosts on loopback (any
 * port) and the lab's folders for repositories, SSH files, restores and volumes.
 */
export function labAllow(): Record<string, unknown> {
  const lab = labDir();
  return { repositories: [{ url: 'ssh://sendense-repo@127.0.0.1:*/' }, { url: lab }], sshFiles: [lab], restoreRoot: lab, volumeRoots: [lab] };
}

/** `sendense-agent serve` as its own process (the real engine); resolves once its socket answers. */
export async function spawnDaemon(o: { dir: string; socketOwner?: string; concurrency?: number; allow?: Record<string, unknown> }): Promise<SpawnedDaemon> {
  const socketPath = path.join(o.dir, 'run', 'agent.sock');
  const journalDir = path.join(o.dir, 'journal');
  const workDir = path.join(o.dir, 'work');
  const config = path.join(o.dir, 'agent.json');
  writeFileSync(config, JSON.stringify({ allow: o.allow ?? labAllow() }, null, 1));
  const args = ['serve', '--config', config, '--socket', socketPath, '--journal', journalDir, '--work-dir', workDir, ...(o.socketOwner ? ['--socket-owner', o.socketOwner] : []), ...(o.concurrency ? ['--concurrency', String(o.concurrency)] : [])];
  const child = spawn(process.execPath, [AGENT_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env } });
  let err = '';
  child.stderr!.on('data', (b) => { err += b; });
  // a pid file in the run's directory: the lab's clean-up stops a daemon a crashed run left behind
  writeFileSync(path.join(o.dir, 'agent.pid'), `${child.pid}\n`);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  let gone = false;
  void exited.then(() => { gone = true; });
  await waitFor(`sendense-agent serve on ${socketPath}`, async () => {
    if (gone) throw new Error(`[lab] sendense-agent serve exited: ${err}`);
    return /serving on/.test(err) && existsSync(socketPath);
  }, 30_000, 50);
  return { pid: child.pid!, socketPath, journalDir, workDir, child, log: () => err, exited, kill: (s) => { if (isAlive(child.pid!)) child.kill(s); } };
}

/** TCP sockets in LISTEN state that a process holds (any namespace it sees): [] means no port. */
export function tcpListeners(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]);
    } catch { /* closed meanwhile */ }
  }
  const out: string[] = [];
  for (const f of ['tcp', 'tcp6']) {
    let text = '';
    try { text = readFileSync(`/proc/${pid}/net/${f}`, 'utf8'); } catch { continue; }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && cols[3] === '0A' && inodes.has(cols[9])) out.push(`${f} ${cols[1]}`);
    }
  }
  return out;
}
