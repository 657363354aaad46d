/**
 * @layer entry
 * Backup policies and their assignments: `GET/POST /api/v1/policies`,
 * `GET/PATCH/DELETE /api/v1/policies/{id}` (changes: root admins),
 * `POST /api/v1/policies/{id}/assignments` and `DELETE /api/v1/policies/{id}/assignments/{assignmentId}`
 * (a VM by its owner, an account by its domain's admins, a zone or tag by root admins).
 *
 * What a caller sees and touches (root admins: everything):
 * - a policy's assignments only as far as they touch VMs the caller may see (a VM of theirs, an
 *   account in their scope, a zone or tag one of their VMs is in); a policy only when one of
 *   those is left or it is user-assignable — any other is 404, as if it did not exist;
 * - users assign only user-assignable policies, and never replace nor remove an assignment
 *   made by someone of a higher role (root admin > domain admin > user; an assignment made
 *   before roles were recorded counts as a root admin's).
 */
import { Hono } from 'hono';
import { AuthError } from '../../auth/errors.ts';
import type { Principal } from '../../auth/principal.ts';
import { assignmentTarget, matches, type AssignmentInput } from '../../policy/assign.ts';
import type { Role } from '../../auth/principal.ts';
import type { PolicyAssignment } from '../../../db/schema.ts';
import { nextRun, validateSchedule } from '../../policy/schedule.ts';
import type { RouteDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';
import { ApiError, notFound } from '../errors.ts';
import { AssignmentBody, AssignmentParam, IdParam, PolicyCreateBody, PolicyUpdateBody, assignmentDto, policyDto } from '../schemas.ts';
import { zJson, zParam } from '../validate.ts';

export function policyRoutes(d: RouteDeps) {
  const { store, authorizer, audit, clock } = d;

  const RANK: Record<Role, number> = { user: 0, 'domain-admin': 1, 'root-admin': 2 };
  const rankOf = (a: PolicyAssignment) => RANK[(a.createdByRole as Role | null) ?? 'root-admin'];

  /** the assignments the caller may see: all for a root admin, else those touching their VMs */
  const visibleTo = async (who: Principal) => {
    if (who.role === 'root-admin') return () => true;
    const scope = await authorizer.scope(who);
    const vms = (await store.vms.list({ scope, limit: 100_000 })).map((v) => ({ id: v.id, zoneId: v.zoneId, domainId: v.domainId, account: v.account, tags: v.tags }));
    return (a: PolicyAssignment) => vms.some((v) => matches(v, a));
  };

  const policyView = async (id: string, who: Principal, visible?: (a: PolicyAssignment) => boolean) => {
    const p = await store.policies.get(id);
    if (!p) throw notFound(`no policy ${id}`);
    const see = visible ?? await visibleTo(who);
    const shown = (await store.policies.assignments(id)).filter(see);
    if (who.role !== 'root-admin' && !p.userAssignable && !shown.length) throw notFound(`no policy ${id}`);
    let next: Date | null = null;
    try { next = p.enabled ? nextRun(p.schedule, p.timezone, p.lastRunAt ?? p.createdAt) : null; } catch { next = null; }
    return policyDto(p, shown, next);
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

  return new Hono<AppEnv>()
    .get('/api/v1/policies', async (c) => {
      const who = c.get('principal');
      const see = await visibleTo(who);
      const items = await Promise.all((await store.policies.list()).map((p) => policyView(p.id, who, see).catch(() => undefined)));
      return c.json({ items: items.filter((x) => x !== undefined) }, 200);
    })
    .post('/api/v1/policies', zJson(PolicyCreateBody), async (c) => {
      const body = c.req.valid('json');
      authorizer.admin(c.get('principal'), 'creating a policy');
      validateSchedule(body.schedule, body.timezone);
      if (body.verifySchedule) validateSchedule(body.verifySchedule, body.timezone);
      if (body.repositoryId && !(await store.repositories.get(body.repositoryId))) throw new ApiError(400, 'bad_request', `no repository ${body.repositoryId}`);
      const id = crypto.randomUUID();
      const now = clock();
      await audit.change(c, 'policy.create', { type: 'policy', id }, () => store.policies.create({ id, ...body, createdAt: now, updatedAt: now }), () => ({ ...body }));
      return c.json(await policyView(id, c.get('principal')), 201);
    })
    .get('/api/v1/policies/:id', zParam(IdParam), async (c) => c.json(await policyView(c.req.valid('param').id, c.get('principal')), 200))
    .patch('/api/v1/policies/:id', zParam(IdParam), zJson(PolicyUpdateBody), async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      authorizer.admin(c.get('principal'), 'changing a policy');
      const before = await store.policies.get(id);
      if (!before) throw notFound(`no policy ${id}`);
      validateSchedule(body.schedule ?? before.schedule, body.timezone ?? before.timezone);
      if (body.verifySchedule) validateSchedule(body.verifySchedule, body.timezone ?? before.timezone);
      if (body.repositoryId && !(await store.repositories.get(body.repositoryId))) throw new ApiError(400, 'bad_request', `no repository ${body.repositoryId}`);
      await audit.change(c, 'policy.update', { type: 'policy', id }, () => store.policies.update(id, body), () => ({ ...body }));
      return c.json(await policyView(id, c.get('principal')), 200);
    })
    .delete('/api/v1/policies/:id', zParam(IdParam), async (c) => {
      const { id } = c.req.valid('param');
      authorizer.admin(c.get('principal'), 'deleting a policy');
      const gone = await audit.change(c, 'policy.delete', { type: 'policy', id }, () => store.policies.delete(id));
      if (!gone) throw notFound(`no policy ${id}`);
      return c.body(null, 204);
    })
    .post('/api/v1/policies/:id/assignments', zParam(IdParam), zJson(AssignmentBody), async (c) => {
      const { id } = c.req.valid('param');
      const body = c.req.valid('json');
      const p = c.get('principal');
      const policy = await store.policies.get(id);
      if (!policy) throw notFound(`no policy ${id}`);
      const target = assignmentTarget(body);
      const a = await audit.change(c, 'policy.assign', { type: 'policy', id }, async () => {
        await mayAssign(p, body);
        if (p.role === 'user' && !policy.userAssignable) throw new AuthError('forbidden', `policy ${policy.name} is not one users may assign: ask an administrator to assign it or to make it user-assignable`);
        // assigning again replaces the target's assignment: only if the caller could remove it
        const existing = (await store.policies.assignments()).find((x) => x.kind === body.kind && x.target === target);
        if (existing && rankOf(existing) > RANK[p.role]) throw new AuthError('forbidden', `this ${body.kind} already has a policy assigned by an administrator (${existing.createdBy ?? 'unknown'}): only an administrator can change it`);
        return store.policies.assign({ policyId: id, kind: body.kind, target, createdBy: p.username, createdByRole: p.role });
      }, (x) => ({ kind: x.kind, target: x.target }));
      return c.json(assignmentDto(a), 201);
    })
    .delete('/api/v1/policies/:id/assignments/:assignmentId', zParam(AssignmentParam), async (c) => {
      const { id, assignmentId } = c.req.valid('param');
      const a = await store.policies.getAssignment(assignmentId);
      if (!a || a.policyId !== id) throw notFound(`policy ${id} has no assignment ${assignmentId}`);
      await audit.change(c, 'policy.unassign', { type: 'policy', id }, async () => {
        const who = c.get('principal');
        await mayAssign(who, parseTarget(a.kind, a.target));
        if (rankOf(a) > RANK[who.role]) throw new AuthError('forbidden', `this assignment was made by an administrator (${a.createdBy ?? 'unknown'}): only an administrator can remove it`);
        return store.policies.unassign(assignmentId);
      }, () => ({ kind: a.kind, target: a.target }));
      return c.body(null, 204);
    });
}
