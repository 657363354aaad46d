/**
 * @layer adapter
 * Follows a job's or a restore's server-sent events over a fetch Response body (the typed
 * client's `/events` routes), calling `onUpdate` with every state until the `end` event, the
 * stream's end or the AbortSignal.
 */
import { SseParser } from '../logic/sse.ts';
import { failureOf } from './failure.ts';

export async function follow<T>(res: Promise<Response> | Response, kind: 'job' | 'restore', onUpdate: (x: T) => void, signal?: AbortSignal): Promise<void> {
  const r = await res;
  if (!r.ok) throw await failureOf(r);
  if (!r.body) return;
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new SseParser();
  const stop = () => { void reader.cancel().catch(() => {}); };
  signal?.addEventListener('abort', stop, { once: true });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      for (const ev of parser.push(value)) {
        if (ev.event === kind) onUpdate(JSON.parse(ev.data) as T);
        else if (ev.event === 'end') return;
      }
    }
  } finally {
    signal?.removeEventListener('abort', stop);
    stop();
  }
}
