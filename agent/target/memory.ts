/**
 * @layer port
 * MemoryTarget: a BackupTarget held in memory that enforces the contract more strictly than a
 * real file system would, so use cases that break it fail in unit tests:
 * - a file being written cannot be read, renamed, removed or written over (create, rename or
 *   writeFileAtomic onto it) — only its StreamFile may finish it;
 * - `quotaBytes` makes appends and writeFileAtomic fail with 'no-space' once the total size
 *   of all files (committed and in progress) would pass it;
 * - `disconnect()` makes every later call, open StreamFiles included, fail with 'disconnected'.
 */
import { checkEntryPath, checkPath } from './guard.ts';
import { baseName, joinPath, parentPath } from './path.ts';
import { TargetError, type BackupTarget, type StreamFile, type TargetEntry, type TargetStat } from './port.ts';

const C = '[target] [memory]';
/** readStream yields pieces of this size (an odd one: callers must not assume alignment) */
const STREAM_PIECE = 40_000;

export interface MemoryTargetOptions {
  /** total bytes the target may hold; unlimited when absent */
  quotaBytes?: number;
  /** what `url` says; default 'memory:' */
  url?: string;
  /** what `hostPath` puts in front of a repository path; default '/memory' */
  hostRoot?: string;
  /** clock for mtimes (tests) */
  now?: () => number;
}

interface MemFile {
  data: Buffer;
  mtimeMs: number;
  /** the open StreamFile while the file is being written */
  writer?: MemoryStreamFile;
}

export class MemoryTarget implements BackupTarget {
  readonly url: string;
  private readonly files = new Map<string, MemFile>();
  private readonly dirs = new Map<string, number>([['', 0]]);
  private readonly quota: number | undefined;
  private readonly hostRoot: string;
  private readonly now: () => number;
  private down: TargetError | undefined;

  constructor(opts: MemoryTargetOptions = {}) {
    this.url = opts.url ?? 'memory:';
    this.quota = opts.quotaBytes;
    this.hostRoot = opts.hostRoot ?? '/memory';
    this.now = opts.now ?? Date.now;
  }

  /** Simulates a dropped connection: every later call rejects with 'disconnected'. */
  disconnect(): void {
    this.down ??= new TargetError('disconnected', `${C} the connection to ${this.url} was dropped`);
  }

  /** Bytes held: committed files plus files being written. */
  usedBytes(): number {
    let n = 0;
    for (const f of this.files.values()) n += f.writer ? f.writer.length : f.data.length;
    return n;
  }

  /** @internal used by MemoryStreamFile */
  live(signal?: AbortSignal): void {
    signal?.throwIfAborted();
    if (this.down) throw this.down;
  }

  /** @internal reserves room for `bytes` more, or throws 'no-space' */
  reserve(path: string, bytes: number): void {
    if (this.quota === undefined) return;
    const free = this.quota - this.usedBytes();
    if (bytes > free) throw new TargetError('no-space', `${C} no space left for ${path}: ${bytes} bytes needed, ${free} free`);
  }

  /** @internal */
  finish(path: string, data: Buffer | undefined): void {
    const f = this.files.get(path);
    if (!f) return;
    if (data) {
      f.data = data;
      f.mtimeMs = this.now();
      f.writer = undefined;
    } else {
      this.files.delete(path);
    }
  }

  private requireDir(dir: string, forPath: string): void {
    if (!this.dirs.has(dir)) throw new TargetError('not-found', `${C} ${forPath}: directory ${JSON.stringify(dir)} does not exist`);
  }

  private requireIdle(p: string, what: string, code: 'exists' | 'io' = 'exists'): MemFile | undefined {
    const f = this.files.get(p);
    if (f?.writer) throw new TargetError(code, `${C} cannot ${what} ${p}: it is still being written`);
    return f;
  }

  private committed(p: string): MemFile {
    const f = this.requireIdle(p, 'read', 'io');
    if (!f) throw new TargetError('not-found', `${C} ${p} does not exist`);
    return f;
  }

