/**
 * @layer logic
 * Whose libvirt domain job is it? The agent ends a job only when it is Sendense's own:
 * CloudStack's live migrations, a dump, another tool's backup are never aborted, and the
 * caller is told "busy: <job>" instead. A job is Sendense's when it is a pull-mode backup whose
 * export socket is in a Sendense job folder (`…/job-<8 hex>/<name>.sock`, the backup's layout)
 * or that builds on a Sendense checkpoint (`incremental='sendense-…'`). A job this process began
 * itself is known without asking.
 */
import type { RunningBackup } from './backup-xml.ts';

/** The socket a Sendense backup exports on: `<work dir>/job-<id>/<name>.sock`. */
const SENDENSE_SOCKET = /\/job-[0-9a-f]{8}\/[A-Za-z0-9_.-]+\.sock$/;

/** `Operation:` of `virsh domjobinfo` (libvirt ≥ 6), else its `Job type:`; undefined when no job runs. */
export function jobOperation(domjobinfo: string): string | undefined {
  const type = /^Job type:\s*(.+?)\s*$/m.exec(domjobinfo)?.[1];
  if (type === undefined || type === 'None') return undefined;
  return /^Operation:\s*(.+?)\s*$/m.exec(domjobinfo)?.[1] ?? type;
}

export type JobOwner = { sendense: true } | { sendense: false; what: string };

/** Decides from the job's operation and, for a backup, its `backup-dumpxml`. */
export function jobOwner(operation: string, backup: RunningBackup | undefined): JobOwner {
  if (!/^backup$/i.test(operation)) return { sendense: false, what: operation };
  if (!backup) return { sendense: false, what: 'Backup (its definition could not be read)' };
  const pull = backup.mode === 'pull';
  const socket = backup.socketPath !== undefined && SENDENSE_SOCKET.test(backup.socketPath);
  const checkpoint = backup.disks.some((d) => d.incremental?.startsWith('sendense-'));
  if (pull && (socket || checkpoint)) return { sendense: true };
  return { sendense: false, what: `Backup (${pull ? `pull, socket ${backup.socketPath ?? 'none'}` : 'push'}: not Sendense's)` };
}

/** The message for a job that is not Sendense's. */
export function busyMessage(domain: string, what: string): string {
  return `busy: ${what} — domain '${domain}' has a job that is not Sendense's; Sendense leaves it alone: try again when it has ended (virsh domjobinfo ${domain})`;
}
