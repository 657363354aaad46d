/**
 * @layer port
 * MemoryLocalFiles: the LocalFiles port in memory (tests, use-case development). It keeps the
 * port's rules — a created file appears under its name only on commit, rename is atomic and never
 * replaces, a rename keeps the file's identity (inode) — and can be told to fail a step
 * (`failNext`) to test rollbacks.
 */
import { openChain } from '../qcow2/reader.ts';
import { MemoryImageSink, MemoryRandomAccess } from '../qcow2/port.ts';
import type { LocalFileInfo, LocalFiles, RestoreFile } from './port.ts';

interface Entry { data: Buffer; info: LocalFileInfo }

const CHUNK = 1 << 20;
const QCOW2_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);

class MemoryRestoreFile extends MemoryImageSink implements RestoreFile {
  private raw: Buffer | undefined;
  private done = false;
  constructor(private readonly onCommit: (data: Buffer) => void) {
    super();
  }

  async writeRaw(offset: number, data: Buffer): Promise<void> {
    this.raw ??= Buffer.alloc(0);
    if (offset + data.length > this.raw.length) this.raw = Buffer.concat([this.raw, Buffer.alloc(offset + data.length - this.raw.length)]);
    data.copy(this.raw, offset);
  }

  async setSize(size: number): Promise<void> {
    const cur = this.raw ?? Buffer.alloc(0);
    this.raw = size <= cur.length ? cur.subarray(0, size) : Buffer.concat([cur, Buffer.alloc(size - cur.length)]);
  }

  async commit(): Promise<void> {
    if (this.done) throw new Error('[restore] [memory] file already committed or aborted');
    this.done = true;
    this.onCommit(Buffer.from(this.raw ?? this.toBuffer()));
  }

  async abort(): Promise<void> {
    this.done = true;
  }
}

export class MemoryLocalFiles implements LocalFiles {
  readonly files = new Map<string, Entry>();
  private nextIno = 1;
  private failing: { op: 'rename' | 'remove' | 'syncDir'; times: number } | undefined;
  syncs = 0;

  /** Adds (or replaces) a file with this content. */
  put(path: string, data: Buffer, info: Partial<LocalFileInfo> = {}): void {
    this.files.set(path, { data: Buffer.from(data), info: { kind: 'file', size: data.length, dev: 1, ino: this.nextIno++, uid: 0, gid: 0, mode: 0o644, ...info } });
  }

  get(path: string): Buffer | undefined {
    return this.files.get(path)?.data;
  }

  /** The next call of `op` rejects (once, or `times` times). */
  failNext(op: 'rename' | 'remove' | 'syncDir', times = 1): void {
    this.failing = { op, times };
  }

  private maybeFail(op: 'rename' | 'remove' | 'syncDir'): void {
    if (this.failing?.op !== op) return;
    if (--this.failing.times <= 0) this.failing = undefined;
    throw new Error(`[restore] [memory] ${op} failed (injected)`);
  }

  async stat(path: string): Promise<LocalFileInfo | undefined> {
    const e = this.files.get(path);
    return e ? { ...e.info, size: e.data.length } : undefined;
  }

  async format(path: string): Promise<string> {
    const e = this.files.get(path);
    if (!e) throw Object.assign(new Error(`[restore] [memory] no image ${path}`), { code: 'not-found' });
    return e.data.subarray(0, 4).equals(QCOW2_MAGIC) ? 'qcow2' : 'raw';
  }

  async create(path: string, opts: { uid?: number; gid?: number; mode?: number } = {}): Promise<RestoreFile> {
    if (this.files.has(path)) throw new Error(`[restore] ${path} exists`);
    return new MemoryRestoreFile((data) => this.put(path, data, { uid: opts.uid ?? 0, gid: opts.gid ?? 0, mode: opts.mode ?? 0o600 }));
  }

  async *bytes(path: string): AsyncIterable<Buffer> {
    const e = this.files.get(path);
    if (!e) throw new Error(`[restore] [memory] no file ${path}`);
    for (let off = 0; off < e.data.length; off += CHUNK) yield e.data.subarray(off, off + CHUNK);
  }

  async *content(path: string, format: 'qcow2' | 'raw', signal?: AbortSignal): AsyncIterable<Buffer> {
    if (format === 'raw') {
      yield* this.bytes(path);
      return;
    }
    const e = this.files.get(path);
    if (!e) throw new Error(`[restore] [memory] no file ${path}`);
    const chain = await openChain([new MemoryRandomAccess(e.data)], { signal });
    for (let off = 0; off < chain.size; off += CHUNK) yield await chain.read(off, Math.min(CHUNK, chain.size - off), signal);
  }

  async rename(from: string, to: string): Promise<void> {
    this.maybeFail('rename');
    const e = this.files.get(from);
    if (!e) throw Object.assign(new Error(`[restore] [memory] no file ${from}`), { code: 'ENOENT' });
    if (this.files.has(to)) throw Object.assign(new Error(`[restore] [memory] ${to} exists`), { code: 'EEXIST' });
    this.files.delete(from);
    this.files.set(to, e);
  }

  async remove(path: string): Promise<void> {
    this.maybeFail('remove');
    this.files.delete(path);
  }

  async list(dir: string): Promise<string[]> {
    const prefix = dir.endsWith('/') ? dir : `${dir}/`;
    return [...this.files.keys()].filter((p) => p.startsWith(prefix) && !p.slice(prefix.length).includes('/')).map((p) => p.slice(prefix.length));
  }

  async syncDir(): Promise<void> {
    this.maybeFail('syncDir');
    this.syncs += 1;
  }
}
