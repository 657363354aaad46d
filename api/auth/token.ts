/**
 * @layer logic
 * Sendense session tokens: `s1.<payload>.<mac>`, the payload base64url JSON of the principal
 * with issue and expiry times and a random id (`jti`), the MAC an HMAC-SHA256 of `s1.<payload>`
 * under the server's secret (base64url). Short-lived (default one hour). A valid token is still
 * checked against the revocation list (sign-out, admin revoke: revocations.ts) and, at least
 * every 5 minutes, against CloudStack's user, account and domain state (identity.ts).
 * node:crypto is computation here.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Principal, Role } from './principal.ts';

const PREFIX = 's1';
const ROLES: Role[] = ['root-admin', 'domain-admin', 'user'];

interface Payload {
  uid: string;
  un: string;
  acc: string;
  accid?: string;
  did: string;
  role: Role;
  iat: number;
  exp: number;
  jti: string;
}

export interface TokenSignerOptions {
  /** at least 32 bytes of secret */
  secret: string;
  /** default 3600 s */
  ttlMs?: number;
  clock?: () => number;
}

export class TokenError extends Error {
  override name = 'TokenError';
  /** the token was good but its time is up (the UI signs in again, keeping what was typed) */
  readonly expired: boolean;
  constructor(message: string, options?: { cause?: unknown; expired?: boolean }) {
    super(message, options);
    this.expired = options?.expired ?? false;
  }
}

export class TokenSigner {
  private readonly key: Buffer;
  readonly ttlMs: number;
  private readonly clock: () => number;

  constructor(opts: TokenSignerOptions) {
    if (Buffer.byteLength(opts.secret) < 32) throw new TokenError('[auth] the token secret must be at least 32 bytes');
    this.key = Buffer.from(opts.secret, 'utf8');
    this.ttlMs = opts.ttlMs ?? 3_600_000;
    this.clock = opts.clock ?? Date.now;
  }

  /** A token for the principal, valid for `ttlMs` (default and at most the signer's lifetime). */
  issue(p: Omit<Principal, 'via'>, ttlMs?: number): { token: string; expiresAt: Date; tokenId: string } {
    const iat = this.clock();
    const ttl = Math.min(ttlMs ?? this.ttlMs, this.ttlMs);
    const payload: Payload = {
      uid: p.userId, un: p.username, acc: p.account, ...(p.accountId ? { accid: p.accountId } : {}), did: p.domainId, role: p.role,
      iat, exp: iat + ttl, jti: randomBytes(9).toString('base64url'),
    };
    const body = `${PREFIX}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    return { token: `${body}.${this.mac(body)}`, expiresAt: new Date(payload.exp), tokenId: payload.jti };
  }

  /** The principal of a valid, unexpired token; a TokenError saying what is wrong otherwise. */
  verify(token: string): Principal & { expiresAt: Date; issuedAt: number; tokenId: string } {
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== PREFIX) throw new TokenError('[auth] not a Sendense token');
    const body = `${parts[0]}.${parts[1]}`;
    const want = Buffer.from(this.mac(body));
    const got = Buffer.from(parts[2]);
    if (want.length !== got.length || !timingSafeEqual(want, got)) throw new TokenError('[auth] token signature does not match (forged, or signed with another secret)');
    let p: Payload;
    try { p = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Payload; } catch (e) { throw new TokenError('[auth] token payload is not JSON', { cause: e }); }
    if (typeof p.exp !== 'number' || typeof p.uid !== 'string' || typeof p.did !== 'string' || !ROLES.includes(p.role)) throw new TokenError('[auth] token payload is incomplete');
    if (p.exp <= this.clock()) throw new TokenError(`[auth] token expired at ${new Date(p.exp).toISOString()}: sign in again`, { expired: true });
    return {
      userId: p.uid, username: p.un, account: p.acc, accountId: p.accid, domainId: p.did, role: p.role, via: 'token', expiresAt: new Date(p.exp),
      issuedAt: typeof p.iat === 'number' ? p.iat : 0, tokenId: String(p.jti ?? ''),
    };
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
