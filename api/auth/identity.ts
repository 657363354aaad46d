/**
 * @layer usecase
 * Who is calling, as CloudStack says:
 *
 * - `login`: CloudStack's own `login` checks the username, password and domain (rate-limited per
 *   client address and username). When CloudStack asks for a second factor (is2faenabled=true,
 *   is2faverified=false) no token is issued: the answer is a `challenge`, the CloudStack session
 *   is kept aside for up to `challengeMs` (default 5 min), and a second `login` with the
 *   challenge and the code sends it with validateUserTwoFactorAuthenticationCode on that very
 *   session; only a verified session gives a token. The user's role and account id come from the
 *   root admin's `listUsers id=`; the CloudStack session is then ended; Sendense issues its own
 *   short-lived signed token (token.ts).
 * - `fromCloudStackSession` (single sign-on behind a same-origin proxy): the browser's CloudStack
 *   JSESSIONID + sessionkey are forwarded on a CloudStack call (CloudStackSessionCheck); the
 *   user it answers for gets a short-lived token (`ssoTtlMs`, default 15 min) and signs in no
 *   second time. The claimed `userid` cookie can only pick among the users CloudStack lists on
 *   that session (its own account's).
 * - `fromToken`: a valid, unexpired, unrevoked token whose user still stands in CloudStack:
 *   user, account and domain are asked about again at least every 5 minutes (standing.ts); a
 *   user who no longer stands loses every token. The role is CloudStack's current one.
 * - `signOut` (one token), `revokeUser` (an admin: every token of a user so far).
 * - `fromSignedRequest`: a request signed with a CloudStack API key (request-signature.ts); the
 *   key's owner is `getUser userapikey=`, their secret `getUserKeys id=` (root admin keys), kept
 *   for `keyCacheMs` (default 60 s) so a busy client costs CloudStack two calls a minute. A
 *   disabled user, an unknown key, a bad signature or an expired request is refused.
 */
import { randomBytes } from 'node:crypto';
import type { CloudStackApi } from '../cloudstack/port.ts';
import { CloudStackError } from '../cloudstack/errors.ts';
import type { User } from '../cloudstack/schemas.ts';
import { AuthError } from './errors.ts';
import type { CloudStackLogin, CloudStackSessionCheck, LoginAnswer, SessionUser } from './port.ts';
import { roleFromAccountType, roleFromRoleType, type Principal, type Role } from './principal.ts';
import { MemoryAttempts, type AttemptCounter } from './attempts.ts';
import { readSignedRequest, SignatureError, verifySignature } from './request-signature.ts';
import { MemoryRevocations, type TokenRevocations } from './revocations.ts';
import { SignInError } from './sign-in-error.ts';
import { recheckDue, RECHECK_MS, standingOf, type StandingFacts } from './standing.ts';
import { TokenError, type TokenSigner } from './token.ts';

export interface IdentityDeps {
  /** root admin keys */
  cs: Pick<CloudStackApi, 'getUser' | 'getUserKeys' | 'listUsers' | 'call'>;
  login: CloudStackLogin;
  /** single sign-on through a same-origin proxy; without it fromCloudStackSession refuses */
  sessionCheck?: CloudStackSessionCheck;
  tokens: TokenSigner;
  revocations?: TokenRevocations;
  /** sign-in attempts per client address and username (default 5 per 5 minutes) */
  loginLimit?: { max: number; windowMs: number };
  /** where those attempts are counted (default: this process's memory; the control plane: the Store) */
  attempts?: AttemptCounter;
  keyCacheMs?: number;
  /** how often a token's user is checked with CloudStack again (default and at most 5 min) */
  recheckMs?: number;
  /** how long a two-factor challenge waits for its code (default 5 min) */
  challengeMs?: number;
  /** lifetime of a token from single sign-on (default 15 min, at most the token lifetime) */
  ssoTtlMs?: number;
  clock?: () => number;
}

export interface LoginResult {
  kind: 'token';
  token: string;
  expiresAt: Date;
  principal: Principal;
}

export interface TwoFactorChallenge {
  kind: 'two-factor';
  challenge: string;
  expiresAt: Date;
  provider?: string;
  issuer?: string;
  username: string;
}

export interface LoginRequest {
  username: string;
  password: string;
  domain?: string;
  domainId?: string;
  clientAddress: string;
  /** the second step: the challenge the first answered with, and CloudStack's 2FA code */
  challenge?: string;
  code?: string;
}

interface KeyEntry { user: User; secret: string; at: number }
interface Pending { answer: LoginAnswer; username: string; until: number; provider?: string; issuer?: string }
interface Checked { at: number; role: Role }

