/**
 * @layer testing
 * The BackupTarget contract as one vitest suite that every adapter runs — memory, a local
 * directory, and SSH against a real sshd (on loopback and in a network namespace):
 * `targetContract('local', async () => openLocalTarget(dir))`.
 *
 * What it pins down beyond port.ts:
 * - parent directories are never made implicitly: create, writeFileAtomic and rename into a
 *   missing directory reject with 'not-found' (call mkdirp first);
 * - `create` is exclusive: an existing path rejects with 'exists' and is left as it was;
 * - `remove` takes a file or a whole directory tree, and a missing path is not an error;
 *   the root itself and any path with '..' reject with 'config';
 * - after `commit` resolves, `abort` is a no-op (safe in a finally block); after `abort`,
 *   nothing is left under the path;
 * - an aborted signal rejects the call with the signal's reason.
 * Each test gets a fresh target from `makeTarget` (an empty root) and closes it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { TargetError, type BackupTarget, type TargetErrorCode } from './port.ts';

/** Deterministic bytes that differ at every offset and between seeds. */
export function pattern(length: number, seed = 1): Buffer {
  const b = Buffer.alloc(length);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 255;
  }
  return b;
}

export async function expectTargetError(p: Promise<unknown>, code: TargetErrorCode): Promise<TargetError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e, `expected a TargetError '${code}'`).toBeInstanceOf(TargetError);
  const te = e as TargetError;
  expect(te.code, te.message).toBe(code);
  expect(te.message).toMatch(/^\[target\] /);
  return te;
}

/** File and directory names a shell would love to misread. */
export const NASTY_NAMES = [
  'with space',
  "it's",
  'say "hi"',
  '$(touch pwned) `id` $HOME',
  '-rf',
  'a;b&c|d>e<f',
  '*?[x]',
  'tab\there',
  'new\nline',
  'back\\slash',
  'ünï©ødé',
];

