/**
 * @layer testing
 * The LocalFiles contract (port.ts) as one vitest suite every adapter runs:
 * `localFilesContract('node', async () => ({ files: new NodeLocalFiles(), dir }))`.
 */
import { describe, expect, it } from 'vitest';
import { Qcow2Writer } from '../qcow2/writer.ts';
import type { LocalFiles } from './port.ts';

async function all(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of it) parts.push(c);
  return Buffer.concat(parts);
}

export function localFilesContract(name: string, setup: () => Promise<{ files: LocalFiles; dir: string }>): void {
  describe(`LocalFiles contract: ${name}`, () => {
    it('a created file appears under its name only on commit, with the owner and mode asked for; abort leaves nothing', async () => {
      const { files, dir } = await setup();
      const p = `${dir}/a.raw`;
      const f = await files.create(p, { mode: 0o640 });
      await f.setSize(3 << 20);
      await f.writeRaw(1 << 20, Buffer.alloc(4096, 7));
      expect(await files.stat(p)).toBeUndefined();
      await f.commit();
      const st = await files.stat(p);
      expect(st).toMatchObject({ kind: 'file', size: 3 << 20, mode: 0o640 });
      const bytes = await all(files.bytes(p));
      expect(bytes.length).toBe(3 << 20);
      expect(bytes[(1 << 20) + 10]).toBe(7);
      expect(bytes[0]).toBe(0);
      expect(await files.format(p)).toBe('raw');

      const g = await files.create(`${dir}/b.raw`);
      await g.setSize(4096);
      await g.abort();
      expect(await files.stat(`${dir}/b.raw`)).toBeUndefined();
      expect((await files.list(dir)).sort()).toEqual(['a.raw']);
    });

    it('content(): a qcow2 image reads as its guest view, a raw one as its bytes', async () => {
      const { files, dir } = await setup();
      const p = `${dir}/img.qcow2`;
      const guest = Buffer.alloc(2 << 20);
      for (let i = 0; i < guest.length; i += 4096) guest[i] = (i >> 12) & 0xff;
      guest.fill(0, 1 << 20, (1 << 20) + 65536);
      const f = await files.create(p);
      const w = new Qcow2Writer(f, { virtualSize: guest.length, detectZeroes: true });
      await w.writeData(0, guest.subarray(0, 1 << 20));
      await w.writeData(1 << 20, guest.subarray(1 << 20));
      await w.finish();
      await f.commit();
      expect(await files.format(p)).toBe('qcow2');
      expect((await all(files.content(p, 'qcow2'))).equals(guest)).toBe(true);
      expect((await all(files.content(p, 'raw'))).equals(await all(files.bytes(p)))).toBe(true);
    });

    it('rename keeps the file (same inode), never replaces, and remove of a missing file resolves', async () => {
      const { files, dir } = await setup();
      for (const n of ['x', 'y']) {
        const f = await files.create(`${dir}/${n}`);
        await f.setSize(512);
        await f.writeRaw(0, Buffer.from(n));
        await f.commit();
      }
      const x = await files.stat(`${dir}/x`);
      await files.rename(`${dir}/x`, `${dir}/z`);
      expect(await files.stat(`${dir}/x`)).toBeUndefined();
      const z = await files.stat(`${dir}/z`);
      expect([z?.dev, z?.ino]).toEqual([x?.dev, x?.ino]);
      await expect(files.rename(`${dir}/z`, `${dir}/y`)).rejects.toThrow();
      expect((await all(files.bytes(`${dir}/y`))).subarray(0, 1).toString()).toBe('y');
      expect((await all(files.bytes(`${dir}/z`))).subarray(0, 1).toString()).toBe('x');
      await files.remove(`${dir}/nothing`);
      await files.remove(`${dir}/z`);
      await files.syncDir(dir);
      expect((await files.list(dir)).sort()).toEqual(['y']);
    });
  });
}
