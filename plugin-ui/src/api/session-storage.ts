/**
 * @layer adapter
 * The sign-in kept in the tab's sessionStorage: it survives a reload of the iframe, not the tab,
 * and is never shared with CloudStack's own page. A browser that blocks storage for third-party
 * frames (CloudStack's UI on another origin, third-party cookies blocked: Chromium's incognito
 * default) throws on any access; then the sign-in is held in memory only (a reload signs out).
 */
import { MemorySessionStore, type Session, type SessionStore } from './types.ts';

const KEY = 'sendense.session';

function storageOrNothing(): Storage | undefined {
  try {
    const s = globalThis.sessionStorage;
    s.getItem(KEY);
    return s;
  } catch {
    return undefined;
  }
}

export class BrowserSessionStore implements SessionStore {
  private readonly storage: Storage | undefined;
  private readonly memory = new MemorySessionStore();
  constructor(storage: Storage | undefined = storageOrNothing()) { this.storage = storage; }
  /** false when the browser refuses this frame storage (the session lives in memory) */
  get persistent() { return !!this.storage; }
  get(): Session | undefined {
    if (!this.storage) return this.memory.get();
    try {
      const raw = this.storage.getItem(KEY);
      return raw ? (JSON.parse(raw) as Session) : undefined;
    } catch {
      return undefined;
    }
  }
  set(s: Session) {
    this.memory.set(s);
    this.storage?.setItem(KEY, JSON.stringify(s));
  }
  clear() {
    this.memory.clear();
    this.storage?.removeItem(KEY);
  }
}
