/**
 * @layer adapter
 * The one qemu-nbd launcher (the hypervisor's stopped-disk exports and the NBD tests use it):
 * exports a disk image read-only,
 * `qemu-nbd -r -t -f FMT [-B BITMAP] [-A] -e N --fork --pid-file=F (-k SOCK | -b HOST -p PORT)`.
 * --fork returns once the server listens. The socket, pid file and log live in `dir`, or, for a
 * given `socket`, beside it as `<socket>.pid` / `<socket>.log` (so stopLeftoverQemuNbd finds
 * what a crashed run left); stop() sends SIGTERM, then SIGKILL, and waits until the process is
 * gone (a zombie counts as gone: PID 1 reaps slowly here), and removes the socket and pid file
 * (qemu-nbd removes neither). Servers still running when this process exits are SIGKILLed.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, type Dirent } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { isAlive } from '../system/proc.ts';
import { formatNbdUri, type NbdAddress } from './uri.ts';

export interface QemuNbdOptions {
  image: string;
  /** 'qcow2' (default), 'raw', … */
  format?: string;
  /** a persistent dirty bitmap in the image to expose as qemu:dirty-bitmap:NAME */
  bitmap?: string;
  /** expose qemu:allocation-depth */
  allocationDepth?: boolean;
  /** where the socket, pid file and log go (unless `socket` is given) */
  dir?: string;
  /** this unix socket path (its directory is created, 0700; it must not exist yet) */
  socket?: string;
  /** export name (default "") */
  exportName?: string;
  /** listen on TCP instead of a unix socket (loopback only in Sendense) */
  tcp?: { host: string; port?: number };
  /** clients served at once (qemu-nbd -e; default 8) */
  clients?: number;
  signal?: AbortSignal;
}

export interface QemuNbdServer {
  pid: number;
  uri: string;
  address: NbdAddress;
  /** the unix socket path (unix transport only) */
  socket?: string;
  pidFile: string;
  logFile: string;
  /** SIGTERM, then SIGKILL after 3 s; resolves when the process is gone. Idempotent. */
  stop(): Promise<void>;
}

export class QemuNbdError extends Error {
  override name = 'QemuNbdError';
  /** what qemu-nbd printed (empty when it never ran) */
  readonly log: string;
  constructor(message: string, log = '', options?: { cause?: unknown }) {
    super(message, options);
    this.log = log;
  }
}

const live = new Set<number>();
let exitHook = false;

/** pid is a qemu-nbd (serving `socket`, when given): never signal a pid reused by another process */
function isQemuNbd(pid: number, socket?: string): boolean {
  try {
    if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'qemu-nbd') return false;
    return socket === undefined || readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(socket);
  } catch {
    return false;
  }
}

async function gone(pid: number, ms: number): Promise<boolean> {
  for (const until = Date.now() + ms; Date.now() < until; await new Promise((r) => setTimeout(r, 20))) {
    if (!isAlive(pid)) return true;
  }
  return !isAlive(pid);
}

async function stopPid(pid: number, socket?: string): Promise<void> {
  if (!isAlive(pid) || !isQemuNbd(pid, socket)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  if (await gone(pid, 3000)) return;
  try { process.kill(pid, 'SIGKILL'); } catch { return; }
  if (!(await gone(pid, 3000))) throw new QemuNbdError(`[qemu-nbd] pid ${pid} survived SIGKILL`);
}

function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, host, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function launch(args: string[], logFile: string, signal?: AbortSignal): Promise<number | null> {
  const fd = openSync(logFile, 'w');
  return new Promise<number | null>((resolve, reject) => {
    const child = spawn('qemu-nbd', args, { stdio: ['ignore', fd, fd], signal });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  }).finally(() => closeSync(fd));
}

export async function startQemuNbd(o: QemuNbdOptions): Promise<QemuNbdServer> {
  const id = randomBytes(4).toString('hex');
  if (o.socket) mkdirSync(path.dirname(o.socket), { recursive: true, mode: 0o700 });
  else if (!o.dir) throw new QemuNbdError('[qemu-nbd] give a dir or a socket path');
  const base = o.socket ?? path.join(o.dir!, `qemu-nbd-${id}`);
  const pidFile = `${base}.pid`;
  const logFile = `${base}.log`;
  const exportName = o.exportName ?? '';
  const args = ['-r', '-t', '-f', o.format ?? 'qcow2', '-e', String(o.clients ?? 8), '--fork', `--pid-file=${pidFile}`];
  if (exportName) args.push('-x', exportName);
  if (o.bitmap) args.push('-B', o.bitmap);
  if (o.allocationDepth) args.push('-A');
  for (let attempt = 0; ; attempt++) {
    let address: NbdAddress;
    let listen: string[];
    if (o.tcp) {
      const port = o.tcp.port ?? (await freePort(o.tcp.host));
      address = { transport: 'tcp', host: o.tcp.host, port, export: exportName };
      listen = ['-b', o.tcp.host, '-p', String(port)];
    } else {
      const socket = o.socket ?? `${base}.sock`;
      if (Buffer.byteLength(socket) > 107) throw new QemuNbdError(`[qemu-nbd] socket path too long for a unix socket: ${socket}`);
      address = { transport: 'unix', socket, export: exportName };
      listen = ['-k', socket];
    }
    const code = await launch([...args, ...listen, o.image], logFile, o.signal);
    const log = readFileSync(logFile, 'utf8').trim();
    if (code !== 0) {
      rmSync(pidFile, { force: true });
      if (o.tcp && !o.tcp.port && /Address already in use/i.test(log) && attempt < 5) continue;
      rmSync(logFile, { force: true });
      throw new QemuNbdError(`[qemu-nbd] exporting ${o.image} failed (exit ${code}): ${log || 'no output'}`, log);
    }
    const pid = Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
    if (!(pid > 0) || !isAlive(pid)) throw new QemuNbdError(`[qemu-nbd] exporting ${o.image}: no live server after --fork (pid file ${pidFile}): ${log}`, log);
    live.add(pid);
    if (!exitHook) {
      exitHook = true;
      process.once('exit', () => {
        for (const p of live) if (isAlive(p) && isQemuNbd(p)) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
      });
    }
    let stopping: Promise<void> | undefined;
    return {
      pid, uri: formatNbdUri(address), address, pidFile, logFile,
      socket: address.transport === 'unix' ? address.socket : undefined,
      stop: () => (stopping ??= stopPid(pid, address.transport === 'unix' ? address.socket : undefined).then(() => {
        live.delete(pid);
        rmSync(pidFile, { force: true });
        rmSync(logFile, { force: true });
        if (address.transport === 'unix') rmSync(address.socket, { force: true });
      })),
    };
  }
}

/** Stops qemu-nbd servers whose pid files (`<socket>.pid`) lie under `dir` (a run that crashed
 * left them) and removes their files; resolves with how many were running. */
export async function stopLeftoverQemuNbd(dir: string, depth = 4): Promise<number> {
  let n = 0;
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory() && depth > 0) n += await stopLeftoverQemuNbd(p, depth - 1);
    else if (e.isFile() && e.name.endsWith('.sock.pid')) {
      const sock = p.slice(0, -'.pid'.length);
      const pid = Number.parseInt(readFileSync(p, 'utf8').trim(), 10);
      if (pid > 0 && isAlive(pid) && isQemuNbd(pid, sock)) {
        await stopPid(pid, sock);
        n++;
      }
      for (const f of [sock, p, `${sock}.log`]) rmSync(f, { force: true });
    }
  }
  return n;
}
