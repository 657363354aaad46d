/**
 * @layer entry
 * What needs no sign-in: `GET /healthz` (the database and discovery: 200 `ok`, 503 `degraded`,
 * and nothing more: the reasons are GET /api/v1/health, for root admins), `GET /metrics`
 * (Prometheus text) and `GET /api/openapi.json`.
 */
import { Hono } from 'hono';
import { agentGauges } from '../../metrics/agents.ts';
import { maintenanceGauges } from '../../metrics/maintenance.ts';
import type { RouteDeps } from '../deps.ts';
import type { AppEnv } from '../env.ts';
import { gauges } from '../metrics.ts';
import { buildOpenApi } from '../openapi.ts';

/** The health with its reasons (the admin route shows them; /healthz only the status). */
export async function healthOf(d: Pick<RouteDeps, 'store' | 'discovery' | 'version'>) {
  let database: 'ok' | 'error' = 'ok';
  let counts = { queued: 0, running: 0 };
  try {
    const by = await d.store.jobs.countByStatus();
    counts = { queued: by.queued, running: by.dispatching + by.running + by.cancelling };
  } catch { database = 'error'; }
  const disc = d.discovery;
  const status: 'ok' | 'degraded' = database === 'ok' && !disc.lastError ? 'ok' : 'degraded';
  return {
    status, version: d.version, database, jobs: counts,
    discovery: { lastAt: disc.last?.at ?? null, lastError: disc.lastError?.message ?? null },
  };
}

export function serviceRoutes(d: RouteDeps) {
  const { store, metrics, version } = d;
  return new Hono<AppEnv>()
    .get('/healthz', async (c) => {
      const { status } = await healthOf(d);
      return c.json({ status }, status === 'ok' ? 200 : 503);
    })
    .get('/metrics', async (c) => {
      const text = metrics.render([...await gauges(store, d.discovery), ...await maintenanceGauges(store), ...await agentGauges(store, version)]);
      return c.text(text, 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    })
    .get('/api/openapi.json', (c) => c.json(buildOpenApi(version)));
}
