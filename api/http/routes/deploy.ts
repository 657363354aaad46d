/**
 * @layer entry
 * Deploying agents, for root admins: `POST /api/v1/agents/deploy|upgrade|remove|status` starts a
 * run on CloudStack's KVM hosts (or named addresses) and answers 202 with its id and hosts;
 * `GET /api/v1/agents/deployments/{id}` shows it (a line per host, the rows once done);
 * `GET /api/v1/agents/deployments/{id}/events` streams it as SSE (`host` progress, `row` per host,
 * `done`), replaying what happened before. Starting is audited (`agents.<operation>`), and so is
 * every host's outcome when the run ends. Without deployment wired in, the routes answer 503.
 */
import { Hono } from 'hono';
import { streamSSE } from 'hono/streaming';
import { z } from 'zod';
import type { DeploymentRun } from '../../agents/deploy/runs.ts';
import type { DeployEvent, DeployOperation } from '../../agents/deploy/report.ts';
import type { RouteDeps } from '../deps.ts';
import type { AppContext, AppEnv } from '../env.ts';
import { ApiError } from '../errors.ts';
import { zJson, zParam } from '../validate.ts';
import { DeployIdParam, DeployRunBody } from '../deploy-schemas.ts';

const RunBody = DeployRunBody;
const IdParam = DeployIdParam;

function runDto(r: DeploymentRun) {
  return {
    id: r.id, operation: r.operation, by: r.by, startedAt: r.startedAt.toISOString(), finishedAt: r.finishedAt?.toISOString() ?? null,
    state: r.rows ? 'done' as const : 'running' as const, skipped: r.skipped,
    hosts: [...r.lines.values()].map((l) => ({ host: l.host, step: l.step, fraction: l.fraction, message: l.message ?? null })),
    rows: r.rows ?? null,
  };
}

export function deployRoutes(d: RouteDeps) {
  const { authorizer, audit } = d;
  const runs = () => {
    if (!d.deployments) throw new ApiError(503, 'unavailable', 'agent deployment is not configured in this control plane (agents.identityFile, agents.deploy)');
    return d.deployments;
  };
  const startRun = async (c: AppContext, op: DeployOperation, b: z.output<typeof RunBody>) => {
    const p = c.get('principal');
    authorizer.admin(p, `${op === 'status' ? 'looking at' : 'deploying'} agents`);
    const run = await audit.change(c, `agents.${op}`, { type: 'agents', id: null }, async () => {
      try {
        return await runs().start(op, {
          hosts: b.hosts, addresses: b.addresses, zoneId: b.zoneId, clusterId: b.clusterId, includeUnavailable: b.includeUnavailable,
          fromCloudStack: b.addresses?.length ? Boolean(b.hosts?.length || b.zoneId || b.clusterId) : undefined,
          credentials: { user: b.ssh.user, ...(b.ssh.identityFile ? { identityFile: b.ssh.identityFile } : {}), ...(b.ssh.password ? { password: b.ssh.password } : {}) },
          acceptHostKeys: b.acceptHostKeys as Record<string, string> | undefined, concurrency: b.concurrency, purge: b.purge, downgrade: b.downgrade,
          drainTimeoutMs: b.drainTimeoutSeconds === undefined ? undefined : b.drainTimeoutSeconds * 1000,
        }, p.username);
      } catch (e) {
        if (e instanceof ApiError) throw e;
        throw new ApiError(400, 'invalid_request', (e as Error).message, {}, { cause: e });
      }
    }, (r) => ({ run: r.id, hosts: [...r.lines.keys()], skipped: r.skipped.map((s) => s.name), ...(b.acceptHostKeys ? { acceptedHostKeys: b.acceptHostKeys as Record<string, string> } : {}) }), { failure: (e) => e instanceof ApiError && e.status === 400 });
    void run.done.then(async (rows) => {
      for (const row of rows) {
        await audit.record(c, `agents.${op}.host`, { type: 'host', id: row.hostId ?? row.address }, row.outcome === 'failed' ? 'error' : 'ok',
          { run: run.id, host: row.name, outcome: row.outcome, code: row.code ?? null, message: row.message, version: row.version ?? null }).catch(() => {});
      }
    });
    return runDto(run);
  };
  return new Hono<AppEnv>()
    .post('/api/v1/agents/deploy', zJson(RunBody), async (c) => c.json(await startRun(c, 'deploy', c.req.valid('json')), 202))
    .post('/api/v1/agents/upgrade', zJson(RunBody), async (c) => c.json(await startRun(c, 'upgrade', c.req.valid('json')), 202))
    .post('/api/v1/agents/remove', zJson(RunBody), async (c) => c.json(await startRun(c, 'remove', c.req.valid('json')), 202))
    .post('/api/v1/agents/status', zJson(RunBody), async (c) => c.json(await startRun(c, 'status', c.req.valid('json')), 202))
    .get('/api/v1/agents/deployments/:id', zParam(IdParam), async (c) => {
      authorizer.admin(c.get('principal'), 'agent deployments');
      const run = runs().get(c.req.valid('param').id);
      if (!run) throw new ApiError(404, 'not_found', `no deployment run ${c.req.valid('param').id} (runs are kept in memory: the last 50 since the control plane started)`);
      return c.json(runDto(run), 200);
    })
    .get('/api/v1/agents/deployments/:id/events', zParam(IdParam), async (c) => {
      const p = c.get('principal');
      authorizer.admin(p, 'agent deployments');
      const { id } = c.req.valid('param');
      if (!runs().get(id)) throw new ApiError(404, 'not_found', `no deployment run ${id}`);
      const release = d.sseSlots.take(p.userId);
      return streamSSE(c, async (stream) => {
        const pending: DeployEvent[] = [];
        let wake: (() => void) | undefined;
        const off = runs().subscribe(id, (e) => { pending.push(e); wake?.(); });
        stream.onAbort(() => { off(); release(); wake?.(); });
        try {
          let seq = 0;
          for (;;) {
            if (stream.aborted) break;
            if (!pending.length) {
              let timer: ReturnType<typeof setTimeout> | undefined;
              await new Promise<void>((r) => { wake = r; timer = setTimeout(r, d.sseKeepAliveMs); });
              clearTimeout(timer);
              wake = undefined;
              if (!pending.length && !stream.aborted) await stream.write(': keep-alive\n\n');
              continue;
            }
            const e = pending.shift()!;
            await stream.writeSSE({ event: e.type, data: JSON.stringify(e.type === 'host' ? e : e.type === 'row' ? e.row : { rows: e.rows }), id: String(seq++) });
            if (e.type === 'done') break;
          }
        } finally {
          off();
          release();
        }
      });
    });
}
