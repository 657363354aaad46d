/**
 * @layer entry
 * What the API is built from: `AppDeps` (given to createApp by the composition root,
 * api/control-plane.ts) and `RouteDeps`, the same with every default filled in and the one audit
 * helper, handed to each route sub-app in api/http/routes/.
 */
import type { Context } from 'hono';
import type { Store } from '../../db/store.ts';
import type { AgentGateway } from '../agents/port.ts';
import type { DeploymentRuns } from '../agents/deploy/runs.ts';
import type { Authorizer } from '../auth/authorize.ts';
import type { Identity } from '../auth/identity.ts';
import { SignedRequestGuard } from '../auth/signed-request-guard.ts';
import type { Discovery } from '../discovery/discover.ts';
import type { JobRunner } from '../jobs/runner.ts';
import { MetricsRegistry } from '../metrics/registry.ts';
import type { RestoreRunner } from '../restore/runner.ts';
import type { MaintenanceRunner } from '../retention/runner.ts';
import type { PlanCloudStack } from '../vmware/plan-choices.ts';
import type { VmwareImportRunner } from '../vmware/import-runner.ts';
import { createAudit, type Audit } from './audit.ts';
import { SseSlots } from './sse-limit.ts';

export interface AppDeps {
  store: Store;
  identity: Identity;
  authorizer: Authorizer;
  runner: JobRunner;
  discovery: Discovery;
  metrics?: MetricsRegistry;
  version?: string;
  /** this control-plane instance among several on one database (GET /healthz, /metrics) */
  instanceId?: string;
  /** the client's address (rate limit, audit log); default: the Node socket's remote address */
  clientAddress?: (c: Context) => string;
  clock?: () => Date;
  log?: (msg: string) => void;
  /** SSE comment lines keep idle connections open (default 15 s) */
  sseKeepAliveMs?: number;
  /** restores (api/restore/runner.ts) and the gateway downloads stream from; without them the restore routes answer 503 */
  restores?: RestoreRunner;
  gateway?: AgentGateway;
  /** prune, verify and import jobs (api/retention/runner.ts); without it those routes answer 503 */
  maintenance?: MaintenanceRunner;
  /** VMware imports through an agent (api/vmware/import-runner.ts); without it a VMware import answers 503 */
  vmwareImports?: VmwareImportRunner;
  /** the root-admin CloudStack client the VMware restore plan reads zones, offerings and networks with */
  cloudstack?: PlanCloudStack;
  /** replay cache, unknown-key cache and flood limits for API-key signatures (default: the guard's defaults) */
  signedRequests?: SignedRequestGuard;
  limits?: ApiLimits;
  /** agent deployment runs (api/agents/deploy/runs.ts); without it the /api/v1/agents/deploy… routes answer 503 */
  deployments?: DeploymentRuns;
}

/** What one caller may take of the service (api/server.ts adds the socket-level limits). */
export interface ApiLimits {
  /** request bodies, every route, checked before sign-in (default 1 MiB) */
  maxBodyBytes?: number;
  /** open event streams per user (default 8) */
  sseStreamsPerUser?: number;
  /** failed sign-ins per user name and per client address */
  login?: { perUser?: { max: number; windowMs: number }; perAddress?: { max: number; windowMs: number } };
}

export interface RouteDeps extends AppDeps {
  metrics: MetricsRegistry;
  version: string;
  clock: () => Date;
  log: (msg: string) => void;
  addressOf: (c: Context) => string;
  sseKeepAliveMs: number;
  audit: Audit;
  signedRequests: SignedRequestGuard;
  maxBodyBytes: number;
  sseSlots: SseSlots;
}

/** The Node socket's remote address (@hono/node-server puts the request in `c.env.incoming`). */
export function socketAddress(c: Context): string {
  const incoming = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming;
  return incoming?.socket?.remoteAddress ?? 'unknown';
}

export function routeDeps(deps: AppDeps): RouteDeps {
  const clock = deps.clock ?? (() => new Date());
  const addressOf = deps.clientAddress ?? socketAddress;
  return {
    ...deps,
    metrics: deps.metrics ?? new MetricsRegistry(),
    version: deps.version ?? '0.1.0',
    clock,
    log: deps.log ?? ((m: string) => console.error(m)),
    addressOf,
    sseKeepAliveMs: deps.sseKeepAliveMs ?? 15_000,
    audit: createAudit({ store: deps.store, clock, addressOf }),
    signedRequests: deps.signedRequests ?? new SignedRequestGuard({ clock: () => clock().getTime() }),
    maxBodyBytes: deps.limits?.maxBodyBytes ?? 1024 * 1024,
    sseSlots: new SseSlots(deps.limits?.sseStreamsPerUser ?? 8),
  };
}
