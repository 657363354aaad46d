/**
 * @layer entry
 * Retention, verification, storage usage and import (behind the sign-in middleware):
 *
 *   GET  /api/v1/vms/{id}/retention/preview    what the VM's policy would delete and merge now, and why
 *   POST /api/v1/vms/{id}/retention/apply      prune jobs now (root admin), 202
 *   GET  /api/v1/vms/{id}/protection           storage per repository, verification summary, last prune
 *   GET  /api/v1/restore-points/{id}           one point, its disks and its verification (status, time, problems)
 *   POST /api/v1/restore-points/{id}/verify    `{restoreTest?}` → a verify job (the VM's owner may), 202
 *   GET  /api/v1/maintenance-jobs              prune / verify / import jobs (root admin; `vmId=` for a VM's owner)
 *   GET  /api/v1/maintenance-jobs/{id}
 *   GET  /api/v1/repositories/{id}/usage       bytes per VM and per source platform (root admin)
 *   POST /api/v1/repositories/{id}/import      scan the repository, record chains the database lacks (root admin), 202;
 *                                              with `{source: {platform: 'vmware', path, hostId?, vmId?, mode?}}`
 *                                              an agent imports that VMware export first (routes/vmware.ts)
 *
 * Every change is audited (who asked, and the job); the job's end is audited by the runner.
 */
import { Hono } from 'hono';
import { SOURCE_PLATFORMS } from '../../../db/schema.ts';
import { NotVisibleError, visibleAs } from '../../auth/errors.ts';
import type { Principal } from '../../auth/principal.ts';
import { MaintenanceError } from '../../retention/agent-job.ts';
import { retentionPreview } from '../../retention/preview.ts';
import { MaintenanceListQuery, maintenanceJobDto, VerifyPointBody } from '../../retention/schemas.ts';
import type { RouteDeps } from '../deps.ts';
import type { AppEnv, AppContext, AuditTarget } from '../env.ts';
import { ApiError, notFound, rawError } from '../errors.ts';
import { IdParam, pointDto, viewOf } from '../schemas.ts';
import { zJson, zParam, zQuery } from '../validate.ts';
import { RepositoryImportBody } from '../../vmware/schemas.ts';
import { startVmwareImport } from './vmware.ts';

function apiError(e: unknown): unknown {
  if (!(e instanceof MaintenanceError)) return e;
  const status = { no_agent: 503, notfound: 404, busy: 409, agent_failed: 502, rejected: 502, interrupted: 503 }[e.code];
  const message = e.message.replace(/^\[maintenance\] /, '');
  if (e.code === 'agent_failed' || e.code === 'rejected') return rawError(status, e.code, message, e);
  return new ApiError(status, e.code === 'notfound' ? 'not_found' : e.code, message);
}

