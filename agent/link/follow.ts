/**
 * @layer adapter
 * Following a job: `jobEvents` reads a job's event stream (GET /v1/jobs/:id/events) as JobEvents,
 * and `followJob` runs it to the end — every event to `onEvent`, the finished job as the result.
 * A stream that ends before 'done' (the link dropped, the agent stopped) rejects; the job itself
 * is still on the agent, and GET /v1/jobs/:id finds it.
 */
import type { JobEvent, JobRecord } from '../daemon/job.ts';
import { agentJson, type AgentClient } from './client.ts';
import { LinkError } from './errors.ts';
import { SseParser } from './sse.ts';

export async function* jobEvents(res: Response): AsyncGenerator<JobEvent> {
  if (!res.body) return;
  const parser = new SseParser();
  const decoder = new TextDecoder();
  const reader = res.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const m of parser.push(decoder.decode(value, { stream: true }))) yield JSON.parse(m.data) as JobEvent;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

export async function followJob(client: AgentClient, id: string, o: { onEvent?: (e: JobEvent) => void; signal?: AbortSignal } = {}): Promise<JobRecord> {
  const res = await client.v1.jobs[':id'].events.$get({ param: { id } }, { init: { signal: o.signal } });
  if (!res.ok) await agentJson(res);
  try {
    for await (const e of jobEvents(res)) {
      o.onEvent?.(e);
      if (e.type === 'done') return e.job;
    }
  } catch (e) {
    o.signal?.throwIfAborted();
    if (e instanceof LinkError) throw e;
    throw new LinkError('closed', `[link] the event stream of job ${id} broke before the job finished (${(e as Error).message}): ask GET /v1/jobs/${id}`, { cause: e });
  }
  o.signal?.throwIfAborted();
  throw new LinkError('closed', `[link] the event stream of job ${id} ended before the job finished (the link or the agent went away): ask GET /v1/jobs/${id}`);
}
