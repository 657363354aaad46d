/**
 * @layer adapter
 * ChangeFeed over PostgreSQL LISTEN/NOTIFY (db/changes.ts): one dedicated connection
 * LISTENs on the channel `sendense_changes`; `publish` is `pg_notify` on a one-connection pool,
 * its payload `<origin> <topic>` — a feed drops its own origin's notifications. PostgreSQL
 * delivers a notification to every listening session once its transaction commits (ours are
 * single statements). When the listening connection is lost (server restart, network), it is
 * opened again every `retryMs` and, once back, every subscriber is called once (it may have
 * missed a change while away). Nothing here throws at a caller: a failed publish is logged.
 */
import pg from 'pg';
import { TopicListeners, type ChangeFeed } from '../changes.ts';
import { parsePgUrl } from './open.ts';

export const CHANGES_CHANNEL = 'sendense_changes';

export interface PgChangeFeedOptions {
  /** ms between reconnection attempts of the listening connection (default 1000) */
  retryMs?: number;
  log?: (msg: string) => void;
}

/** Opens the feed; resolves once it listens (rejects when the first connection fails). */
export async function openPgChangeFeed(url: string, o: PgChangeFeedOptions = {}): Promise<ChangeFeed & { listening(): boolean }> {
  parsePgUrl(url);
  const origin = crypto.randomUUID();
  const listeners = new TopicListeners();
  const pub = new pg.Pool({ connectionString: url, max: 1, connectionTimeoutMillis: 10_000 });
  pub.on('error', () => undefined);
  let closed = false;
  let client: pg.Client | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;

  const onNotification = (n: pg.Notification) => {
    if (n.channel !== CHANGES_CHANNEL || !n.payload) return;
    const at = n.payload.indexOf(' ');
    if (at < 0 || n.payload.slice(0, at) === origin) return;
    listeners.fire(n.payload.slice(at + 1));
  };

  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
    c.on('notification', onNotification);
    const lost = (e?: Error) => {
      if (client !== c) return;
      client = undefined;
      c.removeAllListeners('notification');
      void c.end().catch(() => undefined);
      if (closed) return;
      o.log?.(`[changes] the LISTEN connection was lost${e ? ` (${e.message})` : ''}; reconnecting every ${o.retryMs ?? 1000} ms`);
      schedule();
    };
    c.on('error', lost);
    c.on('end', () => lost());
    await c.connect();
    await c.query(`LISTEN ${CHANGES_CHANNEL}`);
    if (closed) { await c.end().catch(() => undefined); return; }
    client = c;
  };
  const schedule = () => {
    retry = setTimeout(() => {
      retry = undefined;
      connect().then(() => { if (client) { o.log?.('[changes] listening again'); listeners.fireAll(); } }, () => { if (!closed) schedule(); });
    }, o.retryMs ?? 1000);
    retry.unref?.();
  };

  try {
    await connect();
  } catch (e) {
    await pub.end().catch(() => undefined);
    throw e;
  }
  return {
    async publish(topic) {
      if (closed) return;
      try {
        await pub.query('select pg_notify($1, $2)', [CHANGES_CHANNEL, `${origin} ${topic}`]);
      } catch (e) {
        o.log?.(`[changes] publish ${topic}: ${(e as Error).message}`);
      }
    },
    subscribe: (topic, fn) => listeners.add(topic, fn),
    listening: () => client !== undefined,
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const c = client;
      client = undefined;
      await Promise.allSettled([c?.end(), pub.end()]);
    },
  };
}
