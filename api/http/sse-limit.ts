/**
 * @layer logic
 * Open event streams (SSE) per user: each stream holds a connection for as long as its job runs,
 * so one caller may hold at most `max` at once (default 8); one more is a 429 until one ends.
 */
import { AuthError } from '../auth/errors.ts';

export class SseSlots {
  private readonly open = new Map<string, number>();

  constructor(readonly max = 8) {}

  /** Takes a slot for `user` (or throws rate_limited); call the returned function once when the stream ends. */
  take(user: string): () => void {
    const n = this.open.get(user) ?? 0;
    if (n >= this.max) throw new AuthError('rate_limited', `${this.max} event streams are open for this user already: close one first`, 5_000);
    this.open.set(user, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(user) ?? 1) - 1;
      if (left <= 0) this.open.delete(user);
      else this.open.set(user, left);
    };
  }

  count(user: string): number {
    return this.open.get(user) ?? 0;
  }
}
