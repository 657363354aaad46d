/**
 * @layer logic
 * Whether a signed-in user still stands in CloudStack: the user enabled, their account enabled,
 * their domain active (CloudStack's own rules for a session). Sendense asks again at least every
 * `RECHECK_MS` for each user with a live token (identity.ts); a user who no longer stands loses
 * every token at once, with a reason the UI can show.
 */
export const RECHECK_MS = 5 * 60_000;

export type StandingReason = 'user_gone' | 'user_disabled' | 'account_disabled' | 'domain_inactive';

export type Standing = { ok: true } | { ok: false; reason: StandingReason; message: string };

export interface StandingFacts {
  username: string;
  /** undefined: CloudStack no longer knows the user */
  userState?: string;
  accountName?: string;
  accountState?: string;
  domainName?: string;
  domainState?: string;
  userKnown: boolean;
}

const enabled = (s: string | undefined) => s === undefined || s.toLowerCase() === 'enabled';

export function standingOf(f: StandingFacts): Standing {
  if (!f.userKnown) return { ok: false, reason: 'user_gone', message: `CloudStack no longer has user ${f.username}: sign in again` };
  if (!enabled(f.userState)) return { ok: false, reason: 'user_disabled', message: `user ${f.username} is ${f.userState} in CloudStack: ask your administrator` };
  if (!enabled(f.accountState)) return { ok: false, reason: 'account_disabled', message: `account ${f.accountName ?? ''} of ${f.username} is ${f.accountState} in CloudStack: ask your administrator` };
  if (f.domainState !== undefined && f.domainState.toLowerCase() !== 'active') {
    return { ok: false, reason: 'domain_inactive', message: `domain ${f.domainName ?? ''} of ${f.username} is ${f.domainState} in CloudStack: ask your administrator` };
  }
  return { ok: true };
}

/** Whether a user last checked at `checkedAt` must be asked about again. */
export function recheckDue(checkedAt: number | undefined, now: number, everyMs = RECHECK_MS): boolean {
  return checkedAt === undefined || now - checkedAt >= everyMs;
}
