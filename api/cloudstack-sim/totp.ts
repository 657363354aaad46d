/**
 * @layer logic
 * Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP), as CloudStack's `totp` 2FA
 * provider computes them: the user's key is Base32 (RFC 4648, no padding needed), HMAC-SHA1,
 * 30-second steps from the Unix epoch, 6 digits. CloudStack accepts `user.2fa.totp.window.steps`
 * (default 1) steps either side of the current one and never the same step twice for one user
 * (replay). node:crypto is computation here. Exported for tests and `sendense demo`, which
 * need to type a code as an authenticator app would.
 */
import { createHmac, randomBytes } from 'node:crypto';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
export const TOTP_STEP_MS = 30_000;
export const TOTP_DIGITS = 6;

export class TotpKeyError extends Error {
  override name = 'TotpKeyError';
}

export function base32Decode(s: string): Buffer {
  const clean = s.replace(/=+$/, '').replace(/\s+/g, '').toUpperCase();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const ch of clean) {
    const i = ALPHABET.indexOf(ch);
    if (i < 0) throw new TotpKeyError(`[cloudstack-sim] not a Base32 key: character '${ch}'`);
    value = (value << 5) | i;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

export function base32Encode(b: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of b) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

/** A new 2FA key as CloudStack's setupUserTwoFactorAuthentication makes one (20 random bytes, Base32). */
export function newTotpKey(): string {
  return base32Encode(randomBytes(20));
}

/** HOTP (RFC 4226 §5.3) for one counter value. */
export function hotp(key: Buffer, counter: number): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = createHmac('sha1', key).update(msg).digest();
  const off = mac[mac.length - 1] & 0x0f;
  const bin = ((mac[off] & 0x7f) << 24) | (mac[off + 1] << 16) | (mac[off + 2] << 8) | mac[off + 3];
  return String(bin % 10 ** TOTP_DIGITS).padStart(TOTP_DIGITS, '0');
}

export function totpStep(nowMs: number): number {
  return Math.floor(nowMs / TOTP_STEP_MS);
}

/** The code an authenticator app shows at `nowMs` for a Base32 key. */
export function totpCode(base32Key: string, nowMs: number): string {
  return hotp(base32Decode(base32Key), totpStep(nowMs));
}

/**
 * The step a code matches within `window` steps of now, later than `lastUsedStep` (no replay),
 * or undefined when it matches none.
 */
export function matchTotp(base32Key: string, code: string, nowMs: number, opts: { window?: number; lastUsedStep?: number } = {}): number | undefined {
  if (!/^\d{6}$/.test(code)) return undefined;
  const key = base32Decode(base32Key);
  const now = totpStep(nowMs);
  const w = opts.window ?? 1;
  for (let s = now - w; s <= now + w; s++) {
    if (opts.lastUsedStep !== undefined && s <= opts.lastUsedStep) continue;
    if (hotp(key, s) === code) return s;
  }
  return undefined;
}
