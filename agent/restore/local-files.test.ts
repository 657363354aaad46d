import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { localFilesContract } from './files-contract.ts';
import { LocalRestoreFile } from './local-file.ts';
import { NodeLocalFiles } from './local-files.ts';
import { MemoryLocalFiles } from './memory-files.ts';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

localFilesContract('node fs', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sendense-files-'));
  dirs.push(dir);
  return { files: new NodeLocalFiles(), dir };
});
localFilesContract('memory', async () => ({ files: new MemoryLocalFiles(), dir: '/vol' }));

describe('LocalRestoreFile: a restore target is never written through a planted name (issue 12 item 5)', () => {
  const fresh = () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sendense-excl-'));
    dirs.push(dir);
    return dir;
  };

  it('a symlink at the destination is refused up front and its target left alone', async () => {
    const dir = fresh();
    writeFileSync(path.join(dir, 'victim'), 'secret');
    symlinkSync(path.join(dir, 'victim'), path.join(dir, 'out.raw'));
    await expect(LocalRestoreFile.create(path.join(dir, 'out.raw'))).rejects.toThrow(/out\.raw exists: choose another --to path/);
    expect(readFileSync(path.join(dir, 'victim'), 'utf8')).toBe('secret');
  });

  it('a file that appears at the destination while the restore runs is kept; the restore fails saying so', async () => {
    const dir = fresh();
    const f = await LocalRestoreFile.create(path.join(dir, 'out.raw'));
    await f.setSize(4096);
    await f.writeRaw(0, Buffer.from('restored'));
    writeFileSync(path.join(dir, 'victim'), 'secret');
    symlinkSync(path.join(dir, 'victim'), path.join(dir, 'out.raw'));
    await expect(f.commit()).rejects.toThrow(/appeared while the restore ran: it was left as it is/);
    expect(readFileSync(path.join(dir, 'victim'), 'utf8')).toBe('secret');
    expect(readdirSync(dir).sort()).toEqual(['out.raw', 'victim']);
  });

  it('with overwrite a symlink at the destination is replaced, not followed; the partial is private and never reused', async () => {
    const dir = fresh();
    writeFileSync(path.join(dir, 'victim'), 'secret');
    symlinkSync(path.join(dir, 'victim'), path.join(dir, 'out.raw'));
    const f = await LocalRestoreFile.create(path.join(dir, 'out.raw'), { overwrite: true });
    const partial = readdirSync(dir).find((n) => n.includes('.sendense-partial-'))!;
    expect(partial).toMatch(/^out\.raw\.sendense-partial-[0-9a-f]{8}$/);
    expect(statSync(path.join(dir, partial)).mode & 0o777).toBe(0o600);
    await f.setSize(16);
    await f.writeRaw(0, Buffer.from('restored'));
    await f.commit();
    expect(lstatSync(path.join(dir, 'out.raw')).isSymbolicLink()).toBe(false);
    expect(readFileSync(path.join(dir, 'out.raw')).subarray(0, 8).toString()).toBe('restored');
    expect(readFileSync(path.join(dir, 'victim'), 'utf8')).toBe('secret');
  });
});
