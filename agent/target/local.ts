/**
 * @layer adapter
 * LocalTarget: a repository in a directory of this host, through node:fs/promises.
 * - create() opens the path exclusively (O_EXCL); appends are written in order, small ones copied and
 *   coalesced into one writev of up to 4 MiB (the caller may reuse a buffer once append resolves);
 *   writeAt is a positional write; commit = fsync +
 *   close; abort = close + unlink.
 * - rename and writeFileAtomic (temporary sibling, fsync, rename) fsync the directory after
 *   the rename, so the new name survives a crash.
 * - files are created 0600 and directories 0700 (mode given on every create, then fchmod/chmod:
 *   the umask could only take bits away, never add them);
 * - errno → code: ENOSPC 'no-space', ENOENT 'not-found', EACCES 'permission', EEXIST 'exists'.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import nodePath from 'node:path';
import { codeOfErrno } from './error-codes.ts';
import { abortable, checkEntryPath, checkPath } from './guard.ts';
import { joinPath, parentPath, tempSibling } from './path.ts';
import { TargetError, type BackupTarget, type StreamFile, type TargetEntry, type TargetStat } from './port.ts';

const C = '[target] [local]';
const COALESCE_BYTES = 4 * 1024 * 1024;
/** appends at least this big are written at once (no copy); smaller ones are copied and coalesced */
const DIRECT_BYTES = 1024 * 1024;
const READ_CHUNK = 4 * 1024 * 1024;
export const FILE_MODE = 0o600;
export const DIR_MODE = 0o700;

