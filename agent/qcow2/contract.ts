/**
 * @layer testing
 * The contract suites of this folder's ports: every ImageSink and every RandomAccess adapter
 * (memory, file, a target's StreamFile, SFTP) runs the same tests, so the writer and the
 * reader can rely on the rules: appends land at the end in call order, writeAt patches only
 * written bytes, reads return exactly what was asked or reject past the end.
 */
import { describe, expect, it } from 'vitest';
import type { ImageSink, RandomAccess } from './port.ts';

export interface SinkUnderTest {
  sink: ImageSink;
  /** the bytes that reached the sink's storage (after closing it, for a file) */
  contents(): Promise<Buffer>;
}

export function imageSinkContract(name: string, make: () => Promise<SinkUnderTest>): void {
  describe(`ImageSink contract: ${name}`, () => {
    it('starts empty and appends in call order, also when calls do not wait for each other', async () => {
      const t = await make();
      expect(t.sink.length).toBe(0);
      const parts = Array.from({ length: 20 }, (_, i) => Buffer.alloc(1000 + i * 7, i + 1));
      await Promise.all(parts.map((p) => t.sink.append(p)));
      expect(t.sink.length).toBe(parts.reduce((n, p) => n + p.length, 0));
      expect((await t.contents()).equals(Buffer.concat(parts))).toBe(true);
    });

    it('writeAt patches bytes already appended and rejects past the end', async () => {
      const t = await make();
      await t.sink.append(Buffer.alloc(4096, 1));
      await t.sink.append(Buffer.alloc(100, 3));
      await expect(t.sink.writeAt(4000, Buffer.alloc(200, 2))).rejects.toThrow(/outside|past|range/i);
      await t.sink.writeAt(10, Buffer.from('qcow2'));
      await t.sink.writeAt(4090, Buffer.from('across the seam')); // spans both appends
      const expected = Buffer.concat([Buffer.alloc(4096, 1), Buffer.alloc(100, 3)]);
      expected.write('qcow2', 10);
      expected.write('across the seam', 4090);
      expect(t.sink.length).toBe(4196);
      expect((await t.contents()).equals(expected)).toBe(true);
    });

    it('keeps its own copy: a caller may reuse a buffer once append resolves', async () => {
      const t = await make();
      const b = Buffer.alloc(512, 7);
      await t.sink.append(b);
      b.fill(9);
      await t.sink.append(b);
      expect((await t.contents()).equals(Buffer.concat([Buffer.alloc(512, 7), Buffer.alloc(512, 9)]))).toBe(true);
    });

    it('rejects with the reason when the signal is already aborted', async () => {
      const t = await make();
      const ac = new AbortController();
      ac.abort(new Error('stop now'));
      await expect(t.sink.append(Buffer.alloc(10), ac.signal)).rejects.toThrow('stop now');
    });
  });
}

export function randomAccessContract(name: string, make: (data: Buffer) => Promise<RandomAccess>): void {
  describe(`RandomAccess contract: ${name}`, () => {
    const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 31 + (i >> 8)) & 0xff));

    it('knows its size and reads exactly the bytes asked for, many at once', async () => {
      const ra = await make(data);
      expect(ra.size).toBe(data.length);
      const ranges = [[0, 1], [0, 65536], [123_457, 100_000], [data.length - 5, 5], [data.length, 0]];
      const got = await Promise.all(ranges.map(([o, n]) => ra.read(o, n)));
      ranges.forEach(([o, n], i) => expect(got[i].equals(data.subarray(o, o + n))).toBe(true));
    });

    it('rejects reads past the end and nonsense ranges', async () => {
      const ra = await make(data);
      await expect(ra.read(data.length - 4, 5)).rejects.toThrow(/past the end/);
      await expect(ra.read(-1, 5)).rejects.toThrow(/past the end/);
    });

    it('rejects with the reason when the signal is already aborted', async () => {
      const ra = await make(data);
      const ac = new AbortController();
      ac.abort(new Error('stop reading'));
      await expect(ra.read(0, 10, ac.signal)).rejects.toThrow('stop reading');
    });
  });
}
