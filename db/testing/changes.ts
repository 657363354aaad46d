/**
 * @layer testing
 * The ChangeFeed contract (db/changes.ts) every adapter runs: `connect()` gives feeds that share
 * one database (instances A and B). A topic published on A reaches B's subscribers of that topic,
 * not A's own and not other topics'; an unsubscribe is final and idempotent; a closed feed
 * neither publishes nor throws.
 */
import { describe, expect, it } from 'vitest';
import type { ChangeFeed } from '../changes.ts';

export interface ChangeFeedLab {
  /** a feed on the shared database (a new connection each time) */
  connect(): Promise<ChangeFeed>;
  done?(): Promise<void>;
}

const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

export function changeFeedContract(name: string, make: () => Promise<ChangeFeedLab>): void {
  describe(`ChangeFeed contract: ${name}`, () => {
    it('a publication on one feed reaches the other feeds\' subscribers of that topic, not its own', async () => {
      const lab = await make();
      const [a, b, c] = [await lab.connect(), await lab.connect(), await lab.connect()];
      const heard: string[] = [];
      a.subscribe('job:1', () => heard.push('a'));
      b.subscribe('job:1', () => heard.push('b'));
      c.subscribe('job:2', () => heard.push('c:2'));
      await a.publish('job:1');
      await expect.poll(() => heard, { timeout: 5000 }).toContain('b');
      await settle();
      expect(heard).toEqual(['b']);
      await Promise.all([a.close(), b.close(), c.close()]);
      await lab.done?.();
    });

    it('every publication arrives, in order of topics, and an unsubscribe is final', async () => {
      const lab = await make();
      const [a, b] = [await lab.connect(), await lab.connect()];
      const heard: string[] = [];
      const off = b.subscribe('restore:x', () => heard.push('x'));
      b.subscribe('restore:y', () => heard.push('y'));
      for (const t of ['restore:x', 'restore:y', 'restore:x']) await a.publish(t);
      await expect.poll(() => heard.length, { timeout: 5000 }).toBe(3);
      expect(heard).toEqual(['x', 'y', 'x']);
      off();
      off();
      await a.publish('restore:x');
      await a.publish('restore:y');
      await expect.poll(() => heard.length, { timeout: 5000 }).toBe(4);
      await settle();
      expect(heard).toEqual(['x', 'y', 'x', 'y']);
      await Promise.all([a.close(), b.close()]);
      await lab.done?.();
    });

    it('a closed feed publishes nothing and does not throw', async () => {
      const lab = await make();
      const [a, b] = [await lab.connect(), await lab.connect()];
      let heard = 0;
      b.subscribe('job:1', () => heard++);
      await a.close();
      await expect(a.publish('job:1')).resolves.toBeUndefined();
      await settle();
      expect(heard).toBe(0);
      await b.close();
      await lab.done?.();
    });
  });
}
