/**
 * The ChangeFeed contract on the in-process hub and on PostgreSQL 15 LISTEN/NOTIFY (a real
 * cluster from the test lab: it fails, never skips, when PostgreSQL cannot start); and the
 * PostgreSQL feed's recovery: after the server restarts it listens again and tells every
 * subscriber once.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryChangeHub } from './changes.ts';
import { openPgChangeFeed } from './pg/changes.ts';
import { changeFeedContract } from './testing/changes.ts';
import { startPostgres, type PostgresCluster } from '../test/lab/postgres.ts';

changeFeedContract('memory', async () => {
  const hub = new MemoryChangeHub();
  return { connect: async () => hub.feed() };
});

describe('PostgreSQL', () => {
  let cluster: PostgresCluster;
  beforeAll(async () => { cluster = await startPostgres(); }, 120_000);
  afterAll(() => cluster?.destroy());
  let n = 0;

  changeFeedContract('PostgreSQL LISTEN/NOTIFY', async () => {
    const url = await cluster.createDatabase(`feed${++n}`);
    return { connect: () => openPgChangeFeed(url) };
  });

  it('listens again after the server restarted and calls every subscriber once', async () => {
    const url = await cluster.createDatabase('feedrestart');
    const a = await openPgChangeFeed(url, { retryMs: 200 });
    const b = await openPgChangeFeed(url, { retryMs: 200 });
    let heard = 0;
    b.subscribe('job:1', () => heard++);
    cluster.stop('fast');
    await expect.poll(() => b.listening(), { timeout: 10_000 }).toBe(false);
    cluster.start();
    await expect.poll(() => b.listening(), { timeout: 20_000 }).toBe(true);
    expect(heard).toBe(1);
    await a.publish('job:1');
    await expect.poll(() => heard, { timeout: 5000 }).toBe(2);
    await Promise.all([a.close(), b.close()]);
  }, 60_000);
});
