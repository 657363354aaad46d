/**
 * @layer logic
 * A job of the agent daemon — one backup, restore or verification — as the journal stores it
 * and the API returns it, and the events its progress stream carries.
 *
 * States: queued → running → succeeded | failed | cancelled (queued → cancelled or failed too).
 * A finished record never changes again. `seq` grows with every change, so a reader can tell
 * which of two copies is newer. A job failed by a restart carries error.code 'agent-restarted'.
 */
import { z } from 'zod';
import { VmwareImportBody, VmwareImportOutcome } from '../vmware/requests.ts';
import { BackupBody, BackupOutcome, PruneBody, PruneOutcome, RestoreBody, RestoreOutcome, VerifyBody, VerifyOutcome } from '../engine/requests.ts';

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const JOB_KINDS = ['backup', 'restore', 'verify', 'prune', 'import'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const JobProgress = z.object({
  /** bytes read so far (backup: from the disks; restore, verify: from the repository) */
  bytesDone: z.number(),
  /** bytes to read in all (0 while unknown) */
  bytesTotal: z.number(),
  /** backup: the disk being copied, its index and how many there are */
  disk: z.string().optional(),
  diskIndex: z.number().optional(),
  disks: z.number().optional(),
  /** backup: bytes written to the repository so far */
  bytesWritten: z.number().optional(),
  /** ISO time of the sample */
  at: z.string(),
});
export type JobProgress = z.output<typeof JobProgress>;

export const JobErrorInfo = z.object({ code: z.string(), message: z.string() });
export type JobErrorInfo = z.output<typeof JobErrorInfo>;

const Base = {
  id: z.string(),
  state: z.enum(JOB_STATES),
  createdAt: z.string(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  updatedAt: z.string(),
  seq: z.number().int().nonnegative(),
  /** set when a cancel was asked for while the job ran (it ends as soon as the engine has cleaned up) */
  cancelRequested: z.boolean().optional(),
  progress: JobProgress.optional(),
  error: JobErrorInfo.optional(),
};

/** what a job is about, for listing and for the one-job-per-domain rule */
const Subject = {
  /** backup: the domain's name and UUID as the hypervisor gave them at submission */
  domain: z.string().optional(),
  domainUuid: z.string().optional(),
  vmId: z.string().optional(),
};

export const JobRecord = z.discriminatedUnion('kind', [
  z.object({ ...Base, ...Subject, kind: z.literal('backup'), request: BackupBody, result: BackupOutcome.optional() }),
  z.object({ ...Base, ...Subject, kind: z.literal('restore'), request: RestoreBody, result: RestoreOutcome.optional() }),
  z.object({ ...Base, ...Subject, kind: z.literal('verify'), request: VerifyBody, result: VerifyOutcome.optional() }),
  z.object({ ...Base, ...Subject, kind: z.literal('prune'), request: PruneBody, result: PruneOutcome.optional() }),
  /** a VMware export on the agent host imported into the repository */
  z.object({ ...Base, ...Subject, kind: z.literal('import'), request: VmwareImportBody, result: VmwareImportOutcome.optional() }),
]);
export type JobRecord = z.output<typeof JobRecord>;
export type BackupJob = Extract<JobRecord, { kind: 'backup' }>;

/** What a job's event stream carries (server-sent events: `event: <type>`, `data: <json>`). */
export type JobEvent =
  /** the job as it is now: the first event of every stream, and one on every state change */
  | { type: 'state'; job: JobRecord }
  /** a progress sample (at most a few per second) */
  | { type: 'progress'; jobId: string; progress: JobProgress }
  /** the finished job (with its result or error): the last event, then the stream ends */
  | { type: 'done'; job: JobRecord };

export function isFinished(state: JobState): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'cancelled';
}

/** A job that has not finished cannot be journaled as finished without a time, and vice versa. */
export function checkRecord(job: JobRecord): string | undefined {
  if (isFinished(job.state) && !job.finishedAt) return `job ${job.id} is ${job.state} but has no finishedAt`;
  if (job.state === 'failed' && !job.error) return `job ${job.id} failed without an error`;
  if (job.state === 'succeeded' && job.result === undefined) return `job ${job.id} succeeded without a result`;
  return undefined;
}
