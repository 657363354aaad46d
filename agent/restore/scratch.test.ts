/**
 * Scratch files (issue 12 items 5 and 7): names are plain whatever a request or a repository
 * says, and the daemon's start-up clean-up removes what a crash left — only scratch files.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NodeLocalFiles } from './local-files.ts';
import { MemoryLocalFiles } from './memory-files.ts';
import { removeScratchLeftovers, scratchPath } from './scratch.ts';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

describe('scratch files', () => {
  it('a name part with a slash or .. is refused; a plain one gives a file in the dir', () => {
    for (const bad of ['../x', 'x/../../y', '..', '/etc', 'a b', '']) {
      expect(() => scratchPath('/w', 'image', ['vm', bad, 'p'], 'qcow2')).toThrow(/cannot be part of a scratch file name/);
    }
    const p = scratchPath('/w', 'restore-test', ['vm-1', '20261201-101010', 'vda'], 'raw');
    expect(p).toMatch(/^\/w\/restore-test-vm-1-20261201-101010-vda-[0-9a-f]{8}\.raw$/);
  });

  it('start-up clean-up removes scratch images, restore-test files and their partials, nothing else', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'sendense-scratch-'));
    dirs.push(dir);
    const keep = ['job-1.sock', 'journal.json', 'image-notes.txt', 'restore-test-dir'];
    const gone = ['image-vm-vda-20261201-101010-0a1b2c3d.qcow2', 'restore-test-vm-20261201-101010-vda-0a1b2c3d.raw',
      'restore-test-vm-20261201-101010-vda-0a1b2c3d.raw.sendense-partial-00ff00ff'];
    for (const n of [...keep.slice(0, 3), ...gone]) writeFileSync(path.join(dir, n), 'x');
    mkdirSync(path.join(dir, 'restore-test-dir'));
    const outside = path.join(dir, 'restore-test-dir', 'precious');
    writeFileSync(outside, 'keep me');
    symlinkSync(outside, path.join(dir, 'image-link.qcow2'));
    expect((await removeScratchLeftovers(new NodeLocalFiles(), dir)).sort()).toEqual([...gone].sort());
    expect(readdirSync(dir).sort()).toEqual([...keep, 'image-link.qcow2'].sort());
    expect(readdirSync(path.join(dir, 'restore-test-dir'))).toEqual(['precious']);
    expect(await removeScratchLeftovers(new NodeLocalFiles(), path.join(dir, 'missing'))).toEqual([]);
  });

  it('memory files: the same', async () => {
    const files = new MemoryLocalFiles();
    files.put('/w/image-a-vda-1-0a0a0a0a.qcow2', Buffer.from('x'));
    files.put('/w/other', Buffer.from('x'));
    expect(await removeScratchLeftovers(files, '/w')).toEqual(['image-a-vda-1-0a0a0a0a.qcow2']);
    expect(await files.list('/w')).toEqual(['other']);
  });
});
