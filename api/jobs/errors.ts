/**
 * @layer logic
 * JobError: what the job use cases refuse — no such job or VM (notfound), a request the job's or
 * VM's state does not allow (conflict), a request that cannot be met as configured (invalid).
 */
export type JobErrorCode = 'notfound' | 'conflict' | 'invalid';

export class JobError extends Error {
  override name = 'JobError';
  constructor(readonly code: JobErrorCode, message: string, options?: { cause?: unknown }) {
    super(`[jobs] ${message}`, options);
  }
}
