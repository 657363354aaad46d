import { describe, expect, it } from 'vitest';
import { targetContract, expectTargetError, pattern } from './contract.ts';
import { MemoryTarget } from './memory.ts';

targetContract('memory', async () => new MemoryTarget());

describe('MemoryTarget strictness', () => {
  it('a file being written cannot be read, renamed, removed or written over', async () => {
    const t = new MemoryTarget();
    const f = await t.create('a.part');
    await f.append(Buffer.from('abc'));
    expect(await t.stat('a.part')).toMatchObject({ size: 3 });
    await expectTargetError(t.readFile('a.part'), 'io');
    await expectTargetError(t.rename('a.part', 'a'), 'exists');
    await t.writeFileAtomic('b', 'b');
    await expectTargetError(t.rename('b', 'a.part'), 'exists');
    await expectTargetError(t.writeFileAtomic('a.part', 'x'), 'exists');
    await expectTargetError(t.remove('a.part'), 'exists');
    await f.commit();
    await t.rename('a.part', 'a');
    expect((await t.readFile('a')).toString()).toBe('abc');
  });

  it('a quota produces no-space; the failed stream can only be aborted', async () => {
    const t = new MemoryTarget({ quotaBytes: 1000 });
    await t.writeFileAtomic('m', pattern(300));
    expect(await t.freeSpace('')).toBe(700);
    const f = await t.create('d');
    await f.append(pattern(600));
    await expectTargetError(f.append(pattern(200)), 'no-space');
    await expectTargetError(f.append(pattern(1)), 'no-space');
    await expectTargetError(f.commit(), 'no-space');
    await f.abort();
    expect(await t.stat('d')).toBeUndefined();
    expect(t.usedBytes()).toBe(300);
    await expectTargetError(t.writeFileAtomic('n', pattern(701)), 'no-space');
    await t.writeFileAtomic('m', pattern(1000));
  });

  it('disconnect() fails every later call, open streams included', async () => {
    const t = new MemoryTarget();
    const f = await t.create('x');
    t.disconnect();
    await expectTargetError(f.append(Buffer.from('a')), 'disconnected');
    await expectTargetError(f.abort(), 'disconnected');
    await expectTargetError(t.list(''), 'disconnected');
  });

  it('hostPath puts the host root in front', () => {
    expect(new MemoryTarget({ hostRoot: '/srv/r' }).hostPath('c/d.qcow2')).toBe('/srv/r/c/d.qcow2');
  });
});
