/**
 * @layer entry
 * The VMs a caller may see (CloudStack decides): `GET /api/v1/vms`, `GET /api/v1/vms/{id}`,
 * `POST /api/v1/vms/{id}/backups` (202 with the queued job), `GET /api/v1/vms/{id}/restore-points`.
 */
import { Hono } from 'hono';
import { effectiveAssignment } from '../../policy/assign.ts';
import type { RouteDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';
import { notFound } from '../errors.ts';
import { BackupBody, IdParam, PageQuery, VmListQuery, diskDto, jobDto, pointDto, viewOf, vmDto } from '../schemas.ts';
import { zJson, zParam, zQuery } from '../validate.ts';

export function vmRoutes(d: RouteDeps) {
  const { store, authorizer, runner, audit } = d;
  return new Hono<AppEnv>()
    .get('/api/v1/vms', zQuery(VmListQuery), async (c) => {
      const q = c.req.valid('query');
      const scope = await authorizer.scope(c.get('principal'));
      const filter = { scope, search: q.search, hostId: q.hostId, zoneId: q.zoneId };
      const [items, total] = await Promise.all([store.vms.list({ ...filter, limit: q.limit, offset: q.offset }), store.vms.count(filter)]);
      const view = viewOf(c.get('principal'));
      return c.json({ items: items.map((v) => vmDto(v, view)), total, limit: q.limit, offset: q.offset }, 200);
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
