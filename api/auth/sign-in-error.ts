/**
 * @layer logic
 * SignInError: an `unauthenticated` AuthError with a `reason` the plug-in can act on —
 * `token_expired` (sign in again, keep what was typed), `token_invalid`, `token_revoked`
 * (signed out, or revoked by an administrator), `user_gone`, `user_disabled`,
 * `account_disabled`, `domain_inactive` (CloudStack no longer lets the user in),
 * `two_factor_failed` (a wrong or late code: CloudStack ended that session, sign in again),
 * `session_invalid` (the CloudStack session forwarded for single sign-on is not a live one).
 * The API answers 401 with the reason as its error code.
 */
import { AuthError } from './errors.ts';

export type SignInReason =
  | 'token_expired' | 'token_invalid' | 'token_revoked'
  | 'user_gone' | 'user_disabled' | 'account_disabled' | 'domain_inactive'
  | 'two_factor_failed' | 'session_invalid';

export class SignInError extends AuthError {
  override name = 'SignInError';
  constructor(readonly reason: SignInReason, message: string, options?: { cause?: unknown }) {
    super('unauthenticated', message, undefined, options);
  }
}
