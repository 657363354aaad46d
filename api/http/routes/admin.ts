/**
 * @layer entry
 * Root admins' view of the infrastructure: `POST /api/v1/discovery` (discovery now),
 * `GET /api/v1/hosts`, `/api/v1/agents`, `/api/v1/repositories`, `/api/v1/audit` and
 * `/api/v1/health` (what /healthz says, with its reasons).
 */
import { Hono } from 'hono';
import type { RouteDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';
import { AuditQuery, agentDto, hostDto, repositoryDto } from '../schemas.ts';
import { zQuery } from '../validate.ts';
import { healthOf } from './service.ts';

export function adminRoutes(d: RouteDeps) {
  const { store, authorizer, audit } = d;
  return new Hono<AppEnv>()
    .post('/api/v1/discovery', async (c) => {
      authorizer.admin(c.get('principal'), 'running discovery');
      const r = await audit.change(c, 'discovery.run', { type: 'cloudstack', id: null }, () => d.discovery.refresh(), (x) => ({ vms: x.vms, changes: x.changes.length }));
      return c.json({ ...r, changes: r.changes.map((x) => ({ ...x, from: x.from ?? null, to: x.to ?? null })) }, 200);
    })
    .get('/api/v1/health', async (c) => {
      authorizer.admin(c.get('principal'), 'the health details');
      return c.json(await healthOf(d), 200);
    })
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
      return c.json({ items: (await store.agents.list()).map((a) => agentDto(a, d.version)) }, 200);
    })
    .get('/api/v1/repositories', async (c) => {
      authorizer.admin(c.get('principal'), 'the repository list');
      const [repos, usage, vms] = await Promise.all([store.repositories.list(), store.points.usage(), store.points.usageByVm()]);
      return c.json({ items: repos.map((r) => repositoryDto(r, usage.filter((u) => u.repositoryId === r.id), vms.filter((v) => v.repositoryId === r.id))) }, 200);
    })
    .get('/api/v1/audit', zQuery(AuditQuery), async (c) => {
      authorizer.admin(c.get('principal'), 'the audit log');
      const q = c.req.valid('query');
      const items = await store.audit.list(q);
      return c.json({
        items: items.map((a) => ({ seq: a.seq, at: a.at.toISOString(), actor: a.actor, via: a.via, ip: a.ip, action: a.action, targetType: a.targetType, targetId: a.targetId, outcome: a.outcome, details: a.details })),
        limit: q.limit, offset: q.offset,
      }, 200);
    });
}
