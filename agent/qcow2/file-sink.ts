/**
 * @layer adapter
 * FileImageSink: an ImageSink on a local file. Appends are positioned writes at the current end
 * (pwrite), so calls that do not wait for each other still land in call order; writeAt first
 * fsyncs, so the qcow2 header can never reach the disk before the data it describes; close()
 * fsyncs and closes.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { ImageSink } from './port.ts';
import { Qcow2Error } from './errors.ts';

export class FileImageSink implements ImageSink {
  private end = 0;
  private closed = false;

  private constructor(readonly path: string, private readonly fh: FileHandle) {}

  /** creates the file; it must not exist unless `overwrite` */
  static async create(path: string, opts: { overwrite?: boolean } = {}): Promise<FileImageSink> {
    try {
      return new FileImageSink(path, await open(path, opts.overwrite ? 'w' : 'wx', 0o644));
    } catch (e) {
      throw ioError(path, 'create', e);
    }
  }

  get length(): number {
    return this.end;
  }

  async append(chunk: Buffer, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const at = this.end;
    this.end += chunk.length;
    await this.writeFully(chunk, at, signal);
  }

  async writeAt(offset: number, chunk: Buffer, signal?: AbortSignal): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + chunk.length > this.end) {
      throw new Qcow2Error('range', `file sink ${this.path}: writeAt ${offset}+${chunk.length} outside the ${this.end} bytes written`);
    }
    signal?.throwIfAborted();
    await this.sync();
    await this.writeFully(chunk, offset, signal);
  }

  /** flushes everything written to stable storage */
  async sync(): Promise<void> {
    try {
      await this.fh.sync();
    } catch (e) {
      throw ioError(this.path, 'fsync', e);
    }
  }

  /** fsyncs and closes; idempotent */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.fh.sync();
    } catch (e) {
      await this.fh.close().catch(() => {});
      throw ioError(this.path, 'fsync', e);
    }
    await this.fh.close();
  }

  private async writeFully(chunk: Buffer, position: number, signal?: AbortSignal): Promise<void> {
    let done = 0;
    while (done < chunk.length) {
      signal?.throwIfAborted();
      try {
        const { bytesWritten } = await this.fh.write(chunk, done, chunk.length - done, position + done);
        done += bytesWritten;
      } catch (e) {
        throw ioError(this.path, 'write', e);
      }
    }
  }
}

function ioError(path: string, what: string, cause: unknown): Qcow2Error {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new Qcow2Error('io', `file ${path}: ${what} failed${code ? ` (${code})` : ''}`, { cause });
}
