/**
 * @layer logic
 * AuthError: who-are-you and may-you failures. `unauthenticated` (no, bad or expired
 * credentials), `forbidden` (CloudStack says the resource is not the caller's), `rate_limited`
 * (too many sign-ins; `retryAfterMs`), `unavailable` (CloudStack could not be asked: the answer
 * is no, never a guess).
 *
 * `NotVisibleError` is a `forbidden` that the caller is told is not there (404 with `shown`, the
 * same answer as for a thing that does not exist), so a tenant cannot probe which VMs, jobs or
 * points exist; the audit log keeps the real reason (the message).
 */
export type AuthErrorCode = 'unauthenticated' | 'forbidden' | 'rate_limited' | 'unavailable';

export class AuthError extends Error {
  override name = 'AuthError';
  constructor(readonly code: AuthErrorCode, message: string, readonly retryAfterMs?: number, options?: { cause?: unknown }) {
    super(`[auth] ${message}`, options);
  }
}

/** CloudStack does not know the VM at all (as opposed to `forbidden`: it is somebody else's). */
export class VmNotFoundError extends Error {
  override name = 'VmNotFoundError';
}

/** Somebody else's: answered as "not found" with `shown` (what a missing one would say), audited as denied. */
export class NotVisibleError extends AuthError {
  override name = 'NotVisibleError';
  constructor(readonly shown: string, reason: string, options?: { cause?: unknown }) {
    super('forbidden', reason, undefined, options);
  }
}

/**
 * Runs a visibility check for a thing reached through its VM (a job, a point, a restore): a VM
 * that is not the caller's, or that CloudStack no longer knows, becomes `NotVisibleError(shown)`,
 * the same answer as a thing that does not exist.
 */
export async function visibleAs<T>(check: Promise<T>, shown: string): Promise<T> {
  try {
    return await check;
  } catch (e) {
    if (e instanceof NotVisibleError) throw new NotVisibleError(shown, e.message.replace(/^\[auth\] /, ''), { cause: e });
    if (e instanceof VmNotFoundError) throw new NotVisibleError(shown, e.message, { cause: e });
    throw e;
  }
}