function fail(what: string, e: unknown): TargetError {
  if (e instanceof TargetError) return e;
  const errno = (e as NodeJS.ErrnoException)?.code;
  return new TargetError(codeOfErrno(errno), `${C} ${what}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

async function guarded<T>(what: string, signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  signal?.throwIfAborted();
  try {
    return await abortable(work(), signal);
  } catch (e) {
    if (signal?.aborted && e === signal.reason) throw e;
    throw fail(what, e);
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const h = await fs.open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try { await h.sync(); } finally { await h.close(); }
}

/** Writes every byte of `bufs` at `position` (writev may write less than asked). */
async function writeAll(h: FileHandle, bufs: Buffer[], position: number): Promise<void> {
  let rest = bufs;
  while (rest.length) {
    const { bytesWritten } = await h.writev(rest, position);
    position += bytesWritten;
    let n = bytesWritten;
    while (rest.length && n >= rest[0].length) { n -= rest[0].length; rest = rest.slice(1); }
    if (n > 0) rest = [rest[0].subarray(n), ...rest.slice(1)];
    if (bytesWritten === 0 && rest.length) throw new TargetError('io', `${C} write made no progress`);
  }
}

/** Reads exactly `length` bytes at `position`. */
async function readExactly(h: FileHandle, position: number, length: number, signal?: AbortSignal): Promise<Buffer> {
  const out = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    signal?.throwIfAborted();
    const { bytesRead } = await h.read(out, done, Math.min(READ_CHUNK, length - done), position + done);
    if (bytesRead === 0) throw new TargetError('range', `${C} file ended at ${position + done} while reading ${length} bytes at ${position}`);
    done += bytesRead;
  }
  return out;
}

export class LocalTarget implements BackupTarget {
  readonly url: string;

  /** `root` is made absolute; it need not exist yet (mkdirp('') creates it). */
  constructor(root: string) {
    this.url = nodePath.resolve(root);
  }

  private abs(p: string): string {
    return joinPath(this.url, p);
  }

  hostPath(path: string): string {
    return this.abs(checkPath(C, path));
  }

  async mkdirp(path: string, signal?: AbortSignal): Promise<void> {
    const p = checkPath(C, path);
    return guarded(`mkdir -p ${p}`, signal, async () => {
      // the first directory made (if any) is returned; it and every one below it are new
      const first = await fs.mkdir(this.abs(p), { recursive: true, mode: DIR_MODE });
      if (first === undefined) return;
      for (let d = this.abs(p); ; d = nodePath.dirname(d)) {
        await fs.chmod(d, DIR_MODE);
        if (d === first || d === nodePath.dirname(d)) break;
      }
    });
  }

  async list(dir: string, signal?: AbortSignal): Promise<TargetEntry[]> {
    const d = checkPath(C, dir);
    return guarded(`list ${d}`, signal, async () => {
      let names: string[];
      try {
        names = await fs.readdir(this.abs(d));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw e;
      }
      const out: TargetEntry[] = [];
      for (const name of names.sort()) {
        const s = await fs.stat(nodePath.join(this.abs(d), name)).catch(() => undefined);
        if (s) out.push({ name, isDirectory: s.isDirectory(), size: s.isDirectory() ? 0 : s.size });
      }
      return out;
    });
  }

  async stat(path: string, signal?: AbortSignal): Promise<TargetStat | undefined> {
    const p = checkPath(C, path);
    return guarded(`stat ${p}`, signal, async () => {
      const s = await fs.stat(this.abs(p)).catch((e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return undefined;
        throw e;
      });
      return s && { size: s.isDirectory() ? 0 : s.size, mtimeMs: s.mtimeMs, isDirectory: s.isDirectory(), mode: s.mode & 0o7777 };
    });
  }

  async readFile(path: string, signal?: AbortSignal): Promise<Buffer> {
    const p = checkPath(C, path);
    return guarded(`read ${p}`, signal, () => fs.readFile(this.abs(p), { signal }));
  }

  async read(path: string, offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    const p = checkPath(C, path);
    return guarded(`read ${p} at ${offset}+${length}`, signal, async () => {
      const h = await fs.open(this.abs(p), 'r');
      try {
        const { size } = await h.stat();
        if (!(offset >= 0 && length >= 0 && offset + length <= size)) {
          throw new TargetError('range', `${C} read of ${p} at ${offset}+${length} is past its end (${size} bytes)`);
        }
        return await readExactly(h, offset, length, signal);
      } finally {
        await h.close();
      }
    });
  }

  async *readStream(path: string, offset: number, length: number, signal?: AbortSignal): AsyncIterable<Buffer> {
    const p = checkPath(C, path);
    const what = `read ${p} at ${offset}+${length}`;
    const h = await guarded(what, signal, async () => {
      const fh = await fs.open(this.abs(p), 'r');
      const { size } = await fh.stat();
      if (!(offset >= 0 && length >= 0 && offset + length <= size)) {
        await fh.close();
        throw new TargetError('range', `${C} read of ${p} at ${offset}+${length} is past its end (${size} bytes)`);
      }
      return fh;
    });
    try {
      for (let at = 0; at < length;) {
        const n = Math.min(READ_CHUNK, length - at);
        const buf = await guarded(what, signal, () => readExactly(h, offset + at, n, signal));
        at += n;
        yield buf;
      }
    } finally {
      await h.close();
    }
  }

  async writeFileAtomic(path: string, data: Buffer | string, signal?: AbortSignal): Promise<void> {
    const p = checkEntryPath(C, path);
    return guarded(`write ${p}`, signal, async () => {
      const tmp = this.abs(tempSibling(p, randomBytes(6).toString('hex')));
      try {
        const h = await fs.open(tmp, 'wx', FILE_MODE);
        try {
          await h.chmod(FILE_MODE);
          await writeAll(h, [Buffer.from(data)], 0);
          await h.sync();
        } finally {
          await h.close();
        }
        signal?.throwIfAborted();
        await fs.rename(tmp, this.abs(p));
      } catch (e) {
        await fs.unlink(tmp).catch(() => {});
        throw e;
      }
      await fsyncDir(this.abs(parentPath(p)));
    });
  }

  async create(path: string, signal?: AbortSignal): Promise<StreamFile> {
    const p = checkEntryPath(C, path);
    return guarded(`create ${p}`, signal, async () => {
      const h = await fs.open(this.abs(p), 'wx', FILE_MODE);
      try {
        await h.chmod(FILE_MODE);
      } catch (e) {
        await h.close();
        await fs.unlink(this.abs(p)).catch(() => {});
        throw e;
      }
      return new LocalStreamFile(p, this.abs(p), h);
    });
  }

  async rename(from: string, to: string, signal?: AbortSignal): Promise<void> {
    const a = checkEntryPath(C, from);
    const b = checkEntryPath(C, to);
    return guarded(`rename ${a} to ${b}`, signal, async () => {
      await fs.rename(this.abs(a), this.abs(b));
      await fsyncDir(this.abs(parentPath(b)));
      if (parentPath(a) !== parentPath(b)) await fsyncDir(this.abs(parentPath(a)));
    });
  }

  async remove(path: string, signal?: AbortSignal): Promise<void> {
    const p = checkEntryPath(C, path);
    return guarded(`remove ${p}`, signal, () => fs.rm(this.abs(p), { recursive: true, force: true }));
  }

  async freeSpace(path: string, signal?: AbortSignal): Promise<number> {
    const p = checkPath(C, path);
    return guarded(`free space at ${p}`, signal, async () => {
      const s = await fs.statfs(this.abs(p));
      return s.bavail * s.bsize;
    });
  }

  async close(): Promise<void> {}
}

class LocalStreamFile implements StreamFile {
  private written = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private state: 'open' | 'committed' | 'aborted' = 'open';
  /** a failed write leaves the file unusable: only abort() remains */
  private failure: TargetError | undefined;
  /** operations run one at a time, in call order */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string, private readonly abs: string, private readonly h: FileHandle) {}

  get length(): number {
    return this.written + this.pendingBytes;
  }

  private serial<T>(what: string, signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
    const run = async () => {
      signal?.throwIfAborted();
      if (this.state !== 'open') throw new TargetError('io', `${C} ${this.path} is already ${this.state}`);
      if (this.failure) throw this.failure;
      try {
        return await work();
      } catch (e) {
        if (e instanceof TargetError && e.code === 'range') throw e; // the caller's mistake: the file is fine
        this.failure = fail(`${what} ${this.path}`, e);
        throw this.failure;
      }
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => {});
    return p;
  }

  private async flush(): Promise<void> {
    if (!this.pendingBytes) return;
    const bufs = this.pending;
    const n = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    await writeAll(this.h, bufs, this.written);
    this.written += n;
  }

  async append(chunk: Buffer, signal?: AbortSignal): Promise<void> {
    return this.serial('append to', signal, async () => {
      // the caller owns its buffer again when this resolves: a big chunk is written now (with what
      // is pending, one writev), a small one is copied
      const big = chunk.length >= DIRECT_BYTES;
      this.pending.push(big ? chunk : Buffer.from(chunk));
      this.pendingBytes += chunk.length;
      if (big || this.pendingBytes >= COALESCE_BYTES) await this.flush();
    });
  }

  async writeAt(offset: number, chunk: Buffer, signal?: AbortSignal): Promise<void> {
    return this.serial('writeAt in', signal, async () => {
      if (!(offset >= 0 && offset + chunk.length <= this.length)) {
        throw new TargetError('range', `${C} writeAt ${offset}+${chunk.length} in ${this.path} is past the ${this.length} bytes written`);
      }
      await this.flush();
      await writeAll(this.h, [chunk], offset);
    });
  }

  async commit(signal?: AbortSignal): Promise<void> {
    return this.serial('commit', signal, async () => {
      await this.flush();
      await this.h.sync();
      await this.h.close();
      this.state = 'committed';
    });
  }

  async abort(): Promise<void> {
    await this.queue;
    if (this.state !== 'open') return;
    this.state = 'aborted';
    await this.h.close().catch(() => {});
    await fs.unlink(this.abs).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw fail(`abort ${this.path}`, e);
    });
  }
}

/** Opens a local directory as a BackupTarget. */
export function openLocalTarget(root: string): LocalTarget {
  return new LocalTarget(root);
}
