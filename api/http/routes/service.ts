/**
 * @layer entry
 * What needs no sign-in: `GET /healthz` (the database and discovery: 200 `ok`, 503 `degraded`,
 * and the instance that answered — several may serve one database behind a load balancer —
 * nothing more: the reasons are GET /api/v1/health, for root admins), `GET /metrics`
 * (Prometheus text, with `sendense_instance_info{instance,version}`: each instance is scraped
 * on its own) and `GET /api/openapi.json`.
 */
import { Hono } from 'hono';
import { agentGauges } from '../../metrics/agents.ts';
import { maintenanceGauges } from '../../metrics/maintenance.ts';
import type { RouteDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';
import { gauges } from '../metrics.ts';
import { buildOpenApi } from '../openapi.ts';

/** The health with its reasons (the admin route shows them; /healthz only the status). */
export async function healthOf(d: Pick<RouteDeps, 'store' | 'discovery' | 'version' | 'instanceId'>) {
  let database: 'ok' | 'error' = 'ok';
  let counts = { queued: 0, running: 0 };
  try {
    const by = await d.store.jobs.countByStatus();
    counts = { queued: by.queued, running: by.dispatching + by.running + by.cancelling };
  } catch { database = 'error'; }
  const disc = d.discovery;
  const status: 'ok' | 'degraded' = database === 'ok' && !disc.lastError ? 'ok' : 'degraded';
  return {
    status, version: d.version, instance: d.instanceId ?? 'default', database, jobs: counts,
    discovery: { lastAt: disc.last?.at ?? null, lastError: disc.lastError?.message ?? null },
  };
}

export function serviceRoutes(d: RouteDeps) {
  const { store, metrics, version } = d;
  return new Hono<AppEnv>()
    .get('/healthz', async (c) => {
      const { status, instance } = await healthOf(d);
      return c.json({ status, instance }, status === 'ok' ? 200 : 503);
    })
    .get('/metrics', async (c) => {
      const info = { name: 'sendense_instance_info', help: 'This control-plane instance (several may serve one database)', type: 'gauge' as const, values: [{ labels: { instance: d.instanceId ?? 'default', version }, value: 1 }] };
      const text = metrics.render([info, ...await gauges(store, d.discovery), ...await maintenanceGauges(store), ...await agentGauges(store, version)]);
      return c.text(text, 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    })
    .get('/api/openapi.json', (c) => c.json(buildOpenApi(version)));
}
