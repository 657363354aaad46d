/**
 * @layer adapter
 * agentLink: an AgentLink that connects on demand and reconnects after a drop — what the control
 * plane keeps per KVM host. Nothing happens until the first request; a request finds the current
 * connection, or opens one (concurrent requests share the attempt). A failed attempt is not
 * cached: the next request tries again. A request in flight when the connection drops fails (it
 * is not retried: a POST may have reached the agent — submit with a requestId to retry safely).
 */
import { agentClient, type AgentClient } from './client.ts';
import { connectAgent, type AgentLink, type AgentLinkOptions } from './connect.ts';
import { LinkError } from './errors.ts';
import type { LinkFetch } from './stream-fetch.ts';

export interface ReconnectingAgentLink extends AgentLink {
  /** the current connection, opening one when there is none (or it dropped) */
  connection(signal?: AbortSignal): Promise<AgentLink>;
  /** how many connections were opened so far */
  readonly connects: number;
}

export function agentLink(o: Omit<AgentLinkOptions, 'signal'>): ReconnectingAgentLink {
  let current: Promise<AgentLink> | undefined;
  let latest: AgentLink | undefined;
  let connects = 0;
  let closed = false;
  const listeners = new Set<(why: LinkError) => void>();
  const where = `${o.username}@${o.host}:${o.port ?? 22}:${o.socketPath ?? '(default socket)'}`;

  const connection = (signal?: AbortSignal): Promise<AgentLink> => {
    if (closed) return Promise.reject(new LinkError('closed', `[link] the link to ${where} was closed`));
    if (current && latest?.closed) current = undefined;
    if (!current) {
      // not tied to this caller's signal: others may share the attempt (readyTimeoutMs bounds it)
      const attempt = connectAgent(o).then((link) => {
        connects += 1;
        latest = link;
        link.onClose((why) => { for (const l of [...listeners]) l(why); });
        return link;
      });
      current = attempt;
      attempt.catch(() => { if (current === attempt) current = undefined; });
    }
    if (!signal) return current;
    const p = current;
    return new Promise<AgentLink>((resolve, reject) => {
      if (signal.aborted) return reject(signal.reason);
      const onAbort = () => reject(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  };

  const fetch: LinkFetch = async (input, init) => (await connection(init?.signal ?? undefined)).fetch(input, init);
  const client: AgentClient = agentClient(fetch);

  return {
    where,
    client,
    fetch,
    connection,
    get connects() { return connects; },
    get hostKeyFingerprint() { return latest?.hostKeyFingerprint; },
    get closed() { return closed; },
    async close() {
      closed = true;
      const c = current;
      current = undefined;
      await (await c?.catch(() => undefined))?.close();
    },
    /** called on every drop of an underlying connection (the link itself reconnects) */
    onClose(listener) {
      listeners.add(listener);
      return () => { listeners.delete(listener); };
    },
  };
}
