/**
 * @layer entry
 * The control plane's REST API as a Hono app: `createApp(deps)` builds a plain fetch handler
 * from its dependencies (no globals, no I/O at import) by mounting one sub-app per concern from
 * api/http/routes/; `AppType` gives `hc<AppType>` clients their types. Routes (zod-validated;
 * the OpenAPI document at /api/openapi.json):
 *
 *   routes/service.ts      GET /healthz, /metrics, /api/openapi.json          (no sign-in)
 *   routes/auth.ts         POST /api/v1/auth/login, GET /api/v1/auth/me
 *   routes/vms.ts          /api/v1/vms[/{id}[/backups|/restore-points]]
 *   routes/jobs.ts         /api/v1/jobs[/{id}[/events|/cancel]]
 *   routes/policies.ts     /api/v1/policies[/{id}[/assignments[/{assignmentId}]]]
 *   routes/restores.ts     /api/v1/restore-points/{id}/restore|download, /api/v1/restores…
 *   routes/maintenance.ts  retention, verification, storage usage, import
 *   routes/vmware.ts     GET /api/v1/restore-points/{id}/restore-plan (a VMware point into CloudStack)
 *   routes/admin.ts        POST /api/v1/discovery, GET /api/v1/hosts|agents|repositories|audit
 *   routes/deploy.ts       POST /api/v1/agents/deploy|upgrade|remove|status, GET /api/v1/agents/deployments/{id}[/events]
 *   plugin-static.ts       GET /plugin/…: the CloudStack UI plug-in's built files (plugin-ui/dist)
 *
 * Every /api/v1 route but login needs `Authorization: Bearer <token>` or a request signed with
 * a CloudStack API key (authenticate.ts). Errors are `{"error":{"code","message"}}` (one
 * onError, on-error.ts); every change and every refused change is in the audit log (audit.ts).
 */
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { authenticate } from './authenticate.ts';
import { framing, type FramingOptions } from './framing.ts';
import { ApiError, errorBody } from './errors.ts';
import { loginLimit } from './login-limit.ts';
import { routeDeps, type AppDeps } from './deps.ts';
import type { AppEnv } from './env.ts';
import { onError, onNotFound } from './on-error.ts';
import { pluginStatic } from './plugin-static.ts';
import { requestMetrics } from './request-metrics.ts';
import { adminRoutes } from './routes/admin.ts';
import { deployRoutes } from './routes/deploy.ts';
import { authRoutes } from './routes/auth.ts';
import { jobRoutes } from './routes/jobs.ts';
import { maintenanceRoutes } from './routes/maintenance.ts';
import { policyRoutes } from './routes/policies.ts';
import { restoreRoutes } from './routes/restores.ts';
import { serviceRoutes } from './routes/service.ts';
import { vmRoutes } from './routes/vms.ts';
import { vmwareRoutes } from './routes/vmware.ts';

export type { AppDeps } from './deps.ts';
export type { AppEnv } from './env.ts';

export function createApp(deps: AppDeps & { framing?: FramingOptions }) {
  const d = routeDeps(deps);
  const app = new Hono<AppEnv>();
  app.onError(onError(d.log));
  app.notFound(onNotFound);
  app.use('*', requestMetrics(d.metrics));
  // who may frame the plug-in and call the API from a browser: the configured CloudStack UI origins
  app.use('*', framing(deps.framing ?? { uiOrigins: [] }));
  // before anything reads a body, sign-in included: an anonymous 400 MiB body is refused unread
  app.use('*', bodyLimit({
    maxSize: d.maxBodyBytes,
    onError: (c) => c.json(errorBody(new ApiError(413, 'payload_too_large', `request bodies are limited to ${d.maxBodyBytes} bytes`)), 413, { connection: 'close' }),
  }));
  app.use('/api/v1/auth/login', loginLimit({ ...d.limits?.login, addressOf: d.addressOf, clock: () => d.clock().getTime(), store: d.store.auth }));
  app.use('/api/v1/*', authenticate({ identity: d.identity, open: ['/api/v1/auth/login', '/api/v1/auth/sso'], guard: d.signedRequests, addressOf: d.addressOf }));

  return app
    .route('/', serviceRoutes(d))
    .route('/', authRoutes(d))
    .route('/', vmRoutes(d))
    .route('/', adminRoutes(d))
    .route('/', deployRoutes(d))
    .route('/', jobRoutes(d))
    .route('/', policyRoutes(d))
    .route('/', maintenanceRoutes(d))
    .route('/', restoreRoutes(d))
    .route('/', vmwareRoutes(d))
    .route('/', pluginStatic());
}

export type AppType = ReturnType<typeof createApp>;
