/**
 * @layer adapter
 * A stopped disk served read-only over NBD by qemu-nbd: `-r -t --fork --pid-file`, a unix socket,
 * export name '', optionally a persistent bitmap as 'qemu:dirty-bitmap:<name>' (-B), several
 * client connections allowed (--shared). stop() ends the daemon by its pid file (checking the
 * pid still is that qemu-nbd), waits for it to go (a zombie counts as gone) and removes the
 * socket and pid file: qemu-nbd removes neither itself.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, type Dirent } from 'node:fs';
import path from 'node:path';
import { CommandError, run } from '../system/run.ts';
import { isAlive as alive } from '../system/proc.ts';
import { classifyLibvirtError } from './libvirt-errors.ts';
import { HypervisorError, type StoppedExport } from './port.ts';

function isOurs(pid: number, socketPath: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(socketPath);
  } catch {
    return false;
  }
}

async function kill(pid: number, socketPath: string): Promise<void> {
  if (!alive(pid) || !isOurs(pid, socketPath)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  if (alive(pid)) {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    for (let i = 0; i < 60 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
  }
}

export interface QemuNbdOptions {
  image: string;
  format: string;
  socketPath: string;
  bitmap?: string;
  /** simultaneous client connections; default 8 */
  connections?: number;
  signal?: AbortSignal;
}

export async function startQemuNbd(o: QemuNbdOptions): Promise<StoppedExport> {
  if (existsSync(o.socketPath)) {
    throw new HypervisorError('invalid', `[hypervisor] [qemu-nbd] ${o.socketPath} exists: use a socket path unique to this export`);
  }
  mkdirSync(path.dirname(o.socketPath), { recursive: true, mode: 0o700 });
  const pidFile = `${o.socketPath}.pid`;
  const args = ['-r', '-t', '--fork', `--pid-file=${pidFile}`, `--shared=${o.connections ?? 8}`, '-f', o.format, '-k', o.socketPath,
    ...(o.bitmap ? ['-B', o.bitmap] : []), o.image];
  try {
    await run('qemu-nbd', args, { signal: o.signal, timeoutMs: 60_000 });
  } catch (e) {
    rmSync(pidFile, { force: true });
    const stderr = e instanceof CommandError ? e.stderr : '';
    let code = classifyLibvirtError(stderr);
    if (/inconsistent/i.test(stderr)) code = 'bitmap-inconsistent';
    else if (/Bitmap .* not found|Dirty bitmap .* not found/i.test(stderr)) code = 'bitmap-missing';
    else if (code === 'libvirt') code = 'qemu';
    throw new HypervisorError(code, `[hypervisor] [qemu-nbd] exporting ${o.image}${o.bitmap ? ` with bitmap ${o.bitmap}` : ''}: ${stderr.trim().split('\n').pop() ?? (e as Error).message}`, { cause: e });
  }
  const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
  let stopped = false;
  return {
    socketPath: o.socketPath,
    exportName: '',
    uri: `nbd+unix:///?socket=${o.socketPath}`,
    ...(o.bitmap ? { bitmapContext: `qemu:dirty-bitmap:${o.bitmap}` } : {}),
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill(pid, o.socketPath);
      rmSync(o.socketPath, { force: true });
      rmSync(pidFile, { force: true });
    },
  };
}

/** Stops qemu-nbd daemons whose pid files (`<socket>.pid`) lie under `dir`; removes their files. */
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
      if (pid > 0 && alive(pid) && isOurs(pid, sock)) {
        await kill(pid, sock);
        n++;
      }
      rmSync(sock, { force: true });
      rmSync(p, { force: true });
    }
  }
  return n;
}
