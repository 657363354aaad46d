/**
 * @layer adapter
 * FileRandomAccess: the RandomAccess port on a local file (pread), for the qcow2 reader and
 * checker. `size` is the file's size when opened; reads past it reject with code 'range'.
 */
import { open, type FileHandle } from 'node:fs/promises';
import type { RandomAccess } from './port.ts';
import { Qcow2Error } from './errors.ts';

export class FileRandomAccess implements RandomAccess {
  private constructor(readonly path: string, private readonly fh: FileHandle, readonly size: number) {}

  static async open(path: string): Promise<FileRandomAccess> {
    let fh: FileHandle | undefined;
    try {
      fh = await open(path, 'r');
      const { size } = await fh.stat();
      return new FileRandomAccess(path, fh, size);
    } catch (e) {
      await fh?.close().catch(() => {});
      const code = (e as NodeJS.ErrnoException).code;
      throw new Qcow2Error('io', `file ${path}: open failed${code ? ` (${code})` : ''}`, { cause: e });
    }
  }

  async read(offset: number, length: number, signal?: AbortSignal): Promise<Buffer> {
    signal?.throwIfAborted();
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new Qcow2Error('range', `file ${this.path}: read ${offset}+${length} past the end (${this.size} bytes)`);
    }
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      let n: number;
      try {
        ({ bytesRead: n } = await this.fh.read(buf, done, length - done, offset + done));
      } catch (e) {
        throw new Qcow2Error('io', `file ${this.path}: read failed`, { cause: e });
      }
      if (n === 0) throw new Qcow2Error('range', `file ${this.path}: ended at ${offset + done} while reading ${offset}+${length} (truncated since opened?)`);
      done += n;
    }
    return buf;
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => {});
  }
}
