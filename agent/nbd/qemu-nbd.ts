/**
 * @layer adapter
 * Exports a disk image read-only with qemu-nbd (a stopped VM's disk, or a test image):
 * `qemu-nbd -r -t -f FMT [-B BITMAP] [-A] -e N --fork --pid-file=F (-k SOCK | -b HOST -p PORT)`.
 * --fork returns once the server listens. The socket, pid file and log live in `dir`; stop()
 * sends SIGTERM, then SIGKILL, and waits until the process is gone (a zombie counts as gone:
 * PID 1 reaps slowly here). Servers still running when this process exits are SIGKILLed.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { isAlive } from '../system/proc.ts';
import { formatNbdUri, type NbdAddress } from './uri.ts';

export interface QemuNbdOptions {
  image: string;
  format?: 'qcow2' | 'raw';
  /** a persistent dirty bitmap in the image to expose as qemu:dirty-bitmap:NAME */
  bitmap?: string;
  /** expose qemu:allocation-depth */
  allocationDepth?: boolean;
  /** where the socket, pid file and log go */
  dir: string;
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
}

const live = new Set<number>();
let exitHook = false;

function isQemuNbd(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'qemu-nbd';
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

async function stopPid(pid: number): Promise<void> {
  if (!isAlive(pid) || !isQemuNbd(pid)) return;
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
  const pidFile = path.join(o.dir, `qemu-nbd-${id}.pid`);
  const logFile = path.join(o.dir, `qemu-nbd-${id}.log`);
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
      const socket = path.join(o.dir, `qemu-nbd-${id}.sock`);
      if (Buffer.byteLength(socket) > 107) throw new QemuNbdError(`[qemu-nbd] socket path too long for a unix socket: ${socket}`);
      address = { transport: 'unix', socket, export: exportName };
      listen = ['-k', socket];
    }
    const code = await launch([...args, ...listen, o.image], logFile, o.signal);
    const log = readFileSync(logFile, 'utf8').trim();
    if (code !== 0) {
      if (o.tcp && !o.tcp.port && /Address already in use/i.test(log) && attempt < 5) continue;
      throw new QemuNbdError(`[qemu-nbd] exporting ${o.image} failed (exit ${code}): ${log || 'no output'}`);
    }
    const pid = Number.parseInt(readFileSync(pidFile, 'utf8'), 10);
    if (!(pid > 0) || !isAlive(pid)) throw new QemuNbdError(`[qemu-nbd] exporting ${o.image}: no live server after --fork (pid file ${pidFile}): ${log}`);
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
      stop: () => (stopping ??= stopPid(pid).then(() => {
        live.delete(pid);
        rmSync(pidFile, { force: true });
        if (address.transport === 'unix') rmSync(address.socket, { force: true });
      })),
    };
  }
}
