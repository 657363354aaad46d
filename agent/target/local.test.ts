import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { labDir, labName, runId } from '../../test/lab/paths.ts';
import { mountSmallFs } from '../../test/lab/small-fs.ts';
import { expectTargetError, pattern, targetContract } from './contract.ts';
import { LocalTarget } from './local.ts';
import { openTarget } from './open.ts';

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

  it('a repository root others can read is warned about; a private one is not (issue 12 item 4)', async () => {
    const root = path.join(base, 'exposed');
    mkdirSync(root, { recursive: true });
    chmodSync(root, 0o755);
    const warnings: string[] = [];
    const t = await openTarget(root, { warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([expect.stringMatching(/repository root .*exposed is mode 0755: other users .* chmod 700/)]);
    await t.mkdirp('vm/disk-0');
    expect((statSync(path.join(root, 'vm')).mode & 0o777).toString(8)).toBe('700');
    chmodSync(root, 0o700);
    warnings.length = 0;
    await openTarget(root, { warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
  });

  it('modes stay private under a permissive umask', async () => {
    const old = process.umask(0);
    try {
      const t = new LocalTarget(path.join(base, 'umask0'));
      await t.mkdirp('a/b');
      await t.writeFileAtomic('a/m', 'x');
      const f = await t.create('a/b/i');
      await f.commit();
      for (const [p, m] of [['', '700'], ['a', '700'], ['a/b', '700'], ['a/m', '600'], ['a/b/i', '600']]) {
        expect((statSync(path.join(base, 'umask0', p)).mode & 0o777).toString(8), p).toBe(m);
      }
    } finally {
      process.umask(old);
    }
  });
});
