/**
 * @layer adapter
 * The daemon's typed client: `hc<AgentAppType>` over any fetch (the SSH link's, or `app.request`
 * in tests), and `agentJson`, which turns an error answer into an AgentApiError carrying the
 * agent's code and message (and, for 'busy', the job to follow instead).
 */
import { hc } from 'hono/client';
import type { AgentAppType } from '../daemon/routes.ts';
import { AgentApiError } from './errors.ts';
import type { LinkFetch } from './stream-fetch.ts';

/** the origin the client puts in URLs; the link ignores it (the socket is the address) */
export const AGENT_ORIGIN = 'http://sendense-agent';

export function agentClient(fetch: LinkFetch) {
  return hc<AgentAppType>(AGENT_ORIGIN, { fetch });
}

export type AgentClient = ReturnType<typeof agentClient>;

/** The JSON of a successful answer; an error answer (or a body that is not JSON) throws AgentApiError. */
export async function agentJson<T>(res: { ok: boolean; status: number; json(): Promise<T>; text(): Promise<string> }): Promise<T> {
  if (res.ok) return res.json();
  const text = await res.text().catch(() => '');
  let err: { code?: unknown; message?: unknown; jobId?: unknown } | undefined;
  try {
    err = (JSON.parse(text) as { error?: typeof err }).error;
  } catch { /* not JSON */ }
  const code = typeof err?.code === 'string' ? err.code : 'http';
  const message = typeof err?.message === 'string' ? err.message : `[link] the agent answered HTTP ${res.status}: ${text.slice(0, 200)}`;
  throw new AgentApiError(res.status, code, message, typeof err?.jobId === 'string' ? err.jobId : undefined);
}
