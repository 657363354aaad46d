/**
 * @layer entry
 * VMware points on the control plane (behind the sign-in middleware, root admins only):
 *
 *   GET /api/v1/restore-points/{id}/restore-plan   the dry run of restoring a VMware point into
 *       CloudStack (api/vmware/restore-plan.ts: what `sendense restore vmware` prints), from the
 *       point's platform_metadata.vmware and what CloudStack offers; `zoneId`, `serviceOfferingId`,
 *       `network=VMware name=network id` (repeated) and `virtioDrivers=true` are the admin's choices.
 *
 * `startVmwareImport` is the VMware source of `POST /api/v1/repositories/{id}/import` (that
 * route lives in maintenance.ts with the repository scan). Both are audited.
 */
import { Hono } from 'hono';
import type { Principal } from '../../auth/principal.ts';
import { MaintenanceError } from '../../retention/agent-job.ts';
import { VmwareVm } from '../../../agent/vmware/metadata.ts';
import { planChoices } from '../../vmware/plan-choices.ts';
import { restorePlan } from '../../vmware/restore-plan.ts';
import { RestorePlanQuery, type RepositoryImportBody } from '../../vmware/schemas.ts';
import type { RouteDeps } from '../deps.ts';
import type { AppContext, AppEnv } from '../env.ts';
import { ApiError, notFound } from '../errors.ts';
import { IdParam } from '../schemas.ts';
import { zParam, zQuery } from '../validate.ts';

/** the maintenance error as the API answers it (maintenance.ts maps the same codes) */
function apiError(e: unknown): unknown {
  if (!(e instanceof MaintenanceError)) return e;
  const status = { no_agent: 503, notfound: 404, busy: 409, agent_failed: 502, rejected: 502, interrupted: 503 }[e.code];
  return new ApiError(status, e.code === 'notfound' ? 'not_found' : e.code, e.message.replace(/^\[maintenance\] /, ''));
}

/** POST /api/v1/repositories/{id}/import with `source.platform: vmware`: an agent imports the export. */
export async function startVmwareImport(d: RouteDeps, c: AppContext, repositoryId: string, source: NonNullable<RepositoryImportBody['source']>) {
  const p: Principal = c.get('principal');
  return d.audit.change(c, 'repository.import', { type: 'repository', id: repositoryId }, async () => {
    d.authorizer.admin(p, 'importing a VMware export');
    if (!d.vmwareImports) throw new ApiError(503, 'unavailable', 'VMware imports are not configured on this control plane (it has no agent gateway)');
    return d.vmwareImports.start(repositoryId, { path: source.path, hostId: source.hostId, vmId: source.vmId, mode: source.mode, trigger: 'manual', requestedBy: p.username });
  }, (j) => ({ jobId: j.id, source: 'vmware', path: source.path, hostId: j.request.source && (j.request.source as { hostId?: string }).hostId }),
  { failure: (e) => e instanceof MaintenanceError }).catch((e: unknown) => { throw apiError(e); });
}

export function vmwareRoutes(d: RouteDeps) {
  const { store, authorizer, audit } = d;
  return new Hono<AppEnv>()
    .get('/api/v1/restore-points/:id/restore-plan', zParam(IdParam), zQuery(RestorePlanQuery), async (c) => {
      const { id } = c.req.valid('param');
      const q = c.req.valid('query');
      const plan = await audit.change(c, 'restore-point.restore-plan', { type: 'restore-point', id }, async () => {
        authorizer.admin(c.get('principal'), 'the restore plan of a VMware point');
        const point = await store.points.get(id);
        if (!point || point.deletedAt) throw notFound(`no restore point ${id}`);
        if (point.sourcePlatform !== 'vmware') {
          throw new ApiError(409, 'not_vmware', `restore point ${id} is a ${point.sourcePlatform} point: restore it with POST /api/v1/restore-points/${id}/restore (the plan is for VMware points)`);
        }
        const vm = VmwareVm.safeParse(point.platformMetadata?.vmware);
        if (!vm.success) {
          throw new ApiError(409, 'no_vmware_metadata', `restore point ${id} carries no VMware metadata (imported before the catalogue kept it): run POST /api/v1/repositories/${point.repositoryId}/import to record it again, or plan with \`sendense restore vmware\``);
        }
        if (!d.cloudstack) throw new ApiError(503, 'unavailable', 'this control plane has no CloudStack client to read zones, offerings and networks from');
        const choices = await planChoices(d.cloudstack, c.req.raw.signal).catch((e: unknown) => {
          throw new ApiError(502, 'cloudstack', `CloudStack did not answer the zones, offerings and networks the plan needs: ${(e as Error).message}`);
        });
        const networkMap = Object.fromEntries(q.network.map((m) => [m.slice(0, m.lastIndexOf('=')), m.slice(m.lastIndexOf('=') + 1)]));
        return {
          restorePointId: point.id, pointId: point.pointId, vmId: point.platformVmId, vmName: vm.data.name,
          plan: restorePlan({
            vm: vm.data, ...choices, zoneId: q.zoneId, serviceOfferingId: q.serviceOfferingId, networkMap, virtioDrivers: q.virtioDrivers,
            // the disks in index order are the VMware disks in controller/bus/unit order (the importer numbers them so)
            disks: point.disks.map((x) => ({ index: x.diskIndex, target: x.target, virtual_size: x.virtualSizeBytes })),
          }),
        };
      }, (r) => ({ pointId: r.pointId, ready: r.plan.ready, blockers: r.plan.blockers.length }));
      return c.json(plan, 200);
    });
}
