/**
 * @layer testing
 * The BlockSource contract suite (vitest): every adapter runs it, the real ones included
 * (memory, qemu-nbd over unix and TCP, libvirt's pull-mode backup export). `makeSource` gives a
 * fresh source plus the content it must read as (and, optionally, the extents each context must
 * report); the suite checks what port.ts promises:
 * reads of any alignment and size equal the content (readInto too, when offered); many reads
 * in flight; range errors;
 * blockStatus answers start where asked, are contiguous and cover 1..length bytes, and walked
 * to the end match the expected extents (and base:allocation "zero" ranges read as zeroes);
 * unknown contexts are 'unsupported'; aborts reject with the signal's reason and leave the source
 * usable; close() is idempotent, lets reads in flight settle, and later calls reject 'closed'.
 */
import { setMaxListeners } from 'node:events';
import { describe, expect, it } from 'vitest';
import { prng } from '../../test/lab/random.ts';
import { checkAnswer, collectExtents, mergeExtents } from './extents.ts';
import { BASE_ALLOCATION, BlockSourceError, STATE_ZERO, type BlockSource, type BlockSourceErrorCode, type Extent } from './port.ts';

export interface BlockSourceFixture {
  source: BlockSource;
  /** the bytes the source must read as (at least 1 MiB for the suite to mean much) */
  content: Buffer;
  /** contexts the source must list */
  contexts?: string[];
  /** per context, the extents a full walk must report (compared after merging equal neighbours) */
  extents?: Record<string, Extent[]>;
  cleanup?: () => Promise<void>;
}

async function expectCode(p: Promise<unknown>, code: BlockSourceErrorCode): Promise<void> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e, `expected a BlockSourceError '${code}'`).toBeInstanceOf(BlockSourceError);
  expect((e as BlockSourceError).code, (e as Error).message).toBe(code);
}

function sameBytes(got: Buffer, content: Buffer, offset: number, length: number): void {
  expect(got.length, `length of read ${length}@${offset}`).toBe(length);
  if (!got.equals(content.subarray(offset, offset + length))) {
    let i = 0;
    while (got[i] === content[offset + i]) i++;
    expect.fail(`read ${length}@${offset} differs first at byte ${offset + i}: got ${got[i]}, want ${content[offset + i]}`);
  }
}

