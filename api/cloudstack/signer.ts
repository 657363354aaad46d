/**
 * @layer logic
 * CloudStack request signing, exactly as `ApiServer.verifyRequest` checks it:
 *
 *   1. every parameter but `signature` is signed (command, response, apiKey, signatureVersion,
 *      expires and POST form fields included), with the first value of a repeated name;
 *   2. names are sorted as sent (Java `String.compareTo` = JS default sort), never encoded;
 *   3. values are encoded like Java `URLEncoder.encode(v, "UTF-8")` with `+` → `%20`: only
 *      `A-Z a-z 0-9 . - * _` stay as they are, everything else is `%XX` of the UTF-8 bytes;
 *   4. `name=value` pairs are joined with `&`, the whole string is lowercased, HMAC-SHA1 with the
 *      secret key, Base64 (padded).
 *
 * Version 3 adds `signatureVersion=3` and `expires` (`YYYY-MM-DDTHH:mm:ss+0000`); the server
 * rejects a request whose `expires` has passed. node:crypto is pure computation here, not I/O.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export type Params = Record<string, string>;

/** Java's `URLEncoder.encode(value, "UTF-8").replaceAll("\\+", "%20")`. */
export function javaUrlEncode(value: string): string {
  // encodeURIComponent leaves A-Z a-z 0-9 - _ . ! ~ * ' ( ) alone; Java encodes ! ~ ' ( ) too.
  // a lone surrogate becomes '?' as Java's UTF-8 encoder makes it
  const wellFormed = value.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '?');
  return encodeURIComponent(wellFormed).replace(/[!~'()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The string CloudStack signs: sorted `name=encoded value` pairs, lowercased. */
export function canonicalString(params: Params): string {
  return Object.keys(params)
    .filter((name) => name.toLowerCase() !== 'signature')
    .sort()
    .map((name) => `${name}=${javaUrlEncode(params[name])}`)
    .join('&')
    .toLowerCase();
}

export function computeSignature(params: Params, secretKey: string): string {
  return createHmac('sha1', Buffer.from(secretKey, 'utf8')).update(canonicalString(params), 'utf8').digest('base64');
}

/** Constant-time comparison of a sent signature with the one the secret gives. */
export function signatureMatches(params: Params, secretKey: string, signature: string): boolean {
  const expected = Buffer.from(computeSignature(params, secretKey), 'utf8');
  const got = Buffer.from(signature, 'utf8');
  return expected.length === got.length && timingSafeEqual(expected, got);
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `YYYY-MM-DDTHH:mm:ss+0000`, the `expires` format every CloudStack version accepts. */
export function formatExpires(ms: number): string {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}+0000`;
}

/**
 * Parses `expires` as CloudStack's `DateUtil.parseTZDateString` does (`yyyy-MM-dd'T'HH:mm:ss[.SSS]Z`,
 * zone `+hhmm` or `+hh:mm`). Returns epoch milliseconds, or undefined when the format is wrong.
 */
export function parseExpires(value: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{3}))?([+-])(\d{2}):?(\d{2})$/.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, ms, sign, zh, zm] = m;
  const utc = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s, ms ? +ms : 0);
  if (Number.isNaN(utc)) return undefined;
  const offset = (sign === '-' ? -1 : 1) * (+zh * 60 + +zm) * 60_000;
  return utc - offset;
}

export interface SignOptions {
  apiKey: string;
  secretKey: string;
  /** 3 (default): adds signatureVersion=3 and expires; 1: no expiry */
  version?: 1 | 3;
  /** epoch ms of now, for `expires` */
  now: number;
  /** how long the signed request stays valid (version 3); default 5 minutes */
  ttlMs?: number;
}

/** Adds apiKey (and signatureVersion/expires for v3) and the signature to a copy of `params`. */
export function signParams(params: Params, opts: SignOptions): Params {
  const out: Params = Object.create(null) as Params; // no prototype: `__proto__`, `constructor` … are names like any other
  for (const [k, v] of Object.entries(params)) if (k.toLowerCase() !== 'signature') out[k] = v;
  out.apiKey = opts.apiKey;
  if ((opts.version ?? 3) === 3) {
    out.signatureVersion = '3';
    out.expires = formatExpires(opts.now + (opts.ttlMs ?? 5 * 60_000));
  }
  out.signature = computeSignature(out, opts.secretKey);
  return out;
}

/**
 * Encodes parameters for the wire (query string or form body). Values use the Java encoding, so
 * a literal `+` travels as `%2B` and a space as `%20`; servers decode both the same way.
 */
export function encodeParams(params: Params): string {
  return Object.entries(params).map(([k, v]) => `${encodeURIComponent(k)}=${javaUrlEncode(v)}`).join('&');
}
