/**
 * @layer entry
 * The VMs a caller may see (CloudStack decides): `GET /api/v1/vms` (searched, filtered, sorted and
 * paged by the Store, each row with its protection: one page is a handful of queries, whatever
 * the catalogue's size), `GET /api/v1/overview` (the exact figures behind the plug-in's
 * overview), `GET /api/v1/vms/{id}`, `POST /api/v1/vms/{id}/backups` (202 with the queued job),
 * `GET /api/v1/vms/{id}/restore-points`.
 */
import { Hono } from 'hono';
import { JOB_STATUSES } from '../../../db/schema.ts';
import { effectiveAssignment } from '../../policy/assign.ts';
import { nextRun } from '../../policy/schedule.ts';
import type { RouteDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';
import { notFound } from '../errors.ts';
import { BackupBody, IdParam, PageQuery, diskDto, jobDto, pointDto, viewOf, vmDto } from '../schemas.ts';
import { VmListQuery, protectionDto } from '../vm-schemas.ts';
import { zJson, zParam, zQuery } from '../validate.ts';

const DAY = 86_400_000;
const TREND_DAYS = 14;
const RUNNING = new Set<string>(['queued', 'dispatching', 'running', 'cancelling']);

export function vmRoutes(d: RouteDeps) {
  const { store, authorizer, runner, audit } = d;
  return new Hono<AppEnv>()
    .get('/api/v1/vms', zQuery(VmListQuery), async (c) => {
      const q = c.req.valid('query');
      const scope = await authorizer.scope(c.get('principal'));
      const filter = { scope, search: q.search, hostId: q.hostId, zoneId: q.zoneId, protection: q.protection, platform: q.platform, account: q.account, domainId: q.domainId };
      const [items, total] = await Promise.all([
        store.vms.list({ ...filter, sort: q.sort, descending: q.order === 'desc', limit: q.limit, offset: q.offset }), store.vms.count(filter),
      ]);
      const [facts, assignments, policies] = await Promise.all([store.vms.protection(items.map((v) => v.id)), store.policies.assignments(), store.policies.list()]);
      const byVm = new Map(facts.map((x) => [x.vmId, x]));
      const view = viewOf(c.get('principal'));
      const now = d.clock();
      return c.json({
        items: items.map((v) => {
          const a = effectiveAssignment({ id: v.id, zoneId: v.zoneId, domainId: v.domainId, account: v.account, tags: v.tags }, assignments);
          const pol = a ? policies.find((x) => x.id === a.policyId) : undefined;
          const next = pol?.enabled ? nextRun(pol.schedule, pol.timezone, now) : null;
          const prot = byVm.get(v.id) ?? { vmId: v.id, status: 'unprotected' as const, platform: 'cloudstack' as const, points: 0, lastPoint: null, chainLength: null, lastJob: null };
          return { ...vmDto(v, view), protection: protectionDto(prot, view, pol && a ? { id: pol.id, name: pol.name, assignedBy: a.kind } : null, next) };
        }),
        total, limit: q.limit, offset: q.offset,
      }, 200);
    })
    .get('/api/v1/overview', async (c) => {
      const scope = await authorizer.scope(c.get('principal'));
      const now = d.clock();
      const since = new Date(now.getTime() - DAY);
      const firstDay = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) - (TREND_DAYS - 1) * DAY);
      const [counts, act] = await Promise.all([store.vms.protectionCounts(scope), store.jobs.activity({ scope, since, daysSince: firstDay })]);
      const perDay = new Map(act.bytesPerDay.map((x) => [x.day, x.bytes]));
      const trend = Array.from({ length: TREND_DAYS }, (_, i) => {
        const day = new Date(firstDay.getTime() + i * DAY).toISOString().slice(0, 10);
        return { day, bytes: perDay.get(day) ?? 0 };
      });
      const n = act.byStatus;
      return c.json({
        vms: { total: counts.vms, protected: counts.protected, unprotected: counts.unprotected, failing: counts.failing },
        jobs24h: {
          total: JOB_STATUSES.reduce((a, s) => a + n[s], 0), succeeded: n.succeeded, failed: n.failed, cancelled: n.cancelled,
          running: JOB_STATUSES.filter((s) => RUNNING.has(s)).reduce((a, s) => a + n[s], 0), since: since.toISOString(),
        },
        trend,
      }, 200);
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
      const view = viewOf(c.get('principal'));
      return c.json({
        ...vmDto(vm, view), disks: disks.map((x) => diskDto(x, view)), restorePoints: points, lastJob: jobs[0] ? jobDto(jobs[0], view) : null,
        policy: policy && a ? { id: policy.id, name: policy.name, assignedBy: a.kind } : null,
      }, 200);
    })
    .post('/api/v1/vms/:id/backups', zParam(IdParam), zJson(BackupBody), async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const p = c.get('principal');
      const job = await audit.change(c, 'backup.start', { type: 'vm', id }, async () => {
        await authorizer.vm(p, id);
        return runner.enqueue({ vmId: id, requested: body.mode, quiesce: body.quiesce, trigger: 'manual', requestedBy: p.username });
      }, (j) => ({ jobId: j.id, type: j.type, mode: body.mode }));
      return c.json(jobDto(job, viewOf(p)), 202);
    })
    .get('/api/v1/vms/:id/restore-points', zParam(IdParam), zQuery(PageQuery), async (c) => {
      const { id } = c.req.valid('param');
      const q = c.req.valid('query');
      await authorizer.vm(c.get('principal'), id, { read: true });
      const [items, total] = await Promise.all([store.points.listForVm(id, q), store.points.countForVm(id)]);
      return c.json({ items: items.map((x) => pointDto(x)), total, limit: q.limit, offset: q.offset }, 200);
    });
}