const CS_AUTH_FAILURE = 'unable to verify user credentials and/or request signature';
const MAX_PENDING = 1000;

function unavailable(what: string, e: unknown): AuthError {
  return new AuthError('unavailable', `cannot ${what}: CloudStack did not answer (${(e as Error).message})`, undefined, { cause: e });
}

function refusedByCloudStack(e: unknown): e is CloudStackError {
  return e instanceof CloudStackError && e.kind === 'api' && [401, 431, 432, 511, 531].includes(e.errorcode ?? 0);
}

export class Identity {
  private readonly limiter: AttemptCounter;
  private readonly keys = new Map<string, KeyEntry>();
  private readonly pending = new Map<string, Pending>();
  private readonly checked = new Map<string, Checked>();
  private readonly checking = new Map<string, Promise<Checked>>();
  private readonly clock: () => number;
  readonly revocations: TokenRevocations;
  private readonly recheckMs: number;

  constructor(private readonly deps: IdentityDeps) {
    this.clock = deps.clock ?? Date.now;
    this.limiter = deps.attempts ?? new MemoryAttempts({ ...(deps.loginLimit ?? { max: 5, windowMs: 5 * 60_000 }), clock: this.clock });
    this.revocations = deps.revocations ?? new MemoryRevocations(this.clock);
    this.recheckMs = Math.min(deps.recheckMs ?? RECHECK_MS, RECHECK_MS);
  }

  async login(req: LoginRequest): Promise<LoginResult | TwoFactorChallenge> {
    const key = `${req.clientAddress}|${req.username.toLowerCase()}`;
    const gate = await this.limiter.hit(key);
    if (!gate.allowed) throw new AuthError('rate_limited', `too many sign-in attempts for ${req.username}: try again in ${Math.ceil(gate.retryAfterMs / 1000)} s`, gate.retryAfterMs);
    if (req.challenge !== undefined) {
      const r = await this.secondFactor(req);
      await this.limiter.reset(key);
      return r;
    }
    let answer: LoginAnswer;
    try {
      answer = await this.deps.login({ username: req.username, password: req.password, domain: req.domain, domainId: req.domainId });
    } catch (e) {
      if (refusedByCloudStack(e)) throw new AuthError('unauthenticated', `CloudStack refused the sign-in of ${req.username}: ${e.errortext}`, undefined, { cause: e });
      throw unavailable('check the sign-in', e);
    }
    if (answer.twoFactor) return this.challenge(answer, req.username);
    const r = await this.finish(answer);
    await this.limiter.reset(key);
    return r;
  }

  /** Keeps the half-open CloudStack session until its code comes (or it times out: then it is logged out). */
  private challenge(answer: LoginAnswer, username: string): TwoFactorChallenge {
    const now = this.clock();
    for (const [id, p] of this.pending) if (p.until <= now) { this.pending.delete(id); void p.answer.logout().catch(() => {}); }
    if (this.pending.size >= MAX_PENDING) {
      void answer.logout().catch(() => {});
      throw new AuthError('rate_limited', 'too many sign-ins are waiting for their two-factor code: try again in a minute', 60_000);
    }
    const id = randomBytes(24).toString('base64url');
    const until = now + (this.deps.challengeMs ?? 5 * 60_000);
    this.pending.set(id, { answer, username: username.toLowerCase(), until, provider: answer.twoFactor?.provider, issuer: answer.twoFactor?.issuer });
    return { kind: 'two-factor', challenge: id, expiresAt: new Date(until), provider: answer.twoFactor?.provider, issuer: answer.twoFactor?.issuer, username: answer.username };
  }

  private async secondFactor(req: LoginRequest): Promise<LoginResult> {
    const p = this.pending.get(req.challenge ?? '');
    if (!p || p.until <= this.clock() || p.username !== req.username.toLowerCase()) {
      if (p && p.until <= this.clock()) { this.pending.delete(req.challenge!); void p.answer.logout().catch(() => {}); }
      throw new SignInError('two_factor_failed', 'this two-factor sign-in is unknown or has timed out: sign in again with your password');
    }
    const code = (req.code ?? '').trim();
    if (!code) throw new AuthError('unauthenticated', 'give the code your authenticator shows (CloudStack asks for two-factor authentication)');
    this.pending.delete(req.challenge!);
    try {
      await p.answer.verifyTwoFactor(code);
    } catch (e) {
      void p.answer.logout().catch(() => {});
      if (refusedByCloudStack(e)) throw new SignInError('two_factor_failed', `CloudStack refused the two-factor code of ${req.username} (${e.errortext}): sign in again`, { cause: e });
      throw unavailable('check the two-factor code', e);
    }
    return this.finish(p.answer);
  }

