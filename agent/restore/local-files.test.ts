import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import { localFilesContract } from './files-contract.ts';
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
