/**
 * @layer adapter
 * The sign-in kept in the tab's sessionStorage: it survives a reload of the iframe, not the tab,
 * and is never shared with CloudStack's own page (another origin, or another key).
 */
import type { Session, SessionStore } from './types.ts';

const KEY = 'sendense.session';

export class BrowserSessionStore implements SessionStore {
  constructor(private readonly storage: Storage = sessionStorage) {}
  get(): Session | undefined {
    try {
      const raw = this.storage.getItem(KEY);
      return raw ? (JSON.parse(raw) as Session) : undefined;
    } catch {
      return undefined;
    }
  }
  set(s: Session) { this.storage.setItem(KEY, JSON.stringify(s)); }
  clear() { this.storage.removeItem(KEY); }
}
