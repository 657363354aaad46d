/**
 * @layer adapter
 * The host-local per-VM lock: one process of this host at a time works on a
 * VM — the CLI and the daemon, two CLIs. A lock is the file `<dir>/<vm>.lock`, created
 * O_CREAT|O_EXCL|O_NOFOLLOW (0600) with the holder's pid, its start time (from /proc, so a
 * reused pid is not mistaken for the holder), and what it does. A lock whose holder is dead is
 * stale: it is moved aside (rename, atomic: one taker wins) and taken. Release removes it only if
 * it is still this holder's. The repository lease (repository/lease.ts) covers other hosts.
 */
import { constants, readFileSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { isAlive } from './proc.ts';

export interface HostLockInfo {
  pid: number;
  /** field 22 of /proc/PID/stat: the process start time in clock ticks since boot */
  start: string;
  work: string;
  owner: string;
  at: string;
}

export class HostLockError extends Error {
  override name = 'HostLockError';
  constructor(message: string, readonly holder?: HostLockInfo, options?: { cause?: unknown }) {
    super(message, options);
  }
}

function startTime(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Is the process that wrote `info` still running (the same process, not a reused pid)? */
export function holderAlive(info: HostLockInfo): boolean {
  return isAlive(info.pid) && startTime(info.pid) === info.start;
}

const VM_RE = /^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$/;

export interface HostLock {
  readonly file: string;
  readonly info: HostLockInfo;
  release(): Promise<void>;
}

async function readInfo(file: string): Promise<HostLockInfo | undefined | 'garbled'> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const j = JSON.parse(text) as HostLockInfo;
    return typeof j.pid === 'number' && typeof j.start === 'string' ? j : 'garbled';
  } catch {
    return 'garbled';
  }
}

/** Takes the lock on `vm` in `dir`, or rejects with HostLockError naming the live holder. */
export async function acquireHostLock(dir: string, vm: string, o: { work: string; owner: string }): Promise<HostLock> {
  if (!VM_RE.test(vm) || vm.includes('..')) throw new HostLockError(`[lock] invalid VM id '${vm}'`);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${vm.toLowerCase()}.lock`);
  const info: HostLockInfo = { pid: process.pid, start: startTime(process.pid) ?? '', work: o.work, owner: o.owner, at: new Date().toISOString() };
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const h = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        await h.writeFile(JSON.stringify(info));
        await h.sync();
      } finally {
        await h.close();
      }
      return {
        file, info,
        async release() {
          const cur = await readInfo(file);
          if (cur && cur !== 'garbled' && cur.pid === info.pid && cur.owner === info.owner) await rm(file, { force: true });
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new HostLockError(`[lock] cannot create ${file}: ${(e as Error).message}`, undefined, { cause: e });
    }
    const cur = await readInfo(file);
    if (cur === undefined) continue;
    if (cur !== 'garbled' && holderAlive(cur)) {
      throw new HostLockError(`[lock] VM ${vm} is busy on this host: ${cur.work} (job ${cur.owner}) by pid ${cur.pid} since ${cur.at}; try again when it has finished`, cur);
    }
    // a dead holder's (or a cut-short) lock: move it aside — of two takers only one rename succeeds
    const aside = `${file}.stale-${process.pid}-${attempt}`;
    try {
      await rename(file, aside);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw e;
    }
    const moved = await readInfo(aside);
    if (moved !== undefined && moved !== 'garbled' && holderAlive(moved)) {
      // a live holder took it between our read and the rename: give it back
      await rename(aside, file);
      throw new HostLockError(`[lock] VM ${vm} is busy on this host: ${moved.work} (job ${moved.owner}) by pid ${moved.pid}`, moved);
    }
    await rm(aside, { force: true });
  }
  throw new HostLockError(`[lock] VM ${vm}: could not take the host lock in ${dir} (it kept changing); try again`);
}
