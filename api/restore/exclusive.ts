/**
 * @layer usecase
 * An in-place restore is exclusive per VM in the control plane: while one runs, no backup, no
 * prune or verification and no second in-place restore of that VM is accepted (409), and it is
 * not accepted while any of those is queued or running. The records in the database say what
 * runs (jobs, maintenance jobs, restores: unfinished ones); the agent's host lock and repository
 * lease refuse the same conflicts again where the work happens (agent/engine/vm-lock.ts,
 * agent/repository/vm-work.ts), so two control-plane instances deciding at once still cannot
 * make two of them run. A restore as a new volume or a download touches no VM volume: it is free.
 *
 * An in-place restore is also refused while CloudStack lists VM snapshots of the VM
 * (listVMSnapshot): they live inside its qcow2 volumes, which the restore replaces, so they would
 * be lost (CloudStack would go on listing them) — unless the request says `force`, and the
 * refusal names each snapshot that would be lost. RestoreRunner.start makes both checks, one
 * in-place request of a VM at a time, before the restore is recorded.
 */
import type { Store } from '../../db/store.ts';
import type { CloudStackApi } from '../cloudstack/port.ts';
import { RestoreError } from './errors.ts';

const ACTIVE_JOBS = ['queued', 'dispatching', 'running', 'cancelling'] as const;
const ACTIVE_MAINTENANCE = ['queued', 'running'] as const;

/** The in-place restore of `vmId` that is queued or running, if any. */
export async function activeInPlaceRestore(store: Store, vmId: string) {
  const rs = await store.restores.list({ vmId, status: ['queued', 'running', 'cancelling'], limit: 10, offset: 0 });
  return rs.find((r) => r.kind === 'in-place');
}

/** Refuses other work (`what`: 'a backup', 'a prune', 'a verification') while an in-place restore of the VM runs. */
export async function assertNoInPlaceRestore(store: Store, vmId: string, what: string): Promise<void> {
  const r = await activeInPlaceRestore(store, vmId);
  if (r) throw new RestoreError('conflict', `${what} of VM ${vmId} must wait: in-place restore ${r.id} of the VM is ${r.status} (it replaces the VM's volumes); try again when it has finished`);
}

/** Refuses an in-place restore while the VM has other work queued or running. */
export async function assertVmIdleForInPlace(store: Store, vmId: string): Promise<void> {
  const other = await activeInPlaceRestore(store, vmId);
  if (other) throw new RestoreError('conflict', `in-place restore ${other.id} of VM ${vmId} is already ${other.status}: wait for it or cancel it`);
  const [job] = await store.jobs.list({ vmId, status: [...ACTIVE_JOBS], limit: 1, offset: 0 });
  if (job) throw new RestoreError('conflict', `backup ${job.id} of VM ${vmId} is ${job.status}: an in-place restore waits until it has finished (or cancel it)`);
  const [m] = await store.maintenance.list({ vmId, status: [...ACTIVE_MAINTENANCE], limit: 1, offset: 0 });
  if (m) throw new RestoreError('conflict', `${m.kind} job ${m.id} of VM ${vmId} is ${m.status}: an in-place restore waits until it has finished`);
}

/** Refuses an in-place restore of a VM with VM snapshots in CloudStack, naming them, unless forced. */
export async function assertNoVmSnapshots(cs: Pick<CloudStackApi, 'listVmSnapshots'>, vmId: string, vmName: string, force: boolean | undefined): Promise<void> {
  const snaps = await cs.listVmSnapshots({ virtualmachineid: vmId });
  if (!snaps.length || force) return;
  const names = snaps.map((s) => `${s.displayname ?? s.name ?? s.id}${s.created ? ` (${s.created})` : ''}`).join(', ');
  throw new RestoreError('conflict', `VM ${vmName} has ${snaps.length} VM snapshot(s) in CloudStack: ${names}. They live inside its qcow2 volumes, which an in-place `
    + 'restore replaces: they would be lost (CloudStack would still list them). Delete them in CloudStack first, or ask again with force: true to restore and lose them');
}