  /** A CloudStack session that may act: its user's principal, a token, the session ended. */
  private async finish(answer: LoginAnswer): Promise<LoginResult> {
    void answer.logout().catch(() => { /* the session times out by itself */ });
    let user: User | undefined;
    try {
      [user] = await this.deps.cs.listUsers({ id: answer.userid, listall: true });
    } catch (e) {
      throw unavailable(`look up user ${answer.username}`, e);
    }
    const principal: Principal = {
      userId: answer.userid, username: answer.username, account: answer.account, accountId: user?.accountid, domainId: answer.domainid,
      role: user?.roletype ? roleFromRoleType(user.roletype) : roleFromAccountType(answer.accountType), via: 'token',
    };
    return this.issue(principal);
  }

  private issue(principal: Principal, ttlMs?: number): LoginResult {
    const { token, expiresAt, tokenId } = this.deps.tokens.issue(principal, ttlMs);
    this.checked.set(principal.userId, { at: this.clock(), role: principal.role });
    return { kind: 'token', token, expiresAt, principal: { ...principal, tokenId } };
  }

  /**
   * Single sign-on: the browser's CloudStack session, forwarded on a CloudStack call. `userId`
   * (CloudStack's `userid` cookie) picks among the users CloudStack lists on that session.
   */
  async fromCloudStackSession(req: { jsessionid?: string; sessionkey?: string; userId?: string; clientAddress: string }): Promise<LoginResult> {
    if (!this.deps.sessionCheck) throw new AuthError('unauthenticated', 'single sign-on is not set up on this control plane: sign in with your CloudStack user name and password');
    if (!req.jsessionid || !req.sessionkey) {
      throw new SignInError('session_invalid', 'no CloudStack session came with the request (JSESSIONID cookie and sessionkey): open the plug-in from CloudStack\'s UI behind the same proxy, or sign in with your password');
    }
    const gate = await this.limiter.hit(`sso|${req.clientAddress}`);
    if (!gate.allowed) throw new AuthError('rate_limited', `too many single sign-on attempts: try again in ${Math.ceil(gate.retryAfterMs / 1000)} s`, gate.retryAfterMs);
    let users: SessionUser[];
    try {
      users = await this.deps.sessionCheck({ jsessionid: req.jsessionid, sessionkey: req.sessionkey });
    } catch (e) {
      if (refusedByCloudStack(e)) throw new SignInError('session_invalid', `CloudStack does not accept that session (${e.errortext}): sign in to CloudStack again`, { cause: e });
      throw unavailable('check the CloudStack session', e);
    }
    const u = req.userId ? users.find((x) => x.id === req.userId) : users.length === 1 ? users[0] : undefined;
    if (!u) throw new SignInError('session_invalid', 'the CloudStack session does not say which of its account\'s users it is: sign in with your password');
    const standing = await this.standing({ userId: u.id, username: u.username, accountId: u.accountid, domainId: u.domainid ?? '' });
    await this.limiter.reset(`sso|${req.clientAddress}`);
    const principal: Principal = {
      userId: u.id, username: u.username, account: u.account ?? '', accountId: u.accountid, domainId: u.domainid ?? '',
      role: standing.role, via: 'token',
    };
    return this.issue(principal, this.deps.ssoTtlMs ?? 15 * 60_000);
  }

  async fromToken(token: string): Promise<Principal> {
    let v;
    try {
      v = this.deps.tokens.verify(token);
    } catch (e) {
      if (e instanceof TokenError) throw new SignInError(e.expired ? 'token_expired' : 'token_invalid', e.message.replace(/^\[auth\] /, ''), { cause: e });
      throw e;
    }
    const { expiresAt: _e, issuedAt, tokenId, ...p } = v;
    if (await this.revocations.isRevoked(tokenId, p.userId, issuedAt)) {
      throw new SignInError('token_revoked', 'this sign-in has ended (signed out, or revoked by an administrator): sign in again');
    }
    let c = this.checked.get(p.userId);
    if (recheckDue(c?.at, this.clock(), this.recheckMs)) c = await this.standing(p);
    return { ...p, role: c!.role, tokenId };
  }

  /** Ends one token (sign-out). An expired or foreign token is simply over. */
  async signOut(token: string): Promise<void> {
    let v;
    try {
      v = this.deps.tokens.verify(token);
    } catch (e) {
      if (!(e instanceof TokenError)) throw e;
      return;
    }
    await this.revocations.revoke(v.tokenId, v.expiresAt.getTime());
  }

