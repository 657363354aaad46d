/**
 * @layer usecase
 * Who is calling, as CloudStack says:
 *
 * - `login`: CloudStack's own `login` checks the username, password and domain (rate-limited per
 *   client address and username); the user's role and account id come from the root admin's
 *   `listUsers id=`; the CloudStack session is ended at once; Sendense issues its own short-lived
 *   signed token (token.ts).
 * - `fromToken`: a valid, unexpired token.
 * - `fromSignedRequest`: a request signed with a CloudStack API key (request-signature.ts); the
 *   key's owner is `getUser userapikey=`, their secret `getUserKeys id=` (root admin keys), kept
 *   for `keyCacheMs` (default 60 s) so a busy client costs CloudStack two calls a minute. A
 *   disabled user, an unknown key, a bad signature or an expired request is refused.
 */
import type { CloudStackApi } from '../cloudstack/port.ts';
import { CloudStackError } from '../cloudstack/errors.ts';
import type { User } from '../cloudstack/schemas.ts';
import { AuthError } from './errors.ts';
import type { CloudStackLogin } from './port.ts';
import { roleFromAccountType, roleFromRoleType, type Principal } from './principal.ts';
import { RateLimiter } from './rate-limit.ts';
import { readSignedRequest, SignatureError, verifySignature } from './request-signature.ts';
import { TokenError, type TokenSigner } from './token.ts';

export interface IdentityDeps {
  /** root admin keys */
  cs: Pick<CloudStackApi, 'getUser' | 'getUserKeys' | 'listUsers'>;
  login: CloudStackLogin;
  tokens: TokenSigner;
  /** sign-in attempts per client address and username (default 5 per 5 minutes) */
  loginLimit?: { max: number; windowMs: number };
  keyCacheMs?: number;
  clock?: () => number;
}

export interface LoginResult {
  token: string;
  expiresAt: Date;
  principal: Principal;
}

interface KeyEntry { user: User; secret: string; at: number }

const CS_AUTH_FAILURE = 'unable to verify user credentials and/or request signature';

function unavailable(what: string, e: unknown): AuthError {
  return new AuthError('unavailable', `cannot ${what}: CloudStack did not answer (${(e as Error).message})`, undefined, { cause: e });
}

export class Identity {
  private readonly limiter: RateLimiter;
  private readonly keys = new Map<string, KeyEntry>();
  private readonly clock: () => number;

  constructor(private readonly deps: IdentityDeps) {
    this.clock = deps.clock ?? Date.now;
    this.limiter = new RateLimiter({ ...(deps.loginLimit ?? { max: 5, windowMs: 5 * 60_000 }), clock: this.clock });
  }

  async login(req: { username: string; password: string; domain?: string; domainId?: string; clientAddress: string }): Promise<LoginResult> {
    const key = `${req.clientAddress}|${req.username.toLowerCase()}`;
    const gate = this.limiter.hit(key);
    if (!gate.allowed) throw new AuthError('rate_limited', `too many sign-in attempts for ${req.username}: try again in ${Math.ceil(gate.retryAfterMs / 1000)} s`, gate.retryAfterMs);
    let answer;
    try {
      answer = await this.deps.login({ username: req.username, password: req.password, domain: req.domain, domainId: req.domainId });
    } catch (e) {
      if (e instanceof CloudStackError && e.kind === 'api' && (e.errorcode === 531 || e.errorcode === 401 || e.errorcode === 432)) {
        throw new AuthError('unauthenticated', `CloudStack refused the sign-in of ${req.username}: ${e.errortext}`, undefined, { cause: e });
      }
      throw unavailable('check the sign-in', e);
    }
    void answer.logout().catch(() => { /* the session times out by itself */ });
    let user: User | undefined;
    try {
      [user] = await this.deps.cs.listUsers({ id: answer.userid });
    } catch (e) {
      throw unavailable(`look up user ${answer.username}`, e);
    }
    const principal: Principal = {
      userId: answer.userid, username: answer.username, account: answer.account, accountId: user?.accountid, domainId: answer.domainid,
      role: user?.roletype ? roleFromRoleType(user.roletype) : roleFromAccountType(answer.accountType), via: 'token',
    };
    this.limiter.reset(key);
    const { token, expiresAt } = this.deps.tokens.issue(principal);
    return { token, expiresAt, principal };
  }

  fromToken(token: string): Principal {
    try {
      const { expiresAt: _e, ...p } = this.deps.tokens.verify(token);
      return p;
    } catch (e) {
      if (e instanceof TokenError) throw new AuthError('unauthenticated', e.message.replace(/^\[auth\] /, ''), undefined, { cause: e });
      throw e;
    }
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
