/**
 * @layer logic
 * Short-lived signed download links: the plug-in asks for one (signed in), then hands the URL to
 * the browser, which streams the disk straight to a file (no blob in memory, no token in the
 * URL). A link names one disk of one point in one format and who asked; it lives `ttlMs`
 * (default 60 s) and is good for one download. HMAC-SHA256 over the grant with this instance's
 * key: several control plane instances behind a balancer need the link to reach the one that
 * issued it (otherwise: `link_invalid`, start the download again).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface DownloadGrant {
  /** the restore point's database id */
  pointId: string;
  disk: string;
  format: 'qcow2' | 'raw';
  /** who asked: the audit entry's and the restore's actor */
  user: { userId: string; username: string; account: string; domainId: string; via: string };
  /** epoch ms */
  exp: number;
  jti: string;
}

export type DownloadLinkErrorCode = 'link_invalid' | 'link_expired' | 'link_used';

export class DownloadLinkError extends Error {
  override name = 'DownloadLinkError';
  constructor(readonly code: DownloadLinkErrorCode, message: string, options?: { cause?: unknown }) {
    super(`[restore] ${message}`, options);
  }
}

export interface DownloadLinkOptions {
  /** default: 32 random bytes (links die with the process) */
  key?: Buffer;
  ttlMs?: number;
  clock?: () => number;
}

export class DownloadLinks {
  private readonly key: Buffer;
  private readonly clock: () => number;
  readonly ttlMs: number;
  /** redeemed link ids until they expire: a link is good once */
  private readonly used = new Map<string, number>();

  constructor(o: DownloadLinkOptions = {}) {
    this.key = o.key ?? randomBytes(32);
    this.ttlMs = o.ttlMs ?? 60_000;
    this.clock = o.clock ?? Date.now;
  }

  private mac(body: string) { return createHmac('sha256', this.key).update(body).digest('base64url'); }

  issue(g: Omit<DownloadGrant, 'exp' | 'jti'>): { token: string; expiresAt: Date } {
    const grant: DownloadGrant = { ...g, exp: this.clock() + this.ttlMs, jti: randomBytes(12).toString('base64url') };
    const body = Buffer.from(JSON.stringify(grant)).toString('base64url');
    return { token: `${body}.${this.mac(body)}`, expiresAt: new Date(grant.exp) };
  }

  /** the grant of a link, once: throws link_invalid (forged, damaged, another instance's), link_expired, link_used */
  redeem(token: string): DownloadGrant {
    const now = this.clock();
    for (const [id, exp] of this.used) if (exp < now) this.used.delete(id);
    const [body, sig, extra] = token.split('.');
    const want = Buffer.from(this.mac(body ?? ''));
    const got = Buffer.from(sig ?? '');
    if (extra !== undefined || !body || want.length !== got.length || !timingSafeEqual(want, got)) {
      throw new DownloadLinkError('link_invalid', 'this download link is not valid here (damaged, or issued by another control plane instance): start the download again');
    }
    let g: DownloadGrant;
    try { g = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as DownloadGrant; } catch (e) {
      throw new DownloadLinkError('link_invalid', 'this download link is damaged: start the download again', { cause: e });
    }
    if (g.exp < now) throw new DownloadLinkError('link_expired', `this download link expired at ${new Date(g.exp).toISOString()} (links live ${this.ttlMs / 1000} s): start the download again`);
    if (this.used.has(g.jti)) throw new DownloadLinkError('link_used', 'this download link was used already (a link is good for one download): start the download again');
    this.used.set(g.jti, g.exp);
    return g;
  }
}
