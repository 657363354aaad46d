/**
 * @layer adapter
 * FreeSpace on the real host: statfs(2) of the folder, the blocks available to a writer that is
 * not root (`bavail`), so the reserve root keeps is never counted.
 */
import { statfs } from 'node:fs/promises';
import type { FreeSpace } from './port.ts';

export const nodeFreeSpace: FreeSpace = async (dir) => {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
};
