import { describe, expect, it } from 'vitest';
import type { SFTPWrapper } from 'ssh2';
import { ReadHandles } from './ssh-read-handles.ts';

/** Just enough of an SFTP session: counts opens and closes; sizes by path. */
function fakeSftp(sizes: Record<string, number>) {
  const log: string[] = [];
  let n = 0;
  const s = {
    open: (p: string, _mode: string, cb: (e: Error | undefined, h: Buffer) => void) => {
      if (!(p in sizes)) return setImmediate(() => cb(Object.assign(new Error('No such file'), { code: 2 }), Buffer.alloc(0)));
      const h = Buffer.from(`${p}#${++n}`);
      log.push(`open ${h}`);
      // like ssh2: the handle is a view into a packet buffer that the next packets overwrite
      setImmediate(() => { cb(undefined, h); setImmediate(() => h.fill(0)); });
    },
    fstat: (h: Buffer, cb: (e: Error | undefined, st: { size: number }) => void) => {
      const size = sizes[h.toString().split('#')[0]];
      setImmediate(() => cb(undefined, { size }));
    },
    close: (h: Buffer, cb: () => void) => { log.push(`close ${h}`); setImmediate(cb); },
  };
  return { s: s as unknown as SFTPWrapper, log };
}

describe('ReadHandles', () => {
  it('keeps one handle per file across reads, closes the least recently used beyond max', async () => {
    const { s, log } = fakeSftp({ a: 10, b: 20, c: 30 });
    const rh = new ReadHandles(2);
    expect(await rh.use(s, 'a', async (_h, size) => size)).toBe(10);
    expect(await rh.use(s, 'a', async (h) => h.toString())).toBe('a#1');
    await rh.use(s, 'b', async () => 0);
    await rh.use(s, 'a', async () => 0); // a is now the most recent
    await rh.use(s, 'c', async () => 0); // evicts b
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['open a#1', 'open b#2', 'open c#3', 'close b#2']);
  });

  it('invalidate closes handles once no read uses them, and the next read reopens', async () => {
    const { s, log } = fakeSftp({ a: 10 });
    const rh = new ReadHandles();
    let release!: () => void;
    const busy = rh.use(s, 'a', () => new Promise<void>((r) => { release = r; }));
    await new Promise((r) => setTimeout(r, 5));
    rh.invalidate();
    await new Promise((r) => setImmediate(r));
    expect(log).toEqual(['open a#1']); // still in use
    release();
    await busy;
    expect(log).toEqual(['open a#1', 'close a#1']);
    expect(await rh.use(s, 'a', async (h) => h.toString())).toBe('a#2');
  });

  it('a failed open is not cached', async () => {
    const { s, log } = fakeSftp({});
    const rh = new ReadHandles();
    await expect(rh.use(s, 'x', async () => 0)).rejects.toMatchObject({ code: 2 });
    await expect(rh.use(s, 'x', async () => 0)).rejects.toMatchObject({ code: 2 });
    expect(log).toEqual([]);
  });
});
