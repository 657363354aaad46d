import { describe, expect, it } from 'vitest';
import { RateLimiter } from './rate-limit.ts';
import { readSignedRequest, signApiRequest, verifySignature } from './request-signature.ts';
import { TokenError, TokenSigner } from './token.ts';

const p = { userId: 'u1', username: 'alice', account: 'alice', accountId: 'a1', domainId: 'd1', role: 'user' as const };

describe('TokenSigner', () => {
  it('round-trips a principal until it expires', () => {
    let now = 1_000_000;
    const s = new TokenSigner({ secret: 's'.repeat(32), ttlMs: 60_000, clock: () => now });
    const { token, expiresAt } = s.issue(p);
    expect(expiresAt.getTime()).toBe(1_060_000);
    expect(s.verify(token)).toMatchObject({ ...p, via: 'token' });
    now = 1_060_000;
    expect(() => s.verify(token)).toThrow(/token expired at/);
  });

  it('refuses another secret, a short secret, and tampering', () => {
    const a = new TokenSigner({ secret: 'a'.repeat(32) });
    const b = new TokenSigner({ secret: 'b'.repeat(32) });
    const { token } = a.issue(p);
    expect(() => b.verify(token)).toThrow(TokenError);
    expect(() => new TokenSigner({ secret: 'short' })).toThrow(/at least 32 bytes/);
    const [pre, body, mac] = token.split('.');
    const evil = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body, 'base64url').toString()), exp: 9e15 })).toString('base64url');
    expect(() => a.verify(`${pre}.${evil}.${mac}`)).toThrow(/signature does not match/);
  });
});

describe('API-key request signatures', () => {
  const keys = { apiKey: 'plgWJfZK4gyS3mOMTVmjUVg', secretKey: 'VDaACYb0LV9eNjTetIOElcVQkvJck' };
  it('signs method, path, query and body; the server side reads and verifies it', () => {
    const now = Date.UTC(2025, 0, 1);
    const url = new URL(signApiRequest({ method: 'post', url: 'http://h/api/v1/vms/x/backups?a=1%2B2&b=~x', body: '{"mode":"full"}', ...keys, now }));
    expect(url.searchParams.get('signatureVersion')).toBe('3');
    expect(url.searchParams.get('expires')).toBe('2025-01-01T00:05:00+0000');
    expect(url.searchParams.get('a')).toBe('1+2');
    expect(url.searchParams.has('command')).toBe(false);
    const req = readSignedRequest('POST', url.pathname, url.searchParams, '{"mode":"full"}', now);
    expect(req.params.command).toBe('POST /api/v1/vms/x/backups');
    expect(verifySignature(req, keys.secretKey)).toBe(true);
    expect(verifySignature(req, 'other')).toBe(false);
    expect(verifySignature(readSignedRequest('POST', '/api/v1/vms/y/backups', url.searchParams, '{"mode":"full"}', now), keys.secretKey)).toBe(false);
    expect(() => readSignedRequest('POST', url.pathname, url.searchParams, '{"mode":"auto"}', now)).toThrow(/contentsha256 does not match/);
    expect(() => readSignedRequest('POST', url.pathname, url.searchParams, '{"mode":"full"}', now + 5 * 60_000)).toThrow(/expired/);
    url.searchParams.set('command', 'listUsers');
    expect(() => readSignedRequest('POST', url.pathname, url.searchParams, '{"mode":"full"}', now)).toThrow(/'command' is not a query parameter/);
  });
});

describe('RateLimiter', () => {
  it('allows max hits per window per key, then says when to retry; reset clears', () => {
    let now = 0;
    const r = new RateLimiter({ max: 2, windowMs: 1000, clock: () => now });
    expect(r.hit('k').allowed).toBe(true);
    expect(r.hit('k').allowed).toBe(true);
    now = 400;
    expect(r.hit('k')).toEqual({ allowed: false, retryAfterMs: 600, remaining: 0 });
    expect(r.hit('other').allowed).toBe(true);
    r.reset('k');
    expect(r.hit('k').allowed).toBe(true);
    now = 2000;
    expect(r.hit('other').remaining).toBe(1);
  });
});
