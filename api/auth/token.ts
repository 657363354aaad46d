/**
 * @layer logic
 * Sendense session tokens: `s1.<payload>.<mac>`, the payload base64url JSON of the principal
 * with issue and expiry times, the MAC an HMAC-SHA256 of `s1.<payload>` under the server's
 * secret (base64url). Short-lived (default one hour); nothing is stored server-side, so a token
 * cannot be revoked before it expires — keep the lifetime short. node:crypto is computation here.
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

  issue(p: Omit<Principal, 'via'>): { token: string; expiresAt: Date } {
    const iat = this.clock();
    const payload: Payload = {
      uid: p.userId, un: p.username, acc: p.account, ...(p.accountId ? { accid: p.accountId } : {}), did: p.domainId, role: p.role,
      iat, exp: iat + this.ttlMs, jti: randomBytes(9).toString('base64url'),
    };
    const body = `${PREFIX}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
    return { token: `${body}.${this.mac(body)}`, expiresAt: new Date(payload.exp) };
  }

  /** The principal of a valid, unexpired token; a TokenError saying what is wrong otherwise. */
  verify(token: string): Principal & { expiresAt: Date } {
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== PREFIX) throw new TokenError('[auth] not a Sendense token');
    const body = `${parts[0]}.${parts[1]}`;
    const want = Buffer.from(this.mac(body));
    const got = Buffer.from(parts[2]);
    if (want.length !== got.length || !timingSafeEqual(want, got)) throw new TokenError('[auth] token signature does not match (forged, or signed with another secret)');
    let p: Payload;
    try { p = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as Payload; } catch (e) { throw new TokenError('[auth] token payload is not JSON', { cause: e }); }
    if (typeof p.exp !== 'number' || typeof p.uid !== 'string' || typeof p.did !== 'string' || !ROLES.includes(p.role)) throw new TokenError('[auth] token payload is incomplete');
    if (p.exp <= this.clock()) throw new TokenError(`[auth] token expired at ${new Date(p.exp).toISOString()}: sign in again`);
    return {
      userId: p.uid, username: p.un, account: p.acc, accountId: p.accid, domainId: p.did, role: p.role, via: 'token', expiresAt: new Date(p.exp),
    };
  }

  private mac(body: string): string {
    return createHmac('sha256', this.key).update(body).digest('base64url');
  }
}
