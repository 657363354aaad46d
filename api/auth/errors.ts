/**
 * @layer logic
 * AuthError: who-are-you and may-you failures. `unauthenticated` (no, bad or expired
 * credentials), `forbidden` (CloudStack says the resource is not the caller's), `rate_limited`
 * (too many sign-ins; `retryAfterMs`), `unavailable` (CloudStack could not be asked: the answer
 * is no, never a guess).
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
