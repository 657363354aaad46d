/**
 * @layer port
 * CloudStackLogin: CloudStack's `login` (username, password, domain) as the sign-in needs it —
 * who the user is, and a way to end the CloudStack session at once (Sendense keeps none).
 * The entry implements it with CloudStackClient.login; tests can give the simulator's.
 */
export interface LoginAnswer {
  userid: string;
  username: string;
  account: string;
  domainid: string;
  /** account type: 0 user, 1 root admin, 2 domain admin */
  accountType?: number;
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
