/**
 * @layer port
 * A repository file as RandomAccess (for the qcow2 reader), over any BackupTarget.
 */
import type { RandomAccess } from '../qcow2/port.ts';
import type { BackupTarget } from '../target/port.ts';
import { TargetError } from '../target/port.ts';

export async function targetAccess(target: BackupTarget, path: string, signal?: AbortSignal): Promise<RandomAccess & { path: string }> {
  const st = await target.stat(path, signal);
  if (!st) throw new TargetError('not-found', `[repository] ${target.url}/${path} is missing`);
  return { path, size: st.size, read: (offset, length, s) => target.read(path, offset, length, s ?? signal) };
}
