import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { labDir, labName, runId } from '../../test/lab/paths.ts';
import { mountSmallFs } from '../../test/lab/small-fs.ts';
import { expectTargetError, pattern, targetContract } from './contract.ts';
import { LocalTarget } from './local.ts';

const base = labDir('runs', runId(), labName('local-target'));
let n = 0;
targetContract('local', async () => {
  const root = path.join(base, `t${++n}`);
  const t = new LocalTarget(root);
  await t.mkdirp('');
  return t;
});

describe('LocalTarget', () => {
  const mounts: { unmount(): Promise<void> }[] = [];
  afterAll(async () => { for (const m of mounts) await m.unmount(); });

  it('url and hostPath are absolute paths', () => {
    const t = new LocalTarget(path.join(base, 'rel'));
    expect(t.url).toBe(path.join(base, 'rel'));
    expect(t.hostPath('a/b.qcow2')).toBe(path.join(base, 'rel', 'a/b.qcow2'));
    expect(t.hostPath('')).toBe(path.join(base, 'rel'));
  });

  it('a full file system rejects with no-space and abort leaves nothing', async () => {
    const small = await mountSmallFs({ sizeMiB: 4 });
    mounts.push(small);
    const t = new LocalTarget(small.dir);
    expect(await t.freeSpace('')).toBeLessThanOrEqual(small.sizeBytes);
    const f = await t.create('disk.qcow2.part');
    const chunk = pattern(1024 * 1024);
    const err = await (async () => {
      for (let i = 0; i < 16; i++) await f.append(chunk);
      await f.commit();
    })().then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: 'no-space' });
    await expectTargetError(f.append(chunk), 'no-space');
    await f.abort();
    expect(readdirSync(small.dir)).toEqual([]);
    await expectTargetError(t.writeFileAtomic('m.json', pattern(5 * 1024 * 1024)), 'no-space');
    expect(readdirSync(small.dir)).toEqual([]);
    await t.writeFileAtomic('m.json', 'fits');
    expect(readdirSync(small.dir)).toEqual(['m.json']);
  });
});
