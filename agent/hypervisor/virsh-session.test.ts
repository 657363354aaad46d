/**
 * virsh sessions against the real virsh and libvirtd: words arrive exactly as given (the same
 * as a one-shot virsh's), errors are classified alike, concurrent calls each get their own
 * reply, a command past its time limit or aborted kills only its session, idle sessions end,
 * and words a session cannot carry run as a process.
 */
import { describe, expect, it } from 'vitest';
import { HypervisorError } from './port.ts';
import { Virsh } from './virsh.ts';
import { VirshSessions } from './virsh-session.ts';

const URI = 'qemu:///system';
const WORDS = ["it's", 'a\\b', '"q"', 'semi;colon', '#hash', 'two  spaces', "{\"execute\":\"x\",\"arguments\":{\"y\":'z'}}", '$HOME', '`id`'];

describe('virsh sessions (real virsh)', () => {
  it('carries awkward words unchanged: the same output as a virsh process', async () => {
    const a = new Virsh();
    const b = new Virsh({ sessions: false });
    try {
      const viaSession = await a.call(['echo', ...WORDS]);
      expect(viaSession).toBe(await b.call(['echo', ...WORDS]));
      expect(viaSession.trim()).toBe(WORDS.join(' '));
      // a long line (readline scrolls it on its 80-column 'dumb' terminal)
      const long = 'x'.repeat(3000);
      expect((await a.call(['echo', long, 'end'])).trim()).toBe(`${long} end`);
      // and words it cannot carry still work, through a process
      expect((await a.call(['echo', 'café'])).trim()).toBe('café');
    } finally {
      a.close();
    }
  });

  it('errors read as a process\'s: code and message', async () => {
    const a = new Virsh();
    const b = new Virsh({ sessions: false });
    try {
      const e1 = await a.call(['dominfo', 'sendense-no-such-domain']).catch((e: unknown) => e);
      const e2 = await b.call(['dominfo', 'sendense-no-such-domain']).catch((e: unknown) => e);
      expect(e1).toBeInstanceOf(HypervisorError);
      expect((e1 as HypervisorError).code).toBe('not-found');
      expect((e1 as HypervisorError).message).toBe((e2 as HypervisorError).message);
      // the session goes on after a failure
      expect((await a.call(['echo', 'after'])).trim()).toBe('after');
    } finally {
      a.close();
    }
  });

  it('concurrent calls each get their own reply, on a few processes at most', async () => {
    const pool = new VirshSessions({ uri: URI, max: 3, spillMs: 1 });
    try {
      const n = 40;
      const replies = await Promise.all(Array.from({ length: n }, (_, i) => pool.exec(i % 5 === 0 ? ['dominfo', `sendense-none-${i}`] : ['echo', `reply-${i}`], { timeoutMs: 30_000 })));
      replies.forEach((r, i) => {
        if (i % 5 === 0) expect(r).toMatchObject({ ok: false, stdout: '' });
        else expect(r).toMatchObject({ ok: true, stdout: `reply-${i}`, stderr: '' });
      });
      expect(pool.size).toBeGreaterThan(0);
      expect(pool.size).toBeLessThanOrEqual(3);
    } finally {
      pool.close();
    }
  });

  it('a command past its time limit, or aborted, kills its session only; the next call works', async () => {
    const pool = new VirshSessions({ uri: URI, max: 2 });
    try {
      // `event --loop --timeout 30` waits for domain events (--loop: another test's domain event does not end it): a command that takes as long as it is told
      const t0 = Date.now();
      await expect(pool.exec(['event', '--all', '--loop', '--timeout', '30'], { timeoutMs: 300 })).rejects.toThrow(/killed after 300 ms/);
      expect(Date.now() - t0).toBeLessThan(5000);
      const ac = new AbortController();
      const waiting = pool.exec(['event', '--all', '--loop', '--timeout', '30'], { timeoutMs: 60_000, signal: ac.signal });
      const queued = pool.exec(['echo', 'queued'], { timeoutMs: 60_000 });
      setTimeout(() => ac.abort(new Error('stop now')), 200);
      await expect(waiting).rejects.toThrow('stop now');
      expect(await queued).toMatchObject({ ok: true, stdout: 'queued' });
      expect(await pool.exec(['echo', 'again'], { timeoutMs: 30_000 })).toMatchObject({ ok: true, stdout: 'again' });
    } finally {
      pool.close();
    }
  });

  it('a call aborted while it waits its turn is dropped; idle sessions end by themselves', async () => {
    const pool = new VirshSessions({ uri: URI, max: 1, idleMs: 300 });
    try {
      const slow = pool.exec(['event', '--all', '--timeout', '1'], { timeoutMs: 30_000 });
      const ac = new AbortController();
      const dropped = pool.exec(['echo', 'never'], { timeoutMs: 30_000, signal: ac.signal });
      ac.abort(new Error('not needed'));
      await expect(dropped).rejects.toThrow('not needed');
      expect((await slow).ok).toBe(true);
      expect(pool.size).toBe(1);
      const until = Date.now() + 10_000;
      while (pool.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(pool.size).toBe(0);
    } finally {
      pool.close();
    }
  });
});
