/**
 * @layer adapter
 * SshTarget: a repository in a directory of a repository host reached over SSH (ssh2). The host
 * needs only sshd and coreutils. One connection carries everything (ssh-connection.ts):
 * - bulk files stream over one exec channel each (`cat`, ssh-stream.ts), and long sequential
 *   reads too (`dd`, ssh-read-stream.ts: readStream);
 * - changes run as coreutils commands on exec channels, every path shell-quoted, under
 *   `umask 077` (files 0600, directories 0700, whatever sshd's umask is): `mkdir -p`,
 *   `mv -fT` + `sync DIR`, `rm -rf`, and writeFileAtomic as `cat > TMP && (its length checked)
 *   && sync TMP && mv -fT TMP PATH && sync DIR` — so a full disk reports 'No space left on device' ('no-space');
 * - reads go through the SFTP subsystem: stat, readdir, ranged reads (several requests in
 *   flight) and statvfs cost one round trip each instead of a process on the host (SFTP
 *   reports a full disk only as 'Failure', which is why writes do not use it).
 */
import { randomBytes } from 'node:crypto';
import type { FileEntryWithStats, SFTPWrapper, Stats } from 'ssh2';
import { codeOfStderr } from './error-codes.ts';
import { checkEntryPath, checkPath } from './guard.ts';
import { joinPath, parentPath, tempSibling } from './path.ts';
import { TargetError, type BackupTarget, type StreamFile, type TargetEntry, type TargetStat } from './port.ts';
import { PRIVATE, shellQuote as q } from './shell.ts';
import { SSH_ORIGIN, SshConnection, type SshConnectOptions } from './ssh-connection.ts';
import { ReadHandles } from './ssh-read-handles.ts';
import { sshReadStream } from './ssh-read-stream.ts';
import { SshStreamFile } from './ssh-stream.ts';
import { formatSshUrl } from './url.ts';

const READ_PIECE = 128 * 1024;
const READS_IN_FLIGHT = 16;
/** readFile streams files at least this big (one command) instead of ranged SFTP reads */
const STREAM_FILE_BYTES = 4 << 20;
const SFTP_NO_SUCH_FILE = 2;
const SFTP_PERMISSION_DENIED = 3;

type SftpError = Error & { code?: number };

function sftpFail(what: string, e: unknown): TargetError {
  if (e instanceof TargetError) return e;
  const code = (e as SftpError).code;
  const tc = code === SFTP_NO_SUCH_FILE ? 'not-found' : code === SFTP_PERMISSION_DENIED ? 'permission' : 'io';
  return new TargetError(tc, `${SSH_ORIGIN} ${what}: ${(e as Error).message}`, { cause: e });
}

