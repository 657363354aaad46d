import { randomFillSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { blockSourceContract } from './contract.ts';
import { collectExtents, walkExtents } from './extents.ts';
import { memoryBlockSource } from './memory.ts';
import { BASE_ALLOCATION, BlockSourceError, DIRTY, STATE_HOLE, STATE_ZERO } from './port.ts';

const MiB = 1 << 20;

function sparseDisk(): { content: Buffer; data: { offset: number; data: Buffer }[] } {
  const content = Buffer.alloc(16 * MiB);
  const data = [
    { offset: 0, data: randomFillSync(Buffer.alloc(MiB + 17)) },
    { offset: 5 * MiB, data: randomFillSync(Buffer.alloc(3 * MiB)) },
    { offset: 15 * MiB + 4096, data: randomFillSync(Buffer.alloc(MiB - 4096)) },
  ];
  for (const d of data) d.data.copy(content, d.offset);
  return { content, data };
}

const dirty = [{ offset: MiB, length: 64 << 10, flags: DIRTY }, { offset: 9 * MiB, length: 2 * MiB, flags: DIRTY }];

blockSourceContract('memory (whole buffer)', async () => {
  const content = randomFillSync(Buffer.alloc(8 * MiB + 512));
  return { source: memoryBlockSource({ content }), content, contexts: [BASE_ALLOCATION], extents: { [BASE_ALLOCATION]: [{ offset: 0, length: content.length, flags: 0 }] } };
});

blockSourceContract('memory (sparse, dirty bitmap, prefix answers)', async () => {
  const { content, data } = sparseDisk();
  const source = memoryBlockSource({ size: content.length, data, contexts: { 'qemu:dirty-bitmap:b': dirty }, maxStatusLength: 3 * MiB + 1 });
  return {
    source, content, contexts: [BASE_ALLOCATION, 'qemu:dirty-bitmap:b'],
    extents: {
      'qemu:dirty-bitmap:b': [
        { offset: 0, length: MiB, flags: 0 }, ...dirty.slice(0, 1), { offset: MiB + (64 << 10), length: 8 * MiB - (64 << 10), flags: 0 },
        dirty[1], { offset: 11 * MiB, length: 5 * MiB, flags: 0 },
      ],
      [BASE_ALLOCATION]: [
        { offset: 0, length: MiB + 17, flags: 0 }, { offset: MiB + 17, length: 4 * MiB - 17, flags: STATE_HOLE | STATE_ZERO },
        { offset: 5 * MiB, length: 3 * MiB, flags: 0 }, { offset: 8 * MiB, length: 7 * MiB + 4096, flags: STATE_HOLE | STATE_ZERO },
        { offset: 15 * MiB + 4096, length: MiB - 4096, flags: 0 },
      ],
    },
  };
});

describe('memory source rules', () => {
  it('refuses contexts a real server could not report', () => {
    const content = Buffer.alloc(MiB, 1);
    expect(() => memoryBlockSource({ content, contexts: { [BASE_ALLOCATION]: [{ offset: 0, length: 4096, flags: STATE_ZERO }] } })).toThrow(/non-zero/);
    expect(() => memoryBlockSource({ content, contexts: { x: [{ offset: 0, length: 10, flags: 1 }, { offset: 5, length: 10, flags: 1 }] } })).toThrow(/overlap/);
    expect(() => memoryBlockSource({ content, contexts: { x: [{ offset: MiB - 1, length: 2, flags: 1 }] } })).toThrow(BlockSourceError);
    expect(() => memoryBlockSource({ size: 100, data: [{ offset: 90, data: Buffer.alloc(20) }] })).toThrow(/outside/);
  });

  it('walkExtents asks again after a prefix answer and in bounded chunks', async () => {
    const asked: [number, number][] = [];
    const src = memoryBlockSource({ size: 10 * MiB, maxStatusLength: 3 * MiB });
    const spy = { name: 'spy', blockStatus: (c: string, o: number, l: number) => { asked.push([o, l]); return src.blockStatus(c, o, l); } };
    const parts: number[] = [];
    for await (const p of walkExtents(spy, BASE_ALLOCATION, MiB, 9 * MiB, { chunk: 4 * MiB })) parts.push(p.length);
    expect(asked).toEqual([[MiB, 4 * MiB], [4 * MiB, 4 * MiB], [7 * MiB, 3 * MiB]]);
    expect(await collectExtents(src, BASE_ALLOCATION, 0, 10 * MiB)).toEqual([{ offset: 0, length: 10 * MiB, flags: 3 }]);
  });

  it('walkExtents refuses an answer that breaks the contract', async () => {
    const bad = { name: 'bad', blockStatus: async () => [{ offset: 1, length: 5, flags: 0 }] };
    await expect(collectExtents(bad, BASE_ALLOCATION, 0, 10)).rejects.toMatchObject({ code: 'protocol' });
    const long = { name: 'long', blockStatus: async () => [{ offset: 0, length: 11, flags: 0 }] };
    await expect(collectExtents(long, BASE_ALLOCATION, 0, 10)).rejects.toThrow(/covers 11 bytes of 10/);
  });
});
