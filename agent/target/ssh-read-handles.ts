/**
 * @layer adapter
 * SFTP read handles kept open for ranged reads of the same file — a qcow2 reader asks for
 * thousands of ranges of one image: one round trip per read instead of four (open, fstat,
 * read, close). At most `max` files stay open (least recently used closed first). Any change
 * made through the target (create, commit, abort, rename, remove, writeFileAtomic) drops them
 * all, so a read never sees the old inode or size of a replaced file. Changes made behind the
 * target's back are not noticed: a repository's named files never change once written.
 */
import type { SFTPWrapper, Stats } from 'ssh2';

interface Entry {
  s: SFTPWrapper;
  handle: Buffer;
  size: number;
  users: number;
  stale: boolean;
}

function closeIfUnused(e: Entry): void {
  if (e.stale && e.users === 0) e.s.close(e.handle, () => {});
}

export class ReadHandles {
  private readonly open = new Map<string, Promise<Entry>>();

  constructor(private readonly max = 8) {}

  /** Runs `fn` with an open handle on `abs` and the file's size. */
  async use<T>(s: SFTPWrapper, abs: string, fn: (handle: Buffer, size: number) => Promise<T>): Promise<T> {
    let p = this.open.get(abs);
    if (p) {
      this.open.delete(abs); // most recently used goes last
    } else {
      p = new Promise<Entry>((resolve, reject) => {
        s.open(abs, 'r', (err, view) => {
          if (err) return reject(err);
          // ssh2 hands out the handle as a view into the packet it arrived in, which later
          // packets may overwrite: a handle kept for later reads must be a copy
          const handle = Buffer.from(view);
          s.fstat(handle, (err2, st: Stats) => {
            if (err2) { s.close(handle, () => {}); return reject(err2); }
            resolve({ s, handle, size: st.size, users: 0, stale: false });
          });
        });
      });
      const mine = p;
      p.catch(() => { if (this.open.get(abs) === mine) this.open.delete(abs); });
    }
    this.open.set(abs, p);
    while (this.open.size > this.max) {
      const [oldest, q] = this.open.entries().next().value as [string, Promise<Entry>];
      this.open.delete(oldest);
      q.then((e) => { e.stale = true; closeIfUnused(e); }, () => {});
    }
    const e = await p;
    e.users++;
    try {
      return await fn(e.handle, e.size);
    } finally {
      e.users--;
      closeIfUnused(e);
    }
  }

  /** Forgets every handle (closing each once no read uses it). */
  invalidate(): void {
    for (const q of this.open.values()) q.then((e) => { e.stale = true; closeIfUnused(e); }, () => {});
    this.open.clear();
  }
}