export function maintenanceRoutes(deps: RouteDeps) {
  const { store, authorizer, clock, audit } = deps;
  const runner = () => {
    if (!deps.maintenance) throw new ApiError(503, 'unavailable', 'retention and verification are not configured on this control plane');
    return deps.maintenance;
  };
  /** runs a change, audited as ok / denied / error (a maintenance failure) */
  const change = <T>(c: AppContext, action: string, target: AuditTarget, fn: () => Promise<T>, details: (r: T) => Record<string, unknown>) =>
    audit.change(c, action, target, fn, details, { failure: (e) => e instanceof MaintenanceError }).catch((e: unknown) => { throw apiError(e); });
  /** the caller may act on the VM: CloudStack decides, except for root admins (an imported VM may be unknown to CloudStack) */
  const mayUseVm = async (p: Principal, vmId: string) => {
    if (p.role !== 'root-admin') await authorizer.vm(p, vmId);
  };
  const visibleJob = async (p: Principal, id: string) => {
    const job = await store.maintenance.get(id);
    if (!job) throw notFound(`no maintenance job ${id}`);
    if (p.role !== 'root-admin') {
      if (!job.platformVmId) throw new NotVisibleError(`no maintenance job ${id}`, 'repository jobs are for root admins');
      await visibleAs(authorizer.vm(p, job.platformVmId), `no maintenance job ${id}`);
    }
    return job;
  };

  return new Hono<AppEnv>()
    .get('/api/v1/vms/:id/retention/preview', zParam(IdParam), async (c) => {
      const { id } = c.req.valid('param');
      await mayUseVm(c.get('principal'), id);
      return c.json(await retentionPreview(store, id, clock()), 200);
    })
    .post('/api/v1/vms/:id/retention/apply', zParam(IdParam), async (c) => {
      const { id } = c.req.valid('param');
      const p = c.get('principal');
      const jobs = await change(c, 'retention.apply', { type: 'vm', id }, async () => {
        authorizer.admin(p, 'applying retention');
        return runner().prune(id, { trigger: 'manual', requestedBy: p.username });
      }, (js) => ({ jobs: js.map((j) => j.id), remove: js.flatMap((j) => j.request.remove as string[]) }));
      return c.json({ items: jobs.map((j) => maintenanceJobDto(j, viewOf(p))) }, 202);
    })
    .get('/api/v1/vms/:id/protection', zParam(IdParam), async (c) => {
      const { id } = c.req.valid('param');
      await mayUseVm(c.get('principal'), id);
      const [points, prunes, verifies] = await Promise.all([
        store.points.allForVm(id), store.maintenance.list({ vmId: id, kind: 'prune', limit: 1 }), store.maintenance.list({ vmId: id, kind: 'verify', limit: 1 }),
      ]);
      const repos = [...new Set(points.map((p) => p.repositoryId))].sort();
      const failed = points.filter((p) => p.verificationStatus === 'failed');
      return c.json({
        vmId: id,
        storage: repos.map((r) => {
          const ps = points.filter((p) => p.repositoryId === r);
          return { repositoryId: r, points: ps.length, bytes: ps.reduce((a, p) => a + p.sizeBytes, 0) };
        }),
        verification: {
          status: failed.length ? 'failed' : points.some((p) => p.verificationStatus === 'verified') ? 'verified' : 'unverified',
          verified: points.filter((p) => p.verificationStatus === 'verified').length,
          failed: failed.map((p) => ({ id: p.id, pointId: p.pointId, verifiedAt: p.verifiedAt ? p.verifiedAt.toISOString() : null, problems: p.verificationProblems ?? [] })),
          unverified: points.filter((p) => p.verificationStatus === 'unverified').length,
          lastJob: verifies[0] ? maintenanceJobDto(verifies[0], viewOf(c.get('principal'))) : null,
        },
        retention: { lastJob: prunes[0] ? maintenanceJobDto(prunes[0], viewOf(c.get('principal'))) : null },
      }, 200);
    })
    .get('/api/v1/restore-points/:id', zParam(IdParam), async (c) => {
      const { id } = c.req.valid('param');
      const point = await store.points.get(id);
      if (!point || point.deletedAt) throw notFound(`no restore point ${id}`);
      await visibleAs(mayUseVm(c.get('principal'), point.platformVmId), `no restore point ${id}`);
      return c.json(pointDto(point, point.disks), 200);
    })
    .post('/api/v1/restore-points/:id/verify', zParam(IdParam), zJson(VerifyPointBody), async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const p = c.get('principal');
      const job = await change(c, 'restore-point.verify', { type: 'restore-point', id }, async () => {
        const point = await store.points.get(id);
        if (!point || point.deletedAt) throw new MaintenanceError('notfound', `no restore point ${id}`);
        await visibleAs(mayUseVm(p, point.platformVmId), `no restore point ${id}`);
        return runner().verify(id, { trigger: 'manual', requestedBy: p.username, restoreTest: body.restoreTest });
      }, (j) => ({ jobId: j.id, restoreTest: body.restoreTest }));
      return c.json(maintenanceJobDto(job, viewOf(p)), 202);
    })
    .get('/api/v1/maintenance-jobs', zQuery(MaintenanceListQuery), async (c) => {
      const q = c.req.valid('query');
      const p = c.get('principal');
      if (q.vmId) await mayUseVm(p, q.vmId);
      else authorizer.admin(p, 'the maintenance job list (give vmId= for one VM)');
      const filter = { vmId: q.vmId, kind: q.kind, status: q.status ? [q.status] : undefined };
      const [items, total] = await Promise.all([store.maintenance.list({ ...filter, limit: q.limit, offset: q.offset }), store.maintenance.count(filter)]);
      return c.json({ items: items.map((j) => maintenanceJobDto(j, viewOf(p))), total, limit: q.limit, offset: q.offset }, 200);
    })
    .get('/api/v1/maintenance-jobs/:id', zParam(IdParam), async (c) => {
      return c.json(maintenanceJobDto(await visibleJob(c.get('principal'), c.req.valid('param').id), viewOf(c.get('principal'))), 200);
    })
    .get('/api/v1/repositories/:id/usage', zParam(IdParam), async (c) => {
      const { id } = c.req.valid('param');
      authorizer.admin(c.get('principal'), 'repository usage');
      const repo = await store.repositories.get(id);
      if (!repo) throw notFound(`no repository ${id}`);
      const vms = await store.points.usageByVm(id);
      const bySourcePlatform = Object.fromEntries(SOURCE_PLATFORMS.map((s) => {
        const rows = vms.filter((v) => v.sourcePlatform === s);
        return [s, { vms: rows.length, points: rows.reduce((a, v) => a + v.points, 0), bytes: rows.reduce((a, v) => a + v.bytes, 0) }];
      }));
      return c.json({
        repositoryId: id, usedBytes: repo.usedBytes, capacityBytes: repo.capacityBytes,
        total: { points: vms.reduce((a, v) => a + v.points, 0), bytes: vms.reduce((a, v) => a + v.bytes, 0) },
        bySourcePlatform,
        vms: vms.map((v) => ({ vmId: v.platformVmId, sourcePlatform: v.sourcePlatform, points: v.points, bytes: v.bytes })),
      }, 200);
    })
    .post('/api/v1/repositories/:id/import', zParam(IdParam), zJson(RepositoryImportBody), async (c) => {
      const { id } = c.req.valid('param');
      const p = c.get('principal');
      const { source } = c.req.valid('json');
      if (source) return c.json(maintenanceJobDto(await startVmwareImport(deps, c, id, source), viewOf(p)), 202);
      const job = await change(c, 'repository.import', { type: 'repository', id }, async () => {
        authorizer.admin(p, 'importing a repository');
        if (!(await store.repositories.get(id))) throw new MaintenanceError('notfound', `no repository ${id}`);
        return runner().importRepository(id, { trigger: 'manual', requestedBy: p.username });
      }, (j) => ({ jobId: j.id }));
      return c.json(maintenanceJobDto(job, viewOf(p)), 202);
    });
}
