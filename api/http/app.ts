/**
 * @layer entry
 * The control plane's REST API as a Hono app: `createApp(deps)` builds a plain fetch handler
 * from its dependencies (no globals, no I/O at import); `AppType` gives `hc<AppType>` clients
 * their types. Routes (zod-validated; the OpenAPI document at /api/openapi.json):
 *
 *   POST /api/v1/auth/login                 CloudStack username/password/domain → token
 *   GET  /api/v1/auth/me
 *   GET  /api/v1/vms, /api/v1/vms/{id}      VMs the caller may see (CloudStack decides)
 *   POST /api/v1/vms/{id}/backups           202 with the queued job
 *   GET  /api/v1/vms/{id}/restore-points
 *   POST /api/v1/discovery                  discovery now (root admin)
 *   GET  /api/v1/jobs, /api/v1/jobs/{id}, /api/v1/jobs/{id}/events (SSE), POST /api/v1/jobs/{id}/cancel
 *   GET/POST /api/v1/policies, GET/PATCH/DELETE /api/v1/policies/{id},
 *   POST /api/v1/policies/{id}/assignments, DELETE /api/v1/policies/{id}/assignments/{assignmentId}
 *   GET  /api/v1/hosts, /api/v1/agents, /api/v1/repositories, /api/v1/audit   (root admin)
 *   POST /api/v1/restore-points/{id}/restore, GET /api/v1/restore-points/{id}/download,
 *   GET  /api/v1/restores[/{id}[/events]], POST /api/v1/restores/{id}/cancel   (restore-routes.ts)
 *   GET  /healthz, /metrics, /api/openapi.json                                  (no sign-in)
 *
 * Every /api/v1 route but login needs `Authorization: Bearer <token>` or a request signed with
 * a CloudStack API key (api/auth/request-signature.ts). Errors are `{"error":{"code","message"}}`
 * (one onError, api/http/errors.ts); every change and every refused change is in the audit log.
 */
