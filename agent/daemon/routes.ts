/**
 * @layer adapter
 * The agent daemon's HTTP API (Hono), in front of an AgentService. Routes are chained so their
 * types flow to the control plane's client: `hc<AgentAppType>` (agent/link). Bodies and queries
 * are zod-validated; every error is JSON `{"error":{"code","message"}}` with its status:
 *
 *   GET  /v1/health              200 Health (ok:false + problems when the host cannot back up)
 *   GET  /v1/domains[?disks=true] 200 {domains}
 *   POST /v1/backups             202 {job} | 400 | 404 domain-not-found | 409 busy (+ jobId)
 *                                (every body naming a repository, a file or a volume: 403 refused
 *                                with `rule` and `configKey` when the daemon's policy forbids it)
 *   POST /v1/restores            202 {job} | 400 | 409 busy (same destination file)
 *   POST /v1/verify              202 {job} | 400
 *   POST /v1/prunes              202 {job} | 400 | 409 busy (a prune or backup of the VM runs)
 *   POST /v1/imports             202 {job} | 400 | 409 busy (the same export) | 501 (VmwareImportBody:
 *                                a VMware export below the agent's import root into the repository)
 *   POST /v1/scan                200 ScanOutcome (synchronous) | 400
 *   POST /v1/exports             200 application/octet-stream: one disk of one point (ExportBody),
 *                                Content-Length up front, X-Sendense-Point / -Disk / -Format /
 *                                -Virtual-Size / -Content-Sha256 headers | 400 | 404 no such point
 *                                or disk | 422 the repository cannot produce it | 501. A damaged
 *                                block met while streaming raw ends the body early: the client
 *                                gets fewer bytes than Content-Length (a truncated download).
 *                                (all three: 200 {job} when `requestId` names a job submitted
 *                                before with the same body; 409 request-conflict for another body)
 *   GET  /v1/jobs[?state&kind&domain&vmId&limit] 200 {jobs} (newest first)
 *   GET  /v1/jobs/:id            200 {job} | 404
 *   GET  /v1/jobs/:id/events     text/event-stream of JobEvent (`event: state|progress|done`,
 *                                `data:` the JobEvent as JSON); starts with the job's current
 *                                state, ends after 'done'; a `: keepalive` comment every 15 s
 *   POST /v1/jobs/:id/cancel     202 {job} (cancelRequested) | 200 {job} (was queued: cancelled)
 *                                | 404 | 409 finished
 */
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { streamSSE } from 'hono/streaming';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { validator } from 'hono/validator';
import { z } from 'zod';
import { JOB_KINDS, JOB_STATES, type JobEvent } from './job.ts';
import { BackupBody, describeIssues, ExportBody, PruneBody, RestoreBody, ScanBody, VerifyBody } from '../engine/requests.ts';
import { exportResponse } from '../restore/http-export.ts';
import { VmwareImportBody } from '../vmware/requests.ts';
import { PolicyError } from './policy.ts';
import { JobsError, type AgentService, type JobsErrorCode, type Submitted } from './service.ts';

const STATUS: Record<JobsErrorCode, ContentfulStatusCode> = {
  'not-found': 404, 'domain-not-found': 404, busy: 409, 'request-conflict': 409, finished: 409, stopping: 503, hypervisor: 502, journal: 500,
  unsupported: 501, 'export-failed': 422, refused: 403,
};

export const KEEPALIVE_MS = 15_000;

/** An error as every route answers it. */
export function errorBody(code: string, message: string, extra: Record<string, unknown> = {}) {
  return { error: { code, message, ...extra } };
}

class BadRequest extends HTTPException {
  constructor(message: string) {
    super(400, { message });
  }
}

/** Validates a JSON body with a zod schema: the client's input type is the schema's input. */
function jsonBody<S extends z.ZodType>(schema: S): MiddlewareHandler<any, string, { in: { json: z.input<S> }; out: { json: z.output<S> } }> {
  return validator('json', (value, c) => {
    const ct = c.req.header('content-type') ?? '';
    if (!/^application\/json\b/i.test(ct)) throw new BadRequest(`the body must be JSON (Content-Type: application/json, got '${ct || 'none'}')`);
    const r = schema.safeParse(value);
    if (!r.success) throw new BadRequest(describeIssues(r.error));
    return r.data;
  }) as MiddlewareHandler;
}

function queryOf<S extends z.ZodType>(schema: S): MiddlewareHandler<any, string, { in: { query: { [K in keyof z.input<S>]?: string } }; out: { query: z.output<S> } }> {
  return validator('query', (value) => {
    const r = schema.safeParse(value);
    if (!r.success) throw new BadRequest(`query: ${describeIssues(r.error)}`);
    return r.data;
  }) as MiddlewareHandler;
}