export function blockSourceContract(name: string, makeSource: () => Promise<BlockSourceFixture>): void {
  const withSource = (fn: (f: BlockSourceFixture) => Promise<void>) => async () => {
    const f = await makeSource();
    try {
      await fn(f);
    } finally {
      await f.source.close();
      await f.cleanup?.();
    }
  };

  describe(`BlockSource contract: ${name}`, () => {
    it('reports its size and unique contexts', withSource(async ({ source, content, contexts }) => {
      expect(source.size).toBe(content.length);
      expect(new Set(source.contexts).size).toBe(source.contexts.length);
      expect(source.contexts).toEqual(expect.arrayContaining(contexts ?? []));
      expect(typeof source.name).toBe('string');
    }));

    it('reads of any alignment and size equal the content', withSource(async ({ source, content }) => {
      const S = source.size;
      const rnd = prng(1);
      const cases: [number, number][] = [
        [0, 1], [1, 1], [0, 512], [511, 2], [4095, 4097], [65535, 65538], [S - 1, 1], [S - 4097, 4097],
        [12345, Math.min(S - 12345, (1 << 20) + 3)], [0, Math.min(S, 32 << 20)],
      ];
      for (let i = 0; i < 16; i++) {
        const off = Math.floor(rnd() * S);
        cases.push([off, Math.max(1, Math.floor(rnd() * Math.min(S - off, 3 << 20)))]);
      }
      for (const [off, len] of cases) sameBytes(await source.read(off, len), content, off, len);
      expect((await source.read(0, 0)).length).toBe(0);
      expect((await source.read(S, 0)).length).toBe(0);
    }));

    it('readInto (when offered) fills a reused buffer like read', withSource(async ({ source, content }) => {
      if (!source.readInto) return;
      const S = source.size;
      const buf = Buffer.alloc(Math.min(S, 3 << 20) + 1);
      for (const [off, len] of [[0, buf.length], [S - buf.length, buf.length], [4097, 1 << 20], [1, 1]] as const) {
        const view = buf.subarray(0, len);
        expect(await source.readInto(off, view)).toBe(view);
        sameBytes(view, content, off, len);
      }
      await expectCode(source.readInto(S - 1, buf.subarray(0, 2)), 'range');
      const ac = new AbortController();
      const why = new Error('stop');
      const p = source.readInto(0, buf, ac.signal);
      ac.abort(why);
      await expect(p).rejects.toBe(why);
    }));

    it('serves many reads in flight, small and large', withSource(async ({ source, content }) => {
      const S = source.size;
      const rnd = prng(2);
      const cases: [number, number][] = [];
      for (let i = 0; i < 128; i++) {
        const off = Math.floor(rnd() * S);
        cases.push([off, Math.max(1, Math.min(S - off, Math.floor(rnd() * (256 << 10))))]);
      }
      cases.push([7, Math.min(S - 7, (5 << 20) + 9)]);
      const got = await Promise.all(cases.map(([o, l]) => source.read(o, l)));
      cases.forEach(([o, l], i) => sameBytes(got[i], content, o, l));
    }));

    it("rejects reads and status queries outside the disk with 'range'", withSource(async ({ source, content }) => {
      const S = source.size;
      const ctx = source.contexts[0] ?? BASE_ALLOCATION;
      await expectCode(source.read(S - 1, 2), 'range');
      await expectCode(source.read(S, 1), 'range');
      await expectCode(source.read(-1, 1), 'range');
      await expectCode(source.read(0.5, 1), 'range');
      await expectCode(source.read(0, -1), 'range');
      await expectCode(source.blockStatus(ctx, S, 1), 'range');
      await expectCode(source.blockStatus(ctx, 0, S + 1), 'range');
      await expectCode(source.blockStatus(ctx, 0, 0), 'range');
      sameBytes(await source.read(S - 10, 10), content, S - 10, 10);
    }));

    it('answers blockStatus from where asked, contiguously, within the length', withSource(async ({ source, content, extents }) => {
      const S = source.size;
      for (const ctx of source.contexts) {
        for (const [off, len] of [[0, S], [1000, 5000], [S - 1, 1], [(1 << 20) + 513, Math.min(S - (1 << 20) - 513, 3 << 20)]] as const) {
          checkAnswer(`${source.name} ${ctx}`, off, len, await source.blockStatus(ctx, off, len));
        }
        const all = await collectExtents(source, ctx, 0, S, { chunk: Math.max(1 << 20, Math.floor(S / 3)) });
        expect(all[0].offset).toBe(0);
        expect(all.reduce((n, e) => n + e.length, 0)).toBe(S);
        const want = extents?.[ctx];
        if (want) expect(all, `extents of ${ctx}`).toEqual(mergeExtents(want));
        if (ctx === BASE_ALLOCATION) {
          for (const e of all.filter((x) => x.flags & STATE_ZERO)) {
            expect(content.subarray(e.offset, e.offset + e.length).every((b) => b === 0), `zero extent ${e.offset}+${e.length} reads as zero`).toBe(true);
          }
        }
      }
      for (const ctx of Object.keys(extents ?? {})) expect(source.contexts).toContain(ctx);
      await expectCode(source.blockStatus('sendense:no-such-context', 0, 1), 'unsupported');
    }));

    it("rejects with the signal's reason when aborted, and stays usable", withSource(async ({ source, content }) => {
      const ctx = source.contexts[0] ?? BASE_ALLOCATION;
      const before = new AbortController();
      const reason = new Error('stop before');
      before.abort(reason);
      await expect(source.read(0, 4096, before.signal)).rejects.toBe(reason);
      await expect(source.blockStatus(ctx, 0, 4096, before.signal)).rejects.toBe(reason);

      const during = new AbortController();
      setMaxListeners(64, during.signal);
      const why = new Error('stop during');
      const n = Math.min(32, Math.floor(source.size / (256 << 10)));
      const reads = Array.from({ length: n }, (_, i) => source.read(i * (256 << 10), 256 << 10, during.signal));
      if (source.contexts.length) reads.push(source.blockStatus(ctx, 0, source.size, during.signal) as Promise<never>);
      during.abort(why);
      for (const r of reads) await expect(r).rejects.toBe(why);

      const late = new AbortController();
      const big = Math.min(source.size - 3, 8 << 20);
      const racing = source.read(3, big, late.signal);
      setTimeout(() => late.abort(new Error('late')), 1);
      const out = await racing.then((b) => b, (e: unknown) => e);
      if (Buffer.isBuffer(out)) sameBytes(out, content, 3, big);
      else expect((out as Error).message).toBe('late');

      const again = await Promise.all([source.read(0, 256 << 10), source.read(4096, 1 << 20)]);
      sameBytes(again[0], content, 0, 256 << 10);
      sameBytes(again[1], content, 4096, 1 << 20);
    }));

    it("closes idempotently, lets reads in flight settle, then rejects with 'closed'", withSource(async ({ source, content }) => {
      const ctx = source.contexts[0] ?? BASE_ALLOCATION;
      const inflight = Array.from({ length: 16 }, (_, i) => source.read(i * 65536, 65536).then(
        (b) => sameBytes(b, content, i * 65536, 65536),
        (e: unknown) => expect(e).toBeInstanceOf(BlockSourceError),
      ));
      await Promise.all([source.close(), source.close()]);
      await Promise.all(inflight);
      await source.close();
      await expectCode(source.read(0, 1), 'closed');
      await expectCode(source.blockStatus(ctx, 0, 1), 'closed');
    }));
  });
}
