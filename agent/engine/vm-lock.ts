/**
 * @layer entry
 * The engine's per-VM exclusivity on this host: every job that works on a VM — backup, prune, a
 * verification with a restore test, an in-place restore — first takes the host-local lock
 * (system/host-lock.ts, `<lock dir>/<vm>.lock`), so two processes of one host (the CLI and the
 * daemon, two CLIs) never work on one VM at once, whichever repository each names (two backups of
 * one domain into two repositories would otherwise end each other's libvirt job). Then the use
 * case takes the repository lease (repository/vm-work.ts), which covers the other hosts. A VM
 * another process of this host works on fails at once with HostLockError ('busy on this host',
 * naming the job and pid); a dead holder's lock is taken over.
 */
import { randomBytes } from 'node:crypto';
import { acquireHostLock } from '../system/host-lock.ts';
import type { HostContext } from './context.ts';

export async function withVmLock<T>(ctx: HostContext, vm: string, work: string, body: () => Promise<T>): Promise<T> {
  const lock = await acquireHostLock(ctx.lockDir(), vm.toLowerCase(), { work, owner: `${work}-${randomBytes(4).toString('hex')}` });
  try {
    return await body();
  } finally {
    await lock.release().catch(() => {});
  }
}