import { Hono, type Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { routePath } from 'hono/route';
import { streamSSE } from 'hono/streaming';
import type { Store } from '../../db/store.ts';
import type { Discovery } from '../discovery/discover.ts';
import type { Authorizer } from '../auth/authorize.ts';
import { AuthError } from '../auth/errors.ts';
import type { Identity } from '../auth/identity.ts';
import { hasSignature } from '../auth/request-signature.ts';
import type { Principal } from '../auth/principal.ts';
import { JobError } from '../jobs/errors.ts';
import type { JobRunner } from '../jobs/runner.ts';
import { isTerminal } from '../jobs/state.ts';
import { assignmentTarget, effectiveAssignment, type AssignmentInput } from '../policy/assign.ts';
import { nextRun, validateSchedule } from '../policy/schedule.ts';
import { MetricsRegistry } from '../metrics/registry.ts';
import { maintenanceGauges } from '../metrics/maintenance.ts';
import { maintenanceRoutes } from '../retention/routes.ts';
import type { MaintenanceRunner } from '../retention/runner.ts';
import type { AgentGateway } from '../agents/port.ts';
import type { RestoreRunner } from '../restore/runner.ts';
import { restoreRoutes } from './restore-routes.ts';
import { ApiError, errorBody, notFound, toApiError } from './errors.ts';
import { buildOpenApi } from './openapi.ts';
import { gauges } from './metrics.ts';
import {
  AssignmentBody, AssignmentParam, AuditQuery, BackupBody, IdParam, JobListQuery, LoginBody, PolicyCreateBody, PolicyUpdateBody, PageQuery,
  VmListQuery, agentDto, assignmentDto, diskDto, hostDto, jobDto, pointDto, policyDto, repositoryDto, vmDto,
} from './schemas.ts';
import { zJson, zParam, zQuery } from './validate.ts';

export interface AppDeps {
  store: Store;
  identity: Identity;
  authorizer: Authorizer;
  runner: JobRunner;
  discovery: Discovery;
  metrics?: MetricsRegistry;
  version?: string;
  /** the client's address (rate limit, audit log); default: the Node socket's remote address */
  clientAddress?: (c: Context) => string;
  clock?: () => Date;
  log?: (msg: string) => void;
  /** SSE comment lines keep idle connections open (default 15 s) */
  sseKeepAliveMs?: number;
  /** restores (api/restore/runner.ts) and the gateway downloads stream from; without them the restore routes answer 503 */
  restores?: RestoreRunner;
  gateway?: AgentGateway;
  /** prune, verify and import jobs (api/retention/runner.ts); without it those routes answer 503 */
  maintenance?: MaintenanceRunner;
}

export type AppEnv = { Variables: { principal: Principal } };

function nodeAddress(c: Context): string {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress ?? 'unknown';
}

export function createApp(deps: AppDeps) {
  const { store, identity, authorizer, runner } = deps;
  const clock = deps.clock ?? (() => new Date());
  const metrics = deps.metrics ?? new MetricsRegistry();
  const addressOf = deps.clientAddress ?? nodeAddress;
  const log = deps.log ?? ((m: string) => console.error(m));
  const version = deps.version ?? '0.1.0';

  /** appends an audit entry for the caller's change (or refused change) */
  const audit = async (c: Context<AppEnv>, action: string, target: { type: string; id: string | null }, outcome: 'ok' | 'denied' | 'error', details?: Record<string, unknown>) => {
    const p = c.get('principal') as Principal | undefined;
    await store.audit.append({
      at: clock(), actor: p?.username ?? 'anonymous', actorId: p?.userId ?? null, actorAccount: p?.account ?? null, actorDomainId: p?.domainId ?? null,
      via: p?.via ?? 'none', ip: addressOf(c), action, targetType: target.type, targetId: target.id, outcome, details: details ?? null,
    });
  };
  /** runs a change: audited as ok, or as denied when authorization refuses it */
  const change = async <T>(c: Context<AppEnv>, action: string, target: { type: string; id: string | null }, fn: () => Promise<T>, details?: (r: T) => Record<string, unknown>): Promise<T> => {
    try {
      const r = await fn();
      await audit(c, action, target, 'ok', details?.(r));
      return r;
    } catch (e) {
      if (e instanceof AuthError && e.code === 'forbidden') await audit(c, action, target, 'denied', { reason: e.message });
      throw e;
    }
  };

  const policyView = async (id: string) => {
    const p = await store.policies.get(id);
    if (!p) throw notFound(`no policy ${id}`);
    let next: Date | null = null;
    try { next = p.enabled ? nextRun(p.schedule, p.timezone, p.lastRunAt ?? p.createdAt) : null; } catch { next = null; }
    return policyDto(p, await store.policies.assignments(id), next);
  };

  /** who may assign a target: vm by the VM's owner (CloudStack decides), account by its domain's admins, zone and tag by root admins */
  const mayAssign = async (p: Principal, a: AssignmentInput) => {
    if (a.kind === 'vm') { await authorizer.vm(p, a.vmId); return; }
    if (a.kind === 'account') {
      const scope = await authorizer.scope(p);
      const ok = scope.kind === 'all' || (scope.kind === 'domains' && scope.domainIds.includes(a.domainId))
        || (scope.kind === 'account' && scope.domainId === a.domainId && scope.account === a.account);
      if (!ok) throw new AuthError('forbidden', `account ${a.account} is not in ${p.username}'s reach`);
      return;
    }
    authorizer.admin(p, `assigning a policy to a ${a.kind}`);
  };
  const parseTarget = (kind: string, target: string): AssignmentInput => {
    if (kind === 'vm') return { kind, vmId: target };
    if (kind === 'zone') return { kind, zoneId: target };
    if (kind === 'account') { const i = target.indexOf('/'); return { kind, domainId: target.slice(0, i), account: target.slice(i + 1) }; }
    const i = target.indexOf('=');
    return { kind: 'tag', key: target.slice(0, i), value: target.slice(i + 1) };
  };

  const app = new Hono<AppEnv>();

  app.onError((err, c) => {
    let e: ApiError;
    if (err instanceof HTTPException) e = new ApiError(err.status, err.status === 404 ? 'not_found' : 'bad_request', err.message || 'bad request');
    else e = toApiError(err);
    if (e.status >= 500) log(`[api] ${c.req.method} ${c.req.path}: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    for (const [k, v] of Object.entries(e.headers)) c.header(k, v);
    return c.json(errorBody(e), e.status as 400);
  });
  app.notFound((c) => c.json(errorBody(notFound(`no route ${c.req.method} ${c.req.path}`)), 404));

  app.use('*', async (c, next) => {
    const t0 = performance.now();
    await next();
    const labels = { method: c.req.method, route: routePath(c, -1) || c.req.path, status: String(c.res.status) };
    metrics.inc('sendense_http_requests_total', 'HTTP requests answered', labels);
    metrics.observe('sendense_http_request_duration_seconds', 'HTTP request duration', { method: labels.method, route: labels.route }, (performance.now() - t0) / 1000);
  });

  // who is calling: a Sendense token, or a request signed with a CloudStack API key
  app.use('/api/v1/*', async (c, next) => {
    if (c.req.path === '/api/v1/auth/login') return next();
    const auth = c.req.header('authorization');
    const url = new URL(c.req.url);
    let principal: Principal;
    if (auth) {
      const m = /^Bearer\s+(\S+)$/i.exec(auth);
      if (!m) throw new AuthError('unauthenticated', 'Authorization must be "Bearer <token>"');
      principal = identity.fromToken(m[1]);
    } else if (hasSignature(url.searchParams)) {
      const body = c.req.method === 'GET' || c.req.method === 'HEAD' ? undefined : await c.req.text();
      principal = await identity.fromSignedRequest(c.req.method, url.pathname, url.searchParams, body);
    } else {
      throw new AuthError('unauthenticated', 'sign in (POST /api/v1/auth/login) and send "Authorization: Bearer <token>", or sign the request with your CloudStack API key');
    }
    c.set('principal', principal);
    return next();
  });

  const routes = app
    .get('/healthz', async (c) => {
      let database: 'ok' | 'error' = 'ok';
      let counts = { queued: 0, running: 0 };
      try {
        const by = await store.jobs.countByStatus();
        counts = { queued: by.queued, running: by.dispatching + by.running + by.cancelling };
      } catch { database = 'error'; }
      const d = deps.discovery;
      const status = database === 'ok' && !d.lastError ? 'ok' : 'degraded';
      return c.json({
        status, version, database, jobs: counts,
        discovery: { lastAt: d.last?.at ?? null, lastError: d.lastError?.message ?? null },
      } as const, status === 'ok' ? 200 : 503);
    })
    .get('/metrics', async (c) => {
      const text = metrics.render([...await gauges(store, deps.discovery), ...await maintenanceGauges(store)]);
      return c.text(text, 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    })
    .get('/api/openapi.json', (c) => c.json(buildOpenApi(version)))

    // ---- auth ----
    .post('/api/v1/auth/login', zJson(LoginBody), async (c) => {
      const body = c.req.valid('json');
      const ip = addressOf(c);
      try {
        const r = await identity.login({ ...body, clientAddress: ip });
        await store.audit.append({
          at: clock(), actor: r.principal.username, actorId: r.principal.userId, actorAccount: r.principal.account, actorDomainId: r.principal.domainId,
          via: 'password', ip, action: 'auth.login', targetType: 'user', targetId: r.principal.userId, outcome: 'ok', details: { role: r.principal.role },
        });
        return c.json({ token: r.token, expiresAt: r.expiresAt.toISOString(), user: { ...r.principal, accountId: r.principal.accountId ?? null } }, 200);
      } catch (e) {
        if (e instanceof AuthError && e.code !== 'unavailable') {
          await store.audit.append({
            at: clock(), actor: body.username, via: 'password', ip, action: 'auth.login', targetType: 'user', targetId: null,
            outcome: 'denied', details: { reason: e.message, domain: body.domain ?? body.domainId ?? '/' },
          });
        }
        throw e;
      }
    })
    .get('/api/v1/auth/me', (c) => {
      const p = c.get('principal');
      return c.json({ ...p, accountId: p.accountId ?? null }, 200);
    })

    // ---- VMs ----
    .get('/api/v1/vms', zQuery(VmListQuery), async (c) => {
      const q = c.req.valid('query');
      const scope = await authorizer.scope(c.get('principal'));
      const filter = { scope, search: q.search, hostId: q.hostId, zoneId: q.zoneId };
      const [items, total] = await Promise.all([store.vms.list({ ...filter, limit: q.limit, offset: q.offset }), store.vms.count(filter)]);
      return c.json({ items: items.map(vmDto), total, limit: q.limit, offset: q.offset }, 200);
    })
    .post('/api/v1/discovery', async (c) => {
      authorizer.admin(c.get('principal'), 'running discovery');
      const r = await change(c, 'discovery.run', { type: 'cloudstack', id: null }, () => deps.discovery.refresh(), (x) => ({ vms: x.vms, changes: x.changes.length }));
      return c.json({ ...r, changes: r.changes.map((x) => ({ ...x, from: x.from ?? null, to: x.to ?? null })) }, 200);
    })
    .get('/api/v1/vms/:id', zParam(IdParam), async (c) => {
      const { id } = c.req.valid('param');
      await authorizer.vm(c.get('principal'), id);
      const vm = await store.vms.get(id);
      if (!vm) throw notFound(`VM ${id} is in CloudStack but not discovered yet: run discovery (POST /api/v1/discovery) or wait for the next pass`);
      const [disks, assignments, points, jobs] = await Promise.all([
        store.vms.disks(id), store.policies.assignments(), store.points.countForVm(id), store.jobs.list({ vmId: id, limit: 1 }),
      ]);
      const a = effectiveAssignment({ id: vm.id, zoneId: vm.zoneId, domainId: vm.domainId, account: vm.account, tags: vm.tags }, assignments);
      const policy = a ? await store.policies.get(a.policyId) : undefined;
      return c.json({
        ...vmDto(vm), disks: disks.map(diskDto), restorePoints: points, lastJob: jobs[0] ? jobDto(jobs[0]) : null,
        policy: policy && a ? { id: policy.id, name: policy.name, assignedBy: a.kind } : null,
      }, 200);
    })
    .post('/api/v1/vms/:id/backups', zParam(IdParam), zJson(BackupBody), async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const p = c.get('principal');
      const job = await change(c, 'backup.start', { type: 'vm', id }, async () => {
        await authorizer.vm(p, id);
        return runner.enqueue({ vmId: id, requested: body.mode, quiesce: body.quiesce, trigger: 'manual', requestedBy: p.username });
      }, (j) => ({ jobId: j.id, type: j.type, mode: body.mode }));
      return c.json(jobDto(job), 202);
    })
    .get('/api/v1/vms/:id/restore-points', zParam(IdParam), zQuery(PageQuery), async (c) => {
      const { id } = c.req.valid('param');
      const q = c.req.valid('query');
      await authorizer.vm(c.get('principal'), id, { read: true });
      const [items, total] = await Promise.all([store.points.listForVm(id, q), store.points.countForVm(id)]);
      return c.json({ items: items.map((x) => pointDto(x)), total, limit: q.limit, offset: q.offset }, 200);
    })

    // ---- jobs ----
    .get('/api/v1/jobs', zQuery(JobListQuery), async (c) => {
      const q = c.req.valid('query');
      const p = c.get('principal');
      if (q.vmId) await authorizer.vm(p, q.vmId);
      const filter = { scope: await authorizer.scope(p), vmId: q.vmId, status: q.status };
      const [items, total] = await Promise.all([store.jobs.list({ ...filter, limit: q.limit, offset: q.offset }), store.jobs.count(filter)]);
      return c.json({ items: items.map(jobDto), total, limit: q.limit, offset: q.offset }, 200);
    })
    .get('/api/v1/jobs/:id', zParam(IdParam), async (c) => {
      const job = await visibleJob(c.get('principal'), c.req.valid('param').id);
      return c.json(jobDto(job), 200);
    })
    .get('/api/v1/jobs/:id/events', zParam(IdParam), async (c) => {
      const { id } = c.req.valid('param');
      await visibleJob(c.get('principal'), id);
      return streamSSE(c, async (stream) => {
        let wake: (() => void) | undefined;
        const pending: ReturnType<typeof jobDto>[] = [];
        const off = runner.subscribe(id, (j) => { pending.push(jobDto(j)); wake?.(); });
        stream.onAbort(() => { off(); wake?.(); });
        try {
          const first = await store.jobs.get(id);
          if (!first) return;
          let last = jobDto(first);
          await stream.writeSSE({ event: 'job', data: JSON.stringify(last), id: '0' });
          let seq = 1;
          while (!isTerminal(last.status) && !stream.aborted) {
            if (pending.length === 0) {
              let timer: ReturnType<typeof setTimeout> | undefined;
              await new Promise<void>((r) => {
                wake = r;
                timer = setTimeout(r, deps.sseKeepAliveMs ?? 15_000);
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
        }
      });
    })
    .post('/api/v1/jobs/:id/cancel', zParam(IdParam), async (c) => {
      const { id } = c.req.valid('param');
      const p = c.get('principal');
      const job = await change(c, 'job.cancel', { type: 'job', id }, async () => {
        await visibleJob(p, id);
        return runner.cancel(id);
      }, (j) => ({ status: j.status }));
      return c.json(jobDto(job), 202);
    })

    // ---- policies ----
    .get('/api/v1/policies', async (c) => {
      const list = await store.policies.list();
      return c.json({ items: await Promise.all(list.map((p) => policyView(p.id))) }, 200);
    })
    .post('/api/v1/policies', zJson(PolicyCreateBody), async (c) => {
      const body = c.req.valid('json');
      authorizer.admin(c.get('principal'), 'creating a policy');
      validateSchedule(body.schedule, body.timezone);
      if (body.verifySchedule) validateSchedule(body.verifySchedule, body.timezone);
      if (body.repositoryId && !(await store.repositories.get(body.repositoryId))) throw new ApiError(400, 'bad_request', `no repository ${body.repositoryId}`);
      const id = crypto.randomUUID();
      const now = clock();
      await change(c, 'policy.create', { type: 'policy', id }, () => store.policies.create({ id, ...body, createdAt: now, updatedAt: now }), () => ({ ...body }));
      return c.json(await policyView(id), 201);
    })
    .get('/api/v1/policies/:id', zParam(IdParam), async (c) => c.json(await policyView(c.req.valid('param').id), 200))
    .patch('/api/v1/policies/:id', zParam(IdParam), zJson(PolicyUpdateBody), async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      authorizer.admin(c.get('principal'), 'changing a policy');
      const before = await store.policies.get(id);
      if (!before) throw notFound(`no policy ${id}`);
      validateSchedule(body.schedule ?? before.schedule, body.timezone ?? before.timezone);
      if (body.verifySchedule) validateSchedule(body.verifySchedule, body.timezone ?? before.timezone);
      if (body.repositoryId && !(await store.repositories.get(body.repositoryId))) throw new ApiError(400, 'bad_request', `no repository ${body.repositoryId}`);
      await change(c, 'policy.update', { type: 'policy', id }, () => store.policies.update(id, body), () => ({ ...body }));
      return c.json(await policyView(id), 200);
    })
    .delete('/api/v1/policies/:id', zParam(IdParam), async (c) => {
      const { id } = c.req.valid('param');
      authorizer.admin(c.get('principal'), 'deleting a policy');
      const gone = await change(c, 'policy.delete', { type: 'policy', id }, () => store.policies.delete(id));
      if (!gone) throw notFound(`no policy ${id}`);
      return c.body(null, 204);
    })
    .post('/api/v1/policies/:id/assignments', zParam(IdParam), zJson(AssignmentBody), async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const p = c.get('principal');
      if (!(await store.policies.get(id))) throw notFound(`no policy ${id}`);
      const a = await change(c, 'policy.assign', { type: 'policy', id }, async () => {
        await mayAssign(p, body);
        return store.policies.assign({ policyId: id, kind: body.kind, target: assignmentTarget(body), createdBy: p.username });
      }, (x) => ({ kind: x.kind, target: x.target }));
      return c.json(assignmentDto(a), 201);
    })
    .delete('/api/v1/policies/:id/assignments/:assignmentId', zParam(AssignmentParam), async (c) => {
      const { id, assignmentId } = c.req.valid('param');
      const a = await store.policies.getAssignment(assignmentId);
      if (!a || a.policyId !== id) throw notFound(`policy ${id} has no assignment ${assignmentId}`);
      await change(c, 'policy.unassign', { type: 'policy', id }, async () => {
        await mayAssign(c.get('principal'), parseTarget(a.kind, a.target));
        return store.policies.unassign(assignmentId);
      }, () => ({ kind: a.kind, target: a.target }));
      return c.body(null, 204);
    })

    // ---- infrastructure (root admins) ----
    .get('/api/v1/hosts', async (c) => {
      authorizer.admin(c.get('principal'), 'the host list');
      const [hosts, agents, jobs] = await Promise.all([store.hosts.list(), store.agents.list(), store.jobs.unfinished()]);
      const items = await Promise.all(hosts.map(async (h) => hostDto(
        h, agents.find((a) => a.hostId === h.id), await store.vms.count({ hostId: h.id }),
        jobs.filter((j) => j.kvmHostId === h.id && j.status !== 'queued').length,
      )));
      return c.json({ items }, 200);
    })
    .get('/api/v1/agents', async (c) => {
      authorizer.admin(c.get('principal'), 'the agent list');
      return c.json({ items: (await store.agents.list()).map(agentDto) }, 200);
    })
    .get('/api/v1/repositories', async (c) => {
      authorizer.admin(c.get('principal'), 'the repository list');
      const [repos, usage] = await Promise.all([store.repositories.list(), store.points.usage()]);
      return c.json({ items: repos.map((r) => repositoryDto(r, usage.filter((u) => u.repositoryId === r.id))) }, 200);
    })
    .get('/api/v1/audit', zQuery(AuditQuery), async (c) => {
      authorizer.admin(c.get('principal'), 'the audit log');
      const q = c.req.valid('query');
      const items = await store.audit.list(q);
      return c.json({
        items: items.map((a) => ({ seq: a.seq, at: a.at.toISOString(), actor: a.actor, via: a.via, ip: a.ip, action: a.action, targetType: a.targetType, targetId: a.targetId, outcome: a.outcome, details: a.details })),
        limit: q.limit, offset: q.offset,
      }, 200);
    })
    // ---- retention, verification, storage usage, import (api/retention/routes.ts) ----
    .route('/', maintenanceRoutes({ store, authorizer, maintenance: deps.maintenance, clock, addressOf }))
    // ---- restores: in place, new volume, download (api/http/restore-routes.ts) ----
    .route('/', restoreRoutes({ store, authorizer, restores: deps.restores, gateway: deps.gateway, change, sseKeepAliveMs: deps.sseKeepAliveMs, clock }));

  /** the job, when the caller may see its VM (CloudStack decides); 404 for a job that does not exist */
  async function visibleJob(p: Principal, id: string) {
    const job = await store.jobs.get(id);
    if (!job) throw new JobError('notfound', `no job ${id}`);
    if (p.role !== 'root-admin') await authorizer.vm(p, job.platformVmId);
    return job;
  }

  return routes;
}

export type AppType = ReturnType<typeof createApp>;