function call<T>(fn: (cb: (err: Error | null | undefined, v: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => fn((err, v) => (err ? reject(err) : resolve(v))));
}

export interface SshTargetOptions extends Omit<SshConnectOptions, 'host' | 'port' | 'user'> {}

export class SshTarget implements BackupTarget {
  readonly url: string;
  private readonly handles = new ReadHandles();

  constructor(private readonly conn: SshConnection, private readonly root: string, loc: { user: string; host: string; port: number }) {
    this.url = formatSshUrl({ ...loc, path: root });
  }

  hostPath(path: string): string {
    return joinPath(this.root, checkPath(SSH_ORIGIN, path));
  }

  /** Runs a shell command on the host; a non-zero exit becomes a TargetError from its stderr. */
  private async sh(what: string, command: string, signal?: AbortSignal, stdin?: Buffer): Promise<Buffer> {
    this.handles.invalidate();
    const r = await this.conn.exec(`${PRIVATE} && ${command}`, { stdin, signal }).finally(() => this.handles.invalidate());
    if (r.code !== 0) {
      const err = r.stderr.trim() || (r.code === null ? `killed by ${r.signal}` : `exit ${r.code}`);
      throw new TargetError(codeOfStderr(r.stderr), `${SSH_ORIGIN} ${what}: ${err}`);
    }
    return r.stdout;
  }

  /** An SFTP call that rejects at once on abort or a dropped connection. */
  private async sftp<T>(what: string, signal: AbortSignal | undefined, fn: (s: SFTPWrapper) => Promise<T>): Promise<T> {
    try {
      const s = await this.conn.sftp(signal);
      return await this.conn.track(fn(s), signal);
    } catch (e) {
      if (signal?.aborted && e === signal.reason) throw e;
      throw sftpFail(what, e);
    }
  }

  async mkdirp(path: string, signal?: AbortSignal): Promise<void> {
    const p = checkPath(SSH_ORIGIN, path);
    await this.sh(`mkdir -p ${p}`, `mkdir -p -- ${q(this.hostPath(p))}`, signal);
  }

  async list(dir: string, signal?: AbortSignal): Promise<TargetEntry[]> {
    const d = checkPath(SSH_ORIGIN, dir);
    const abs = this.hostPath(d);
    return this.sftp(`list ${d}`, signal, async (s) => {
      let items: FileEntryWithStats[];
      try {
        items = await call<FileEntryWithStats[]>((cb) => s.readdir(abs, cb));
      } catch (e) {
        if ((e as SftpError).code === SFTP_NO_SUCH_FILE) return [];
        throw e;
      }
      const out: TargetEntry[] = [];
      for (const it of items) {
        if (it.filename === '.' || it.filename === '..') continue;
        let a: Stats | undefined = it.attrs as Stats;
        if (a.isSymbolicLink()) a = await call<Stats>((cb) => s.stat(`${abs}/${it.filename}`, cb)).catch(() => undefined);
        if (!a) continue;
        out.push({ name: it.filename, isDirectory: a.isDirectory(), size: a.isDirectory() ? 0 : a.size });
      }
      return out.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    });
  }

  async stat(path: string, signal?: AbortSignal): Promise<TargetStat | undefined> {
    const p = checkPath(SSH_ORIGIN, path);
    return this.sftp(`stat ${p}`, signal, async (s) => {
      try {
        const a = await call<Stats>((cb) => s.stat(this.hostPath(p), cb));
        return { size: a.isDirectory() ? 0 : a.size, mtimeMs: a.mtime * 1000, isDirectory: a.isDirectory(), mode: a.mode & 0o7777 };
      } catch (e) {
        if ((e as SftpError).code === SFTP_NO_SUCH_FILE) return undefined;
        throw e;
      }
    });
  }

  /** Runs `fn` with a read handle on `p` (kept open for the next read) and its size. */
  private withReadHandle<T>(what: string, p: string, signal: AbortSignal | undefined, fn: (s: SFTPWrapper, h: Buffer, size: number) => Promise<T>): Promise<T> {
    return this.sftp(what, signal, (s) => this.handles.use(s, this.hostPath(p), (h, size) => fn(s, h, size)));
  }

  /** Reads exactly `length` bytes at `offset` with several requests in flight. */
  private async readRange(s: SFTPWrapper, h: Buffer, p: string, offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length);
    let next = 0;
    const worker = async () => {
      while (next < length) {
        signal?.throwIfAborted();
        const at = next;
        const n = Math.min(READ_PIECE, length - at);
        next += n;
        let got = 0;
        while (got < n) {
          const nb = await call<number>((cb) => s.read(h, out, at + got, n - got, offset + at + got, cb));
          if (nb === 0) throw new TargetError('range', `${SSH_ORIGIN} ${p} ended at ${offset + at + got} while reading ${length} bytes at ${offset}`);
          got += nb;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(READS_IN_FLIGHT, Math.ceil(length / READ_PIECE)) }, worker));
    return out;
  }

  async readFile(path: string, signal?: AbortSignal): Promise<Buffer> {
    const p = checkPath(SSH_ORIGIN, path);
    return this.withReadHandle(`read ${p}`, p, signal, async (s, h, size) => {
      if (size < STREAM_FILE_BYTES) return this.readRange(s, h, p, 0, size, signal);
      // a big file (a 1 TiB disk's digests are 32 MiB): one dd stream instead of SFTP round trips
      const out = Buffer.allocUnsafe(size);
      let at = 0;
      for await (const c of sshReadStream(this.conn, p, this.hostPath(p), 0, size, signal)) at += c.copy(out, at);
      return out;
    });
  }

  async read(path: string, offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    const p = checkPath(SSH_ORIGIN, path);
    return this.withReadHandle(`read ${p} at ${offset}+${length}`, p, signal, async (s, h, size) => {
      if (!(offset >= 0 && length >= 0 && offset + length <= size)) {
        throw new TargetError('range', `${SSH_ORIGIN} read of ${p} at ${offset}+${length} is past its end (${size} bytes)`);
      }
      return this.readRange(s, h, p, offset, length, signal);
    });
  }

  readStream(path: string, offset: number, length: number, signal?: AbortSignal): AsyncIterable<Buffer> {
    const p = checkPath(SSH_ORIGIN, path);
    return sshReadStream(this.conn, p, this.hostPath(p), offset, length, signal);
  }

  async writeFileAtomic(path: string, data: Buffer | string, signal?: AbortSignal): Promise<void> {
    const p = checkEntryPath(SSH_ORIGIN, path);
    const tmp = q(this.hostPath(tempSibling(p, randomBytes(6).toString('hex'))));
    const buf = Buffer.from(data);
    // a client that dies mid-send closes cat's stdin early, and cat exits 0 on what it got: the
    // length is checked before the rename, so a cut-short file never replaces the old one
    const script = `if cat > ${tmp} && n=$(wc -c < ${tmp}) && { [ $n -eq ${buf.length} ] || { echo "short write: $n of ${buf.length} bytes arrived" >&2; false; }; } `
      + `&& sync -- ${tmp} && mv -fT -- ${tmp} ${q(this.hostPath(p))}; `
      + `then exec sync -- ${q(this.hostPath(parentPath(p)))}; else s=$?; rm -f -- ${tmp}; exit $s; fi`;
    await this.sh(`write ${p}`, script, signal, buf);
  }

  async create(path: string, signal?: AbortSignal): Promise<StreamFile> {
    const p = checkEntryPath(SSH_ORIGIN, path);
    this.handles.invalidate();
    return SshStreamFile.open(this.conn, p, this.hostPath(p), signal, () => this.handles.invalidate());
  }

  async rename(from: string, to: string, signal?: AbortSignal): Promise<void> {
    const a = checkEntryPath(SSH_ORIGIN, from);
    const b = checkEntryPath(SSH_ORIGIN, to);
    const dirs = [...new Set([parentPath(b), parentPath(a)])].map((d) => q(this.hostPath(d))).join(' ');
    await this.sh(`rename ${a} to ${b}`, `mv -fT -- ${q(this.hostPath(a))} ${q(this.hostPath(b))} && sync -- ${dirs}`, signal);
  }

  async remove(path: string, signal?: AbortSignal): Promise<void> {
    const p = checkEntryPath(SSH_ORIGIN, path);
    await this.sh(`remove ${p}`, `rm -rf -- ${q(this.hostPath(p))}`, signal);
  }

  async freeSpace(path: string, signal?: AbortSignal): Promise<number> {
    const p = checkPath(SSH_ORIGIN, path);
    return this.sftp(`free space at ${p}`, signal, async (s) => {
      const v = await call<{ f_bavail: number | bigint; f_frsize: number | bigint }>((cb) => s.ext_openssh_statvfs(this.hostPath(p), cb));
      return Number(v.f_bavail) * Number(v.f_frsize);
    });
  }

  async close(): Promise<void> {
    this.handles.invalidate();
    await this.conn.close();
  }
}

/** Connects to `user@host:port` and opens the directory `root` there as a BackupTarget. */
export async function openSshTarget(loc: { user: string; host: string; port: number; path: string }, opts: SshTargetOptions = {}): Promise<SshTarget> {
  const conn = await SshConnection.connect({ ...opts, host: loc.host, port: loc.port, user: loc.user });
  return new SshTarget(conn, loc.path, loc);
}