export function targetContract(name: string, makeTarget: () => Promise<BackupTarget>): void {
  describe(`BackupTarget contract: ${name}`, () => {
    let open: BackupTarget[] = [];
    const fresh = async () => {
      const t = await makeTarget();
      open.push(t);
      return t;
    };
    afterEach(async () => {
      for (const t of open) await t.close();
      open = [];
    });

    it('create → append → writeAt → commit reads back byte for byte', async () => {
      const t = await fresh();
      await t.mkdirp('d/e');
      const f = await t.create('d/e/a.part');
      expect(f.path).toBe('d/e/a.part');
      const parts = [pattern(1, 1), pattern(100 * 1024, 2), pattern(1024 * 1024 + 3, 3), pattern(7, 4), pattern(3 * 1024 * 1024, 5)];
      for (const p of parts) await f.append(p);
      const expected = Buffer.concat(parts);
      expect(f.length).toBe(expected.length);
      const header = pattern(512, 9);
      await f.writeAt(0, header);
      header.copy(expected, 0);
      const tail = pattern(100, 10);
      await f.writeAt(expected.length - 100, tail);
      tail.copy(expected, expected.length - 100);
      await f.commit();
      const back = await t.readFile('d/e/a.part');
      expect(back.length).toBe(expected.length);
      expect(back.equals(expected)).toBe(true);
      expect((await t.stat('d/e/a.part'))?.size).toBe(expected.length);
      await f.abort(); // after commit: a no-op
      expect((await t.stat('d/e/a.part'))?.size).toBe(expected.length);
    });

    it('append: once it resolves the caller owns its buffer again (reusing it changes nothing written)', async () => {
      const t = await fresh();
      const f = await t.create('reused');
      // one buffer per size, refilled after every append: big (written at once), small (coalesced)
      const sizes = [4 * 1024 * 1024, 1024 * 1024, 64 * 1024, 100, 3 * 1024 * 1024 + 5, 7];
      const expected: Buffer[] = [];
      for (const [i, n] of sizes.entries()) {
        const buf = Buffer.allocUnsafe(n);
        for (let round = 0; round < 3; round++) {
          pattern(n, 20 + i * 3 + round).copy(buf);
          expected.push(Buffer.from(buf));
          await f.append(buf);
        }
        buf.fill(0xee); // what was appended must not change with it
      }
      await f.commit();
      const back = await t.readFile('reused');
      expect(back.length).toBe(expected.reduce((n, b) => n + b.length, 0));
      expect(back.equals(Buffer.concat(expected))).toBe(true);
    });

    it('readStream yields exactly the bytes of the range, in order; past the end or a missing file fails', async () => {
      const t = await fresh();
      const data = pattern(5 * 1024 * 1024 + 777, 31);
      const f = await t.create('streamed');
      await f.append(data);
      await f.commit();
      const collect = async (offset: number, length: number) => {
        const parts: Buffer[] = [];
        for await (const c of t.readStream('streamed', offset, length)) parts.push(Buffer.from(c));
        return Buffer.concat(parts);
      };
      for (const [o, n] of [[0, data.length], [1, 1], [1234567, 3 * 1024 * 1024 + 5], [data.length - 10, 10], [17, 0]]) {
        expect((await collect(o, n)).equals(data.subarray(o, o + n))).toBe(true);
      }
      await expect(collect(data.length - 10, 11)).rejects.toMatchObject({ code: 'range' });
      const missing = async () => { for await (const c of t.readStream('nope', 0, 10)) void c; };
      await expect(missing()).rejects.toMatchObject({ code: 'not-found' });
      // breaking off early is fine, and the target stays usable
      for await (const c of t.readStream('streamed', 0, data.length)) { void c; break; }
      expect((await t.read('streamed', 5, 5)).equals(data.subarray(5, 10))).toBe(true);
    });

    it('many writeAt calls, overlapping ones included: the last write wins', async () => {
      const t = await fresh();
      const f = await t.create('patched');
      const expected = pattern(200_000, 6);
      await f.append(Buffer.from(expected));
      for (let i = 0; i < 150; i++) {
        const at = (i * 7919) % (expected.length - 300);
        const p = pattern(1 + (i % 300), 100 + i);
        await f.writeAt(at, p);
        p.copy(expected, at);
      }
      await f.commit();
      expect((await t.readFile('patched')).equals(expected)).toBe(true);
    });

    it('an empty stream commits to an empty file', async () => {
      const t = await fresh();
      const f = await t.create('empty');
      await f.commit();
      expect((await t.readFile('empty')).length).toBe(0);
    });

    it('writeAt past the bytes written rejects with range', async () => {
      const t = await fresh();
      const f = await t.create('w');
      await f.append(pattern(1000));
      await expectTargetError(f.writeAt(999, Buffer.alloc(2)), 'range');
      await f.abort();
    });

    it('create is exclusive and makes no parent directories', async () => {
      const t = await fresh();
      await expectTargetError(t.create('missing/a'), 'not-found');
      await t.writeFileAtomic('x', 'keep me');
      await expectTargetError(t.create('x'), 'exists');
      expect((await t.readFile('x')).toString()).toBe('keep me');
      const f = await t.create('y');
      await expectTargetError(t.create('y'), 'exists');
      await f.abort();
    });

    it('abort leaves nothing behind', async () => {
      const t = await fresh();
      await t.mkdirp('d');
      const f = await t.create('d/gone');
      await f.append(pattern(2 * 1024 * 1024));
      await f.abort();
      await f.abort();
      expect(await t.stat('d/gone')).toBeUndefined();
      expect(await t.list('d')).toEqual([]);
      await expectTargetError(f.append(Buffer.from('x')), 'io');
    });

    it('nothing is visible under the final name before rename', async () => {
      const t = await fresh();
      await t.mkdirp('chain');
      const f = await t.create('chain/disk.qcow2.part');
      await f.append(pattern(300_000));
      expect(await t.stat('chain/disk.qcow2')).toBeUndefined();
      await f.commit();
      expect(await t.stat('chain/disk.qcow2')).toBeUndefined();
      await t.rename('chain/disk.qcow2.part', 'chain/disk.qcow2');
      expect(await t.stat('chain/disk.qcow2.part')).toBeUndefined();
      expect((await t.readFile('chain/disk.qcow2')).equals(pattern(300_000))).toBe(true);
    });

    it('rename replaces the destination, moves directories, and needs a source', async () => {
      const t = await fresh();
      await t.writeFileAtomic('m.json', 'old');
      const f = await t.create('m.json.part');
      await f.append(Buffer.from('new'));
      await f.commit();
      await t.rename('m.json.part', 'm.json');
      expect((await t.readFile('m.json')).toString()).toBe('new');
      expect((await t.list('')).map((e) => e.name)).toEqual(['m.json']);
      await expectTargetError(t.rename('nope', 'other'), 'not-found');
      await expectTargetError(t.rename('m.json', 'missing-dir/m.json'), 'not-found');
      await t.mkdirp('stage/inner');
      await t.writeFileAtomic('stage/inner/f', 'deep');
      await t.rename('stage', 'final');
      expect(await t.stat('stage')).toBeUndefined();
      expect((await t.readFile('final/inner/f')).toString()).toBe('deep');
    });

    it('writeFileAtomic writes and replaces, leaving no temporary file', async () => {
      const t = await fresh();
      await t.mkdirp('meta');
      await t.writeFileAtomic('meta/m.json', '{"a":1}');
      expect((await t.readFile('meta/m.json')).toString()).toBe('{"a":1}');
      await t.writeFileAtomic('meta/m.json', pattern(200_000, 7));
      expect((await t.readFile('meta/m.json')).equals(pattern(200_000, 7))).toBe(true);
      await t.writeFileAtomic('meta/empty', '');
      expect((await t.readFile('meta/empty')).length).toBe(0);
      expect((await t.list('meta')).map((e) => e.name).sort()).toEqual(['empty', 'm.json']);
      await expectTargetError(t.writeFileAtomic('nodir/m.json', 'x'), 'not-found');
    });

    it('list, stat and mkdirp', async () => {
      const t = await fresh();
      expect(await t.list('')).toEqual([]);
      expect(await t.list('missing')).toEqual([]);
      await t.mkdirp('a/b/c');
      await t.mkdirp('a/b/c');
      await t.writeFileAtomic('a/f1', pattern(1234));
      const entries = (await t.list('a')).sort((x, y) => x.name.localeCompare(y.name));
      expect(entries).toEqual([
        { name: 'b', isDirectory: true, size: expect.any(Number) },
        { name: 'f1', isDirectory: false, size: 1234 },
      ]);
      const s = await t.stat('a/f1');
      expect(s).toMatchObject({ size: 1234, isDirectory: false });
      expect(Math.abs(s!.mtimeMs - Date.now())).toBeLessThan(10 * 60_000);
      expect(await t.stat('a/b')).toMatchObject({ isDirectory: true });
      expect(await t.stat('a/nope')).toBeUndefined();
      expect(await t.stat('')).toMatchObject({ isDirectory: true });
      await expectTargetError(t.mkdirp('a/f1/sub'), 'not-found');
      await expectTargetError(t.mkdirp('a/f1'), 'exists');
    });

    it('what it makes is private: files 0600, directories 0700 (issue 12 item 4)', async () => {
      const t = await fresh();
      await t.mkdirp('p/q/r');
      await t.writeFileAtomic('p/meta.json', '{}');
      const f = await t.create('p/q/image');
      await f.append(pattern(1000));
      await f.writeAt(0, pattern(10, 2));
      await f.commit();
      await t.rename('p/q/image', 'p/q/r/image');
      await t.writeFileAtomic('p/meta.json', '{"again":1}');
      const modes = Object.fromEntries(await Promise.all(['p', 'p/q', 'p/q/r', 'p/meta.json', 'p/q/r/image']
        .map(async (x) => [x, ((await t.stat(x))!.mode).toString(8)])));
      expect(modes).toEqual({ p: '700', 'p/q': '700', 'p/q/r': '700', 'p/meta.json': '600', 'p/q/r/image': '600' });
    });

    it('readFile and read: ranges, ends and missing files', async () => {
      const t = await fresh();
      const data = pattern(5 * 1024 * 1024 + 17, 3);
      const f = await t.create('big');
      await f.append(data);
      await f.commit();
      expect((await t.readFile('big')).equals(data)).toBe(true);
      expect((await t.read('big', 0, 0)).length).toBe(0);
      expect((await t.read('big', 10, 100)).equals(data.subarray(10, 110))).toBe(true);
      expect((await t.read('big', 1_000_000, 3_000_000)).equals(data.subarray(1_000_000, 4_000_000))).toBe(true);
      expect((await t.read('big', data.length - 5, 5)).equals(data.subarray(-5))).toBe(true);
      await expectTargetError(t.read('big', data.length - 5, 6), 'range');
      await expectTargetError(t.read('big', -1, 2), 'range');
      await expectTargetError(t.readFile('nope'), 'not-found');
      await expectTargetError(t.read('nope', 0, 1), 'not-found');
    });

    it('remove takes files and trees, tolerates missing paths, refuses the root', async () => {
      const t = await fresh();
      await t.mkdirp('r/s');
      await t.writeFileAtomic('r/s/f', 'x');
      await t.writeFileAtomic('r/g', 'y');
      await t.remove('r/g');
      expect(await t.stat('r/g')).toBeUndefined();
      await t.remove('r');
      expect(await t.stat('r')).toBeUndefined();
      await t.remove('never-was');
      await expectTargetError(t.remove(''), 'config');
      await expectTargetError(t.remove('a/../..'), 'config');
      await expectTargetError(t.readFile('../etc/passwd'), 'config');
    });

    it('freeSpace and hostPath', async () => {
      const t = await fresh();
      expect(await t.freeSpace('')).toBeGreaterThan(0);
      await t.mkdirp('q');
      expect(await t.freeSpace('q')).toBeGreaterThan(0);
      await expectTargetError(t.freeSpace('nope'), 'not-found');
      const hp = t.hostPath('q/disk.qcow2');
      expect(hp.startsWith('/')).toBe(true);
      expect(hp.endsWith('/q/disk.qcow2')).toBe(true);
      expect(typeof t.url).toBe('string');
    });

    it('an aborted signal rejects every call with its reason and changes nothing', async () => {
      const t = await fresh();
      await t.writeFileAtomic('keep', 'k');
      const ac = new AbortController();
      const reason = new Error('stop now');
      ac.abort(reason);
      const s = ac.signal;
      const calls: [string, () => Promise<unknown>][] = [
        ['mkdirp', () => t.mkdirp('new', s)],
        ['list', () => t.list('', s)],
        ['stat', () => t.stat('keep', s)],
        ['readFile', () => t.readFile('keep', s)],
        ['read', () => t.read('keep', 0, 1, s)],
        ['writeFileAtomic', () => t.writeFileAtomic('w', 'x', s)],
        ['create', () => t.create('c', s)],
        ['rename', () => t.rename('keep', 'moved', s)],
        ['remove', () => t.remove('keep', s)],
        ['freeSpace', () => t.freeSpace('', s)],
      ];
      for (const [what, call] of calls) {
        await expect(call(), what).rejects.toBe(reason);
      }
      expect((await t.list('')).map((e) => e.name)).toEqual(['keep']);
      const f = await t.create('c');
      await f.append(pattern(1000));
      await expect(f.append(pattern(1000), s)).rejects.toBe(reason);
      await expect(f.commit(s)).rejects.toBe(reason);
      await f.abort();
      expect((await t.list('')).map((e) => e.name)).toEqual(['keep']);
    });

    it('a signal aborted during a long append rejects it promptly', async () => {
      const t = await fresh();
      const f = await t.create('long');
      const ac = new AbortController();
      const reason = new Error('cancelled');
      const big = pattern(8 * 1024 * 1024, 2);
      const writes = (async () => {
        for (let i = 0; i < 64; i++) {
          await f.append(big, ac.signal);
          await new Promise((r) => setImmediate(r)); // a producer between chunks
        }
      })();
      setTimeout(() => ac.abort(reason), 5);
      await expect(writes).rejects.toBe(reason);
      await f.abort();
      expect(await t.stat('long')).toBeUndefined();
    });

    it('names with spaces, quotes and shell metacharacters', async () => {
      const t = await fresh();
      for (const [i, n] of NASTY_NAMES.entries()) {
        await t.mkdirp(n);
        const f = await t.create(`${n}/${n}.part`);
        await f.append(pattern(1000, i));
        await f.commit();
        await t.rename(`${n}/${n}.part`, `${n}/${n}`);
        await t.writeFileAtomic(`${n}/${n}.json`, n);
        expect((await t.read(`${n}/${n}`, 10, 10)).equals(pattern(1000, i).subarray(10, 20))).toBe(true);
        expect((await t.readFile(`${n}/${n}.json`)).toString()).toBe(n);
        expect((await t.list(n)).map((e) => e.name).sort()).toEqual([n, `${n}.json`].sort());
        expect(await t.stat(`${n}/${n}`)).toMatchObject({ size: 1000 });
      }
      expect((await t.list('')).map((e) => e.name).sort()).toEqual([...NASTY_NAMES].sort());
      for (const n of NASTY_NAMES) await t.remove(n);
      expect(await t.list('')).toEqual([]);
    });
  });
}
