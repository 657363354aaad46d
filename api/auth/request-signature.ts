/**
 * @layer logic
 * Machine clients sign Sendense API requests with their own CloudStack API key, in CloudStack's
 * scheme (api/cloudstack/signer.ts): the signed parameters are every query parameter, plus
 *
 *   command        "<METHOD> <path>", e.g. "POST /api/v1/vms/<id>/backups" (not sent: the
 *                  server takes it from the request line, so a signature is bound to one route)
 *   contentsha256  hex SHA-256 of the body, for a request with a body (sent in the query)
 *
 * with `apiKey`, `signatureVersion=3` and `expires` (at most 15 minutes ahead), and the
 * signature in `signature`. The server looks the key up through CloudStack (getUser, then the
 * owner's getUserKeys) and checks the signature with the owner's secret key.
 *
 * Parameter maps have no prototype (`paramsOf`): a name such as `constructor`, `toString` or
 * `__proto__` is signed and checked like any other, never mistaken for one already seen.
 *
 *   const url = signApiRequest({ method: 'GET', url: 'https://sendense:8480/api/v1/vms', apiKey, secretKey });
 */
import { createHash } from 'node:crypto';
import { encodeParams, formatExpires, parseExpires, signatureMatches, signParams, type Params } from '../cloudstack/signer.ts';

export const MAX_EXPIRES_AHEAD_MS = 15 * 60_000;
const RESERVED = ['command'];

/** The query as a map without a prototype, each name's first value (as CloudStack signs a repeated name). */
export function paramsOf(query: URLSearchParams): Params {
  const params: Params = Object.create(null) as Params;
  for (const [k, v] of query) if (!Object.hasOwn(params, k)) params[k] = v;
  return params;
}

export function sha256Hex(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

export interface SignApiRequestOptions {
  method: string;
  /** absolute URL, with any query parameters of the request */
  url: string;
  body?: string | Uint8Array;
  apiKey: string;
  secretKey: string;
  now?: number;
  /** default 5 minutes */
  ttlMs?: number;
}

/** The URL with apiKey, signatureVersion, expires, contentsha256 (when there is a body) and signature. */
export function signApiRequest(o: SignApiRequestOptions): string {
  const u = new URL(o.url);
  const params = paramsOf(u.searchParams);
  if (o.body !== undefined && (typeof o.body === 'string' ? o.body.length : o.body.byteLength) > 0) params.contentsha256 = sha256Hex(o.body);
  params.command = `${o.method.toUpperCase()} ${u.pathname}`;
  const signed = signParams(params, { apiKey: o.apiKey, secretKey: o.secretKey, now: o.now ?? Date.now(), ttlMs: o.ttlMs });
  delete signed.command;
  u.search = encodeParams(signed);
  return u.toString();
}

/** What the server read from a request that carries a signature. */
export interface SignedRequest {
  apiKey: string;
  signature: string;
  /** the parameters the signature covers (command added) */
  params: Params;
  expiresAt: number;
}

export class SignatureError extends Error {
  override name = 'SignatureError';
}

/** True when the query carries an API-key signature (`apiKey` and `signature`). */
export function hasSignature(query: URLSearchParams): boolean {
  return query.has('apiKey') || query.has('apikey') || query.has('signature');
}

/**
 * Checks the form of a signed request (not the signature: that needs the owner's secret):
 * v3 with a valid `expires` that has not passed and is at most 15 minutes ahead, and a body
 * hash that matches the body.
 */
export function readSignedRequest(method: string, path: string, query: URLSearchParams, body: string | undefined, now: number): SignedRequest {
  const params = paramsOf(query);
  const apiKey = params.apiKey ?? params.apikey;
  const signature = params.signature;
  if (!apiKey || !signature) throw new SignatureError('[auth] a signed request needs apiKey and signature');
  for (const r of RESERVED) if (Object.hasOwn(params, r)) throw new SignatureError(`[auth] '${r}' is not a query parameter here: it is signed as "<METHOD> <path>" and not sent`);
  if (params.signatureVersion !== '3') throw new SignatureError('[auth] signatureVersion=3 (with expires) is required');
  const expiresAt = params.expires === undefined ? undefined : parseExpires(params.expires);
  if (expiresAt === undefined) throw new SignatureError(`[auth] expires is missing or not YYYY-MM-DDTHH:mm:ss+0000 (got ${JSON.stringify(params.expires ?? null)})`);
  if (expiresAt <= now) throw new SignatureError(`[auth] the request expired at ${formatExpires(expiresAt)}`);
  if (expiresAt > now + MAX_EXPIRES_AHEAD_MS) throw new SignatureError('[auth] expires is more than 15 minutes ahead');
  if (body !== undefined && body.length > 0) {
    if (!params.contentsha256) throw new SignatureError('[auth] a signed request with a body needs contentsha256 (hex SHA-256 of the body)');
    if (params.contentsha256.toLowerCase() !== sha256Hex(body)) throw new SignatureError('[auth] contentsha256 does not match the body');
  }
  const signed: Params = Object.assign(Object.create(null) as Params, params, { command: `${method.toUpperCase()} ${path}` });
  delete signed.signature;
  return { apiKey, signature, params: signed, expiresAt };
}

export function verifySignature(req: SignedRequest, secretKey: string): boolean {
  return signatureMatches(req.params, secretKey, req.signature);
}