  /** Ends every token a user holds so far (an administrator's revoke). */
  async revokeUser(userId: string): Promise<void> {
    this.checked.delete(userId);
    await this.revocations.revokeUser(userId, this.clock());
  }

  /**
   * Asks CloudStack (root admin keys) whether the user, their account and their domain still
   * let them in; one question at a time per user. A user who no longer stands loses every token.
   */
  private standing(p: { userId: string; username: string; accountId?: string; domainId: string }): Promise<Checked> {
    const busy = this.checking.get(p.userId);
    if (busy) return busy;
    const run = (async () => {
      let facts: StandingFacts;
      let role: Role = 'user';
      try {
        const [user] = await this.deps.cs.listUsers({ id: p.userId, listall: true });
        const accountId = user?.accountid ?? p.accountId;
        const [acc, dom] = await Promise.all([
          user && accountId ? this.deps.cs.call('listAccounts', { id: accountId, listall: true }) : Promise.resolve({} as Record<string, unknown>),
          user && (user.domainid ?? p.domainId) ? this.deps.cs.call('listDomains', { id: user.domainid ?? p.domainId, listall: true }) : Promise.resolve({} as Record<string, unknown>),
        ]);
        const account = (acc.account as { name?: string; state?: string }[] | undefined)?.[0];
        const domain = (dom.domain as { name?: string; state?: string }[] | undefined)?.[0];
        facts = {
          username: p.username, userKnown: !!user, userState: user?.state, accountName: account?.name, accountState: account ? account.state : user ? 'gone' : undefined,
          domainName: domain?.name, domainState: domain ? domain.state : undefined,
        };
        if (user) role = user.roletype ? roleFromRoleType(user.roletype) : roleFromAccountType(user.accounttype);
      } catch (e) {
        if (e instanceof CloudStackError && e.kind === 'notfound') facts = { username: p.username, userKnown: false };
        else throw unavailable(`check that ${p.username} may still sign in`, e);
      }
      const s = standingOf(facts);
      if (!s.ok) {
        this.revokeUser(p.userId);
        throw new SignInError(s.reason, s.message);
      }
      const c = { at: this.clock(), role };
      this.checked.set(p.userId, c);
      if (this.checked.size > 100_000) this.checked.clear();
      return c;
    })();
    this.checking.set(p.userId, run);
    void run.finally(() => this.checking.delete(p.userId)).catch(() => {});
    return run;
  }

  async fromSignedRequest(method: string, path: string, query: URLSearchParams, body: string | undefined): Promise<Principal> {
    let req;
    try {
      req = readSignedRequest(method, path, query, body, this.clock());
    } catch (e) {
      if (e instanceof SignatureError) throw new AuthError('unauthenticated', e.message.replace(/^\[auth\] /, ''), undefined, { cause: e });
      throw e;
    }
    const entry = await this.keyOwner(req.apiKey);
    if (!verifySignature(req, entry.secret)) throw new AuthError('unauthenticated', CS_AUTH_FAILURE);
    const u = entry.user;
    return {
      userId: u.id, username: u.username, account: u.account ?? '', accountId: u.accountid, domainId: u.domainid ?? '',
      role: roleFromRoleType(u.roletype), via: 'apikey',
    };
  }

  private async keyOwner(apiKey: string): Promise<KeyEntry> {
    const now = this.clock();
    const hit = this.keys.get(apiKey);
    if (hit && now - hit.at < (this.deps.keyCacheMs ?? 60_000)) return hit;
    let user: User;
    try {
      user = await this.deps.cs.getUser(apiKey);
    } catch (e) {
      if (e instanceof CloudStackError && (e.kind === 'notfound' || (e.kind === 'api' && e.errorcode === 431))) throw new AuthError('unauthenticated', CS_AUTH_FAILURE, undefined, { cause: e });
      throw unavailable('look up the API key', e);
    }
    if (user.state && user.state.toLowerCase() !== 'enabled') throw new AuthError('unauthenticated', `user ${user.username} is ${user.state} in CloudStack`);
    let secret: string;
    try {
      secret = (await this.deps.cs.getUserKeys(user.id)).secretkey;
    } catch (e) {
      throw unavailable(`read the keys of ${user.username}`, e);
    }
    const entry = { user, secret, at: now };
    if (this.keys.size > 10_000) this.keys.clear();
    this.keys.set(apiKey, entry);
    return entry;
  }
}
