/**
 * @layer adapter
 * LocalFiles (port.ts) on the agent host's file system: node:fs for files and directories,
 * `qemu-img info` for an image's format, our qcow2 reader for a qcow2 image's guest view.
 */
import { createReadStream } from 'node:fs';
import { lstat, open, readdir, rename, rm, link, unlink } from 'node:fs/promises';
import { imageInfo } from '../hypervisor/qemu-img.ts';
import { FileRandomAccess } from '../qcow2/file-access.ts';
import { openChain } from '../qcow2/reader.ts';
import { LocalRestoreFile } from './local-file.ts';
import type { LocalFileInfo, LocalFiles } from './port.ts';

const CHUNK = 4 << 20;

export class NodeLocalFiles implements LocalFiles {
  async stat(p: string): Promise<LocalFileInfo | undefined> {
    const st = await lstat(p).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (!st) return undefined;
    const kind = st.isFile() ? 'file' : st.isBlockDevice() ? 'block' : st.isDirectory() ? 'directory' : 'other';
    return { kind, size: st.size, dev: st.dev, ino: st.ino, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 };
  }

  async format(p: string, signal?: AbortSignal): Promise<string> {
    return (await imageInfo(p, undefined, signal)).format;
  }

  create(p: string, opts: { uid?: number; gid?: number; mode?: number } = {}): Promise<LocalRestoreFile> {
    return LocalRestoreFile.create(p, opts);
  }

  async *bytes(p: string, signal?: AbortSignal): AsyncIterable<Buffer> {
    yield* createReadStream(p, { highWaterMark: CHUNK, signal }) as AsyncIterable<Buffer>;
  }

  async *content(p: string, format: 'qcow2' | 'raw', signal?: AbortSignal): AsyncIterable<Buffer> {
    if (format === 'raw') {
      yield* this.bytes(p, signal);
      return;
    }
    const ra = await FileRandomAccess.open(p);
    try {
      const chain = await openChain([ra], { signal });
      for (let off = 0; off < chain.size; off += CHUNK) yield await chain.read(off, Math.min(CHUNK, chain.size - off), signal);
    } finally {
      await ra.close();
    }
  }

  /** link + unlink: atomic, and unlike rename(2) it never replaces an existing `to` */
  async rename(from: string, to: string): Promise<void> {
    try {
      await link(from, to);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EPERM' && (e as NodeJS.ErrnoException).code !== 'ENOTSUP') throw e;
      // a file system without hard links: check, then rename (a small window, documented)
      if (await this.stat(to)) throw Object.assign(new Error(`[restore] ${to} exists`), { code: 'EEXIST' });
      await rename(from, to);
      return;
    }
    await unlink(from);
  }

  async remove(p: string): Promise<void> {
    await rm(p, { force: true });
  }

  async list(dir: string): Promise<string[]> {
    return readdir(dir);
  }

  async syncDir(dir: string): Promise<void> {
    const fh = await open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}