  async mkdirp(path: string, signal?: AbortSignal): Promise<void> {
    this.live(signal);
    const p = checkPath(C, path);
    let cur = '';
    for (const seg of p === '' ? [] : p.split('/')) {
      cur = cur === '' ? seg : `${cur}/${seg}`;
      if (this.files.has(cur)) {
        throw cur === p
          ? new TargetError('exists', `${C} cannot create directory ${cur}: a file has that name`)
          : new TargetError('not-found', `${C} cannot create directory ${p}: ${cur} is a file`);
      }
      if (!this.dirs.has(cur)) this.dirs.set(cur, this.now());
    }
  }

  async list(dir: string, signal?: AbortSignal): Promise<TargetEntry[]> {
    this.live(signal);
    const d = checkPath(C, dir);
    if (this.files.has(d)) throw new TargetError('io', `${C} cannot list ${d}: it is a file`);
    if (!this.dirs.has(d)) return [];
    const out: TargetEntry[] = [];
    for (const [p, f] of this.files) if (p !== d && parentPath(p) === d) out.push({ name: baseName(p), isDirectory: false, size: f.writer ? f.writer.length : f.data.length });
    for (const p of this.dirs.keys()) if (p !== '' && p !== d && parentPath(p) === d) out.push({ name: baseName(p), isDirectory: true, size: 0 });
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  async stat(path: string, signal?: AbortSignal): Promise<TargetStat | undefined> {
    this.live(signal);
    const p = checkPath(C, path);
    const f = this.files.get(p);
    // everything it makes is private to its owner, as the contract asks
    if (f) return { size: f.writer ? f.writer.length : f.data.length, mtimeMs: f.mtimeMs, isDirectory: false, mode: 0o600 };
    const d = this.dirs.get(p);
    return d === undefined ? undefined : { size: 0, mtimeMs: d, isDirectory: true, mode: 0o700 };
  }

  async readFile(path: string, signal?: AbortSignal): Promise<Buffer> {
    this.live(signal);
    return Buffer.from(this.committed(checkPath(C, path)).data);
  }

  async read(path: string, offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    this.live(signal);
    const p = checkPath(C, path);
    const f = this.committed(p);
    if (!(offset >= 0 && length >= 0 && offset + length <= f.data.length)) {
      throw new TargetError('range', `${C} read of ${p} at ${offset}+${length} is past its end (${f.data.length} bytes)`);
    }
    return Buffer.from(f.data.subarray(offset, offset + length));
  }

  async *readStream(path: string, offset: number, length: number, signal?: AbortSignal): AsyncIterable<Buffer> {
    const data = await this.read(path, offset, length, signal);
    // in pieces, as a network would deliver them
    for (let at = 0; at < data.length; at += STREAM_PIECE) {
      this.live(signal);
      yield data.subarray(at, Math.min(data.length, at + STREAM_PIECE));
    }
  }

  async writeFileAtomic(path: string, data: Buffer | string, signal?: AbortSignal): Promise<void> {
    this.live(signal);
    const p = checkEntryPath(C, path);
    this.requireDir(parentPath(p), p);
    if (this.dirs.has(p)) throw new TargetError('exists', `${C} cannot write ${p}: it is a directory`);
    const old = this.requireIdle(p, 'replace');
    const buf = Buffer.from(data);
    this.reserve(p, buf.length - (old?.data.length ?? 0));
    this.files.set(p, { data: buf, mtimeMs: this.now() });
  }

  async create(path: string, signal?: AbortSignal): Promise<StreamFile> {
    this.live(signal);
    const p = checkEntryPath(C, path);
    this.requireDir(parentPath(p), p);
    if (this.files.has(p) || this.dirs.has(p)) throw new TargetError('exists', `${C} cannot create ${p}: it exists`);
    const writer = new MemoryStreamFile(this, p);
    this.files.set(p, { data: Buffer.alloc(0), mtimeMs: this.now(), writer });
    return writer;
  }

  async rename(from: string, to: string, signal?: AbortSignal): Promise<void> {
    this.live(signal);
    const a = checkEntryPath(C, from);
    const b = checkEntryPath(C, to);
    const f = this.requireIdle(a, 'rename');
    this.requireIdle(b, 'rename over');
    this.requireDir(parentPath(b), b);
    if (a === b) {
      if (!f && !this.dirs.has(a)) throw new TargetError('not-found', `${C} cannot rename ${a}: it does not exist`);
      return;
    }
    if (this.dirs.has(b)) throw new TargetError('exists', `${C} cannot rename ${a} to ${b}: ${b} is a directory`);
    if (f) {
      this.files.delete(a);
      this.files.set(b, f);
      return;
    }
    if (!this.dirs.has(a)) throw new TargetError('not-found', `${C} cannot rename ${a}: it does not exist`);
    if (this.files.has(b)) throw new TargetError('exists', `${C} cannot rename directory ${a} over file ${b}`);
    if (b.startsWith(`${a}/`)) throw new TargetError('config', `${C} cannot move ${a} into itself`);
    const moved = (p: string) => (p === a ? b : p.startsWith(`${a}/`) ? b + p.slice(a.length) : undefined);
    for (const [p, x] of [...this.files]) {
      if (x.writer && moved(p) !== undefined) throw new TargetError('exists', `${C} cannot rename ${a}: ${p} is still being written`);
    }
    for (const [p, x] of [...this.files]) { const q = moved(p); if (q !== undefined) { this.files.delete(p); this.files.set(q, x); } }
    for (const [p, x] of [...this.dirs]) { const q = moved(p); if (q !== undefined) { this.dirs.delete(p); this.dirs.set(q, x); } }
  }

  async remove(path: string, signal?: AbortSignal): Promise<void> {
    this.live(signal);
    const p = checkEntryPath(C, path);
    const inside = (q: string) => q === p || q.startsWith(`${p}/`);
    for (const [q, f] of this.files) if (inside(q) && f.writer) throw new TargetError('exists', `${C} cannot remove ${q}: it is still being written (abort it)`);
    for (const q of [...this.files.keys()]) if (inside(q)) this.files.delete(q);
    for (const q of [...this.dirs.keys()]) if (inside(q)) this.dirs.delete(q);
  }

  async freeSpace(path: string, signal?: AbortSignal): Promise<number> {
    this.live(signal);
    const p = checkPath(C, path);
    if (!this.dirs.has(p) && !this.files.has(p)) throw new TargetError('not-found', `${C} ${p} does not exist`);
    return this.quota === undefined ? 2 ** 50 : Math.max(0, this.quota - this.usedBytes());
  }

  hostPath(path: string): string {
    return joinPath(this.hostRoot, checkPath(C, path));
  }

  async close(): Promise<void> {}
}

class MemoryStreamFile implements StreamFile {
  private buf = Buffer.alloc(64 * 1024);
  private len = 0;
  private state: 'open' | 'committed' | 'aborted' = 'open';
  private failure: unknown;

