/**
 * @layer adapter
 * A RestoreFile on the local file system: written as `<path>.sendense-partial`, fsync'd and
 * renamed over `path` on commit; removed on abort. Refuses to replace an existing file unless
 * `overwrite` is set, so a restore never clobbers something by accident.
 */
import { open, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { RestoreFile } from './port.ts';

export class LocalRestoreFile implements RestoreFile {
  private end = 0;
  private done = false;
  private constructor(readonly path: string, private readonly partial: string, private readonly fh: FileHandle) {}

  /** `uid`/`gid`/`mode`: the file's owner and permissions (default: ours, 0600) */
  static async create(file: string, opts: { overwrite?: boolean; uid?: number; gid?: number; mode?: number } = {}): Promise<LocalRestoreFile> {
    const abs = path.resolve(file);
    if (!opts.overwrite && (await stat(abs).catch(() => undefined))) {
      throw new Error(`[restore] ${abs} exists: choose another --to path or remove it first`);
    }
    const partial = `${abs}.sendense-partial`;
    let fh: FileHandle | undefined;
    try {
      fh = await open(partial, 'w', 0o600);
      if (opts.uid !== undefined || opts.gid !== undefined) await fh.chown(opts.uid ?? -1, opts.gid ?? -1);
      if (opts.mode !== undefined) await fh.chmod(opts.mode);
      return new LocalRestoreFile(abs, partial, fh);
    } catch (e) {
      if (fh) {
        await fh.close().catch(() => {});
        await rm(partial, { force: true });
      }
      throw new Error(`[restore] cannot create ${partial}: ${(e as Error).message}`, { cause: e });
    }
  }

  get length(): number { return this.end; }

  async append(chunk: Buffer): Promise<void> {
    const at = this.end;
    this.end += chunk.length;
    await this.writeFully(chunk, at);
  }

  async writeAt(offset: number, chunk: Buffer): Promise<void> {
    await this.fh.sync();
    await this.writeFully(chunk, offset);
  }

  async writeRaw(offset: number, data: Buffer): Promise<void> {
    await this.writeFully(data, offset);
  }

  async setSize(size: number): Promise<void> {
    await this.fh.truncate(size);
    this.end = size;
  }

  private async writeFully(buf: Buffer, at: number): Promise<void> {
    let done = 0;
    while (done < buf.length) {
      const { bytesWritten } = await this.fh.write(buf, done, buf.length - done, at + done);
      done += bytesWritten;
    }
  }

  async commit(): Promise<void> {
    await this.fh.sync();
    await this.fh.close();
    await rename(this.partial, this.path);
    const dir = await open(path.dirname(this.path), 'r');
    await dir.sync().finally(() => dir.close());
    this.done = true;
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.fh.close().catch(() => {});
    await rm(this.partial, { force: true });
  }
}
