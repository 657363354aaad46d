/**
 * @layer port
 * What the sign-in needs from CloudStack, implemented by the entry with CloudStackClient:
 *
 * - CloudStackLogin: CloudStack's `login` (username, password, domain) — who the user is,
 *   whether CloudStack asks for a second factor first (then `verifyTwoFactor` sends the code
 *   with validateUserTwoFactorAuthenticationCode on that same session), and a way to end the
 *   CloudStack session at once (Sendense keeps none).
 * - CloudStackSessionCheck: single sign-on — a browser's CloudStack session (JSESSIONID cookie +
 *   sessionkey) forwarded on `listUsers`, which CloudStack answers with the users of the
 *   session's own account (just the user, for a plain user); a dead session is refused by
 *   CloudStack itself.
 */
export interface LoginAnswer {
  userid: string;
  username: string;
  account: string;
  domainid: string;
  /** account type: 0 user, 1 root admin, 2 domain admin */
  accountType?: number;
  /** set when CloudStack answered is2faenabled=true, is2faverified=false: nothing works on the session until the code is verified */
  twoFactor?: { provider?: string; issuer?: string };
  /** validateUserTwoFactorAuthenticationCode on this session; rejects with CloudStack's error on a wrong code (CloudStack then ends the session) */
  verifyTwoFactor(code: string): Promise<void>;
  logout(): Promise<void>;
}

export interface LoginRequest {
  username: string;
  password: string;
  /** domain path ("/" for ROOT, "/customers/") */
  domain?: string;
  domainId?: string;
  signal?: AbortSignal;
}

export type CloudStackLogin = (req: LoginRequest) => Promise<LoginAnswer>;

export interface SessionUser {
  id: string;
  username: string;
  account?: string;
  accountid?: string;
  domainid?: string;
  roletype?: string;
  accounttype?: number;
  state?: string;
}

/** The users CloudStack lists on the forwarded session (its own account's); rejects with CloudStack's error for a dead session. */
export type CloudStackSessionCheck = (s: { jsessionid: string; sessionkey: string; signal?: AbortSignal }) => Promise<SessionUser[]>;
