/**
 * @layer adapter
 * A RestoreFile on the local file system: written as `<path>.sendense-partial-<random>`, opened
 * O_CREAT|O_EXCL|O_NOFOLLOW (a name someone planted — a symlink to /etc/shadow, a file — is
 * never written through), fsync'd and put under `path` on commit; removed on abort. Without
 * `overwrite` the commit is link(2) + unlink: an existing `path` (a symlink too) is never
 * replaced, not even one that appeared while the restore ran. With it, rename(2) replaces the
 * name itself (a symlink there is replaced, not followed).
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { link, lstat, open, rename, rm, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { RestoreFile } from './port.ts';

export class LocalRestoreFile implements RestoreFile {
  private end = 0;
  private done = false;
  private constructor(readonly path: string, private readonly partial: string, private readonly fh: FileHandle, private readonly overwrite: boolean) {}

  /** `uid`/`gid`/`mode`: the file's owner and permissions (default: ours, 0600) */
  static async create(file: string, opts: { overwrite?: boolean; uid?: number; gid?: number; mode?: number } = {}): Promise<LocalRestoreFile> {
    const abs = path.resolve(file);
    if (!opts.overwrite && (await lstat(abs).catch(() => undefined))) {
      throw new Error(`[restore] ${abs} exists: choose another --to path or remove it first`);
    }
    const partial = `${abs}.sendense-partial-${randomBytes(4).toString('hex')}`;
    let fh: FileHandle | undefined;
    try {
      fh = await open(partial, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      if (opts.uid !== undefined || opts.gid !== undefined) await fh.chown(opts.uid ?? -1, opts.gid ?? -1);
      if (opts.mode !== undefined) await fh.chmod(opts.mode);
      return new LocalRestoreFile(abs, partial, fh, opts.overwrite ?? false);
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
    if (this.overwrite) {
      await rename(this.partial, this.path);
    } else {
      try {
        await link(this.partial, this.path);
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') {
          await rm(this.partial, { force: true });
          this.done = true;
          throw new Error(`[restore] ${this.path} appeared while the restore ran: it was left as it is; choose another --to path or remove it first`, { cause: e });
        }
        if (code !== 'EPERM' && code !== 'ENOTSUP') throw e;
        // a file system without hard links: check, then rename (a small window)
        if (await lstat(this.path).catch(() => undefined)) throw new Error(`[restore] ${this.path} exists`, { cause: e });
        await rename(this.partial, this.path);
      }
      await unlink(this.partial).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
    }
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