const JobsQuery = z.strictObject({
  state: z.enum(JOB_STATES).optional(),
  kind: z.enum(JOB_KINDS).optional(),
  domain: z.string().min(1).optional(),
  vmId: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});

const DomainsQuery = z.strictObject({ disks: z.enum(['true', 'false', '1', '0']).optional() });

/** 202 for a new job, 200 for the job an earlier submission with the same requestId created */
function accepted(c: Context, s: Submitted) {
  return s.created ? c.json({ job: s.job }, 202) : c.json({ job: s.job }, 200);
}

function sse(e: JobEvent) {
  return { event: e.type, data: JSON.stringify(e) };
}

export function agentRoutes(service: AgentService) {
  const app = new Hono()
    .get('/v1/health', async (c) => c.json(await service.health(), 200))
    .get('/v1/domains', queryOf(DomainsQuery), async (c) => {
      const q = c.req.valid('query');
      return c.json({ domains: await service.domains({ disks: q.disks === 'true' || q.disks === '1' }) }, 200);
    })
    .post('/v1/backups', jsonBody(BackupBody), async (c) => accepted(c, await service.submitBackup(c.req.valid('json'))))
    .post('/v1/restores', jsonBody(RestoreBody), async (c) => accepted(c, await service.submitRestore(c.req.valid('json'))))
    .post('/v1/verify', jsonBody(VerifyBody), async (c) => accepted(c, await service.submitVerify(c.req.valid('json'))))
    .post('/v1/prunes', jsonBody(PruneBody), async (c) => accepted(c, await service.submitPrune(c.req.valid('json'))))
    .post('/v1/imports', jsonBody(VmwareImportBody), async (c) => accepted(c, await service.submitImport(c.req.valid('json'))))
    .post('/v1/scan', jsonBody(ScanBody), async (c) => c.json(await service.scan(c.req.valid('json'), c.req.raw.signal), 200))
    .post('/v1/exports', jsonBody(ExportBody), async (c) => exportResponse(await service.exportDisk(c.req.valid('json'), c.req.raw.signal), c.req.valid('json').vmId))
    .get('/v1/jobs', queryOf(JobsQuery), async (c) => c.json({ jobs: await service.list(c.req.valid('query')) }, 200))
    .get('/v1/jobs/:id', async (c) => c.json({ job: await service.get(c.req.param('id')) }, 200))
    .post('/v1/jobs/:id/cancel', async (c) => {
      const job = await service.cancel(c.req.param('id'));
      return c.json({ job }, job.state === 'cancelled' ? 200 : 202);
    })
    .get('/v1/jobs/:id/events', async (c) => {
      const id = c.req.param('id');
      await service.get(id); // a 404 before the stream starts
      return streamSSE(c, async (stream) => {
        const pending: JobEvent[] = [];
        let wake: (() => void) | undefined;
        let closed = false;
        stream.onAbort(() => { closed = true; wake?.(); });
        const unsubscribe = await service.subscribe(id, (e) => { pending.push(e); wake?.(); });
        try {
          while (!closed) {
            while (pending.length) {
              const e = pending.shift()!;
              await stream.writeSSE(sse(e));
              if (e.type === 'done') return;
            }
            let timer: ReturnType<typeof setTimeout> | undefined;
            await new Promise<void>((r) => { wake = r; timer = setTimeout(r, KEEPALIVE_MS); });
            clearTimeout(timer);
            wake = undefined;
            if (!pending.length && !closed) await stream.write(': keepalive\n\n');
          }
        } finally {
          unsubscribe();
        }
      });
    });

  app.notFound((c) => c.json(errorBody('not-found', `[agent] no route ${c.req.method} ${new URL(c.req.url).pathname}`), 404));
  app.onError((err, c) => {
    if (err instanceof JobsError) {
      const policy = err.cause instanceof PolicyError ? { rule: err.cause.rule, configKey: err.cause.configKey } : {};
      return c.json(errorBody(err.code, err.message, { ...(err.jobId ? { jobId: err.jobId } : {}), ...policy }), STATUS[err.code]);
    }
    if (err instanceof HTTPException && err.status === 400) return c.json(errorBody('invalid-request', `[agent] ${err.message}`), 400);
    if (err instanceof HTTPException) return c.json(errorBody('http', `[agent] ${err.message}`), err.status);
    return c.json(errorBody('internal', `[agent] ${err instanceof Error ? err.message : String(err)}`), 500);
  });
  return app;
}

export type AgentAppType = ReturnType<typeof agentRoutes>;
