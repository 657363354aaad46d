/**
 * @layer entry
 * Backup jobs of the VMs a caller may see: `GET /api/v1/jobs`, `GET /api/v1/jobs/{id}`,
 * `GET /api/v1/jobs/{id}/events` (SSE: the job at every change, then `end`) and
 * `POST /api/v1/jobs/{id}/cancel`.
 */
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { visibleAs } from '../../auth/errors.ts';
import type { Principal } from '../../auth/principal.ts';
import { JobError } from '../../jobs/errors.ts';
import { isTerminal } from '../../jobs/state.ts';
import type { RouteDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';
import { IdParam, JobListQuery, jobDto, viewOf } from '../schemas.ts';
import { zParam, zQuery } from '../validate.ts';

export function jobRoutes(d: RouteDeps) {
  const { store, authorizer, runner, audit } = d;

  /** the job, when the caller may see its VM (CloudStack decides); 404 for a job that does not exist or is not theirs */
  async function visibleJob(p: Principal, id: string) {
    const job = await store.jobs.get(id);
    if (!job) throw new JobError('notfound', `no job ${id}`);
    if (p.role !== 'root-admin') await visibleAs(authorizer.vm(p, job.platformVmId), `no job ${id}`);
    return job;
  }

  return new Hono<AppEnv>()
    .get('/api/v1/jobs', zQuery(JobListQuery), async (c) => {
      const q = c.req.valid('query');
      const p = c.get('principal');
      if (q.vmId) await authorizer.vm(p, q.vmId);
      const filter = { scope: await authorizer.scope(p), vmId: q.vmId, status: q.status };
      const [items, total] = await Promise.all([store.jobs.list({ ...filter, limit: q.limit, offset: q.offset }), store.jobs.count(filter)]);
      const view = viewOf(p);
      return c.json({ items: items.map((j) => jobDto(j, view)), total, limit: q.limit, offset: q.offset }, 200);
    })
    .get('/api/v1/jobs/:id', zParam(IdParam), async (c) => {
      const p = c.get('principal');
      const job = await visibleJob(p, c.req.valid('param').id);
      return c.json(jobDto(job, viewOf(p)), 200);
    })
    .get('/api/v1/jobs/:id/events', zParam(IdParam), async (c) => {
      const { id } = c.req.valid('param');
      const p = c.get('principal');
      await visibleJob(p, id);
      const view = viewOf(p);
      const release = d.sseSlots.take(p.userId);
      return streamSSE(c, async (stream) => {
        let wake: (() => void) | undefined;
        const pending: ReturnType<typeof jobDto>[] = [];
        const off = runner.subscribe(id, (j) => { pending.push(jobDto(j, view)); wake?.(); });
        stream.onAbort(() => { off(); release(); wake?.(); });
        try {
          const first = await store.jobs.get(id);
          if (!first) return;
          let last = jobDto(first, view);
          await stream.writeSSE({ event: 'job', data: JSON.stringify(last), id: '0' });
          let seq = 1;
          while (!isTerminal(last.status) && !stream.aborted) {
            if (pending.length === 0) {
              let timer: ReturnType<typeof setTimeout> | undefined;
              await new Promise<void>((r) => {
                wake = r;
                timer = setTimeout(r, d.sseKeepAliveMs);
              });
              clearTimeout(timer);
              wake = undefined;
              if (pending.length === 0 && !stream.aborted) await stream.write(': keep-alive\n\n');
              continue;
            }
            last = pending.shift()!;
            await stream.writeSSE({ event: 'job', data: JSON.stringify(last), id: String(seq++) });
          }
          if (!stream.aborted) await stream.writeSSE({ event: 'end', data: JSON.stringify({ status: last.status }) });
        } finally {
          off();
          release();
        }
      });
    })
    .post('/api/v1/jobs/:id/cancel', zParam(IdParam), async (c) => {
      const { id } = c.req.valid('param');
      const p = c.get('principal');
      const job = await audit.change(c, 'job.cancel', { type: 'job', id }, async () => {
        await visibleJob(p, id);
        return runner.cancel(id);
      }, (j) => ({ status: j.status }));
      return c.json(jobDto(job, viewOf(p)), 202);
    });
}
