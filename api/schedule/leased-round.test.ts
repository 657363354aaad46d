/** A leased round runs on one instance at a time; a dead holder's round resumes elsewhere after the lease. */
import { expect, it } from 'vitest';
import { openStore } from '../../db/open.ts';
import { leasedRound, roundTtlMs } from './leased-round.ts';

it('runs on the holder only; another instance takes over once the lease has expired', async () => {
  const store = openStore(':memory:');
  let now = new Date('2026-01-01T00:00:00Z');
  const clock = () => now;
  const ran: string[] = [];
  const round = (holder: string) => leasedRound({ leases: store.leases, holder, clock }, 'scheduler', roundTtlMs(30), async () => { ran.push(holder); return holder; });
  expect(await Promise.all([round('A'), round('B')])).toEqual(['A', undefined]);
  now = new Date(now.getTime() + 30_000);
  expect(await round('B')).toBeUndefined();
  expect(await round('A')).toBe('A'); // renewed for 90 s from here
  now = new Date(now.getTime() + 89_000);
  expect(await round('B')).toBeUndefined();
  now = new Date(now.getTime() + 1_000); // A stopped ticking (dead): expired
  expect(await round('B')).toBe('B');
  expect(ran).toEqual(['A', 'A', 'B']);
  expect(roundTtlMs(10)).toBe(60_000);
  store.close();
});
