/**
 * @layer adapter
 * UploadStore in a directory: `<dir>/<volume id>.<format>` (lowercase format), written to a
 * temporary name and renamed when complete, so a reader never sees half an image.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { StoredImage, UploadStore } from './upload-store.ts';

export function createDirUploadStore(dir: string): UploadStore {
  const fileOf = (volumeId: string, format: string) => path.join(dir, `${volumeId}.${format.toLowerCase()}`);
  const known = new Map<string, string>();
  return {
    async put(volumeId, format, data, signal): Promise<StoredImage> {
      await mkdir(dir, { recursive: true });
      const file = fileOf(volumeId, format);
      const tmp = `${file}.part`;
      let bytes = 0;
      const src = Readable.fromWeb(data as import('node:stream/web').ReadableStream<Uint8Array>);
      src.on('data', (c: Buffer) => { bytes += c.length; });
      try {
        await pipeline(src, createWriteStream(tmp), { signal });
        await rename(tmp, file);
      } catch (e) {
        await rm(tmp, { force: true });
        throw e;
      }
      known.set(volumeId, file);
      return { bytes, location: file };
    },
    async get(volumeId) {
      const file = known.get(volumeId);
      return file ? new Uint8Array(await readFile(file)) : undefined;
    },
  };
}