  constructor(private readonly target: MemoryTarget, readonly path: string) {}

  get length(): number {
    return this.len;
  }

  private usable(signal?: AbortSignal): void {
    if (this.state !== 'open') throw new TargetError('io', `${C} ${this.path} is already ${this.state}`);
    if (this.failure) throw this.failure;
    this.target.live(signal);
  }

  /** A failed append leaves the file unusable: only abort() remains. */
  private fail(e: unknown): never {
    this.failure ??= e;
    throw e;
  }

  async append(chunk: Buffer, signal?: AbortSignal): Promise<void> {
    this.usable(signal);
    try { this.target.reserve(this.path, chunk.length); } catch (e) { this.fail(e); }
    if (this.len + chunk.length > this.buf.length) {
      const bigger = Buffer.alloc(Math.max(this.buf.length * 2, this.len + chunk.length));
      this.buf.copy(bigger, 0, 0, this.len);
      this.buf = bigger;
    }
    chunk.copy(this.buf, this.len);
    this.len += chunk.length;
  }

  async writeAt(offset: number, chunk: Buffer, signal?: AbortSignal): Promise<void> {
    this.usable(signal);
    if (!(offset >= 0 && offset + chunk.length <= this.len)) {
      throw new TargetError('range', `${C} writeAt ${offset}+${chunk.length} in ${this.path} is past the ${this.len} bytes written`);
    }
    chunk.copy(this.buf, offset);
  }

  async commit(signal?: AbortSignal): Promise<void> {
    this.usable(signal);
    this.state = 'committed';
    this.target.finish(this.path, Buffer.from(this.buf.subarray(0, this.len)));
  }

  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.target.live();
    this.state = 'aborted';
    this.target.finish(this.path, undefined);
  }
}
