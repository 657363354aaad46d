/**
 * @layer entry
 * The control plane, composed: `createControlPlane(opts)` wires the use cases (discovery, job
 * runner, scheduler, heartbeat, identity, authorization) to the ports it is given — a Store, a
 * CloudStack endpoint with root admin keys (and any HttpFetch: the simulator's in tests), an
 * AgentGateway — and builds the API on them. Nothing runs until `start()`: it picks up the jobs
 * a previous process left (JobRunner.recover), runs discovery, and starts the periodic tasks
 * (croner): discovery, the scheduler tick, the agent health monitor (api/agents/heartbeat.ts). `stop()` stops them and the
 * runner (which writes nothing more: agents keep their jobs, a later start finds them again).
 */
import { StoreAttempts, StoreRevocations } from './auth/store-limits.ts';
import { hostname } from 'node:os';
import { Cron } from 'croner';
import type { Context } from 'hono';
import type { ChangeFeed } from '../db/changes.ts';
import type { Store } from '../db/store.ts';
import type { AgentGateway } from './agents/port.ts';
import { checkAgents, type HeartbeatReport } from './agents/heartbeat.ts';
import { Authorizer } from './auth/authorize.ts';
import { Identity } from './auth/identity.ts';
import type { CloudStackLogin, CloudStackSessionCheck } from './auth/port.ts';
import { TokenSigner } from './auth/token.ts';
import { CloudStackClient, type ApiKeys } from './cloudstack/client.ts';
import type { HttpFetch } from './cloudstack/port.ts';
import { Discovery } from './discovery/discover.ts';
import { createApp, type AppType } from './http/app.ts';
import type { ApiLimits } from './http/deps.ts';
import { JobRunner } from './jobs/runner.ts';
import { MetricsRegistry } from './metrics/registry.ts';
import { leasedRound, roundTtlMs } from './schedule/leased-round.ts';
import { schedulerTick, type TickReport } from './schedule/scheduler.ts';
import { RestoreRunner } from './restore/runner.ts';
import { MaintenanceRunner } from './retention/runner.ts';
import { VmwareImportRunner } from './vmware/import-runner.ts';
import type { DeploymentRuns } from './agents/deploy/runs.ts';
import { retentionTick } from './retention/tick.ts';
import { verifyTick } from './verification/tick.ts';

export interface ControlPlaneOptions {
  store: Store;
  cloudstack: {
    endpoint: string;
    /** root admin keys: discovery and access checks read admin-only fields */
    credentials: ApiKeys;
    fetch?: HttpFetch;
    requestTimeoutMs?: number;
  };
  gateway: AgentGateway;
  /** agent deployment runs (`sendense serve` wires them from the config); without: its routes answer 503 */
  deployments?: DeploymentRuns;
  /** ≥ 32 bytes; tokens signed with it stay valid across restarts while it is the same */
  tokenSecret: string;
  tokenTtlMs?: number;
  loginLimit?: { max: number; windowMs: number };
  apiKeyCacheMs?: number;
  perHostConcurrency?: number;
  /** runner tuning (tests): status poll interval, progress write interval */
  pollMs?: number;
  progressWriteMs?: number;
  clock?: () => Date;
  clientAddress?: (c: Context) => string;
  /** request bodies, event streams, sign-in failures (api/http/deps.ts) */
  limits?: ApiLimits;
  /** CloudStack UI origins that may frame the plug-in and call the API (CSP frame-ancestors, CORS) */
  uiOrigins?: readonly string[];
  version?: string;
  log?: (msg: string) => void;
  /**
   * this instance among several on one database (default: host name, pid and a random part):
   * the holder of its round leases (discovery, scheduler, maintenance: each runs on one instance
   * at a time, api/schedule/leased-round.ts) and of its jobs' leases (api/jobs/runner.ts)
   */
  instanceId?: string;
  /** a job (backup, restore, maintenance) whose instance died is re-attached by another after this long (default 30 s) */
  jobLeaseMs?: number;
  /**
   * how the instances on one database tell each other of changed jobs, so an event stream works
   * on whichever instance the browser reaches (db/pg/changes.ts: LISTEN/NOTIFY); default: none
   * (one instance)
   */
  changes?: ChangeFeed;
  /** a lost agent's in-flight backups of stopped VMs fail over after this long (default 60 s: api/agents/health/failover.ts) */
  agentFailoverMs?: number;
}

export interface StartOptions {
  /** default 300 s; 0: no periodic discovery */
  discoveryIntervalSeconds?: number;
  /** default 30 s; 0: no scheduler */
  schedulerTickSeconds?: number;
  /** default 30 s; 0: no heartbeat */
  heartbeatSeconds?: number;
  /** run discovery once before start resolves (default true) */
  discoverNow?: boolean;
}

export interface ControlPlane {
  app: AppType;
  /** this instance among several on one database (the holder of its leases; in /healthz and /metrics) */
  instanceId: string;
  fetch: (req: Request) => Response | Promise<Response>;
  store: Store;
  runner: JobRunner;
  discovery: Discovery;
  identity: Identity;
  authorizer: Authorizer;
  cloudstack: CloudStackClient;
  metrics: MetricsRegistry;
  /** restores: in place, new volume, download (api/restore/runner.ts) */
  restores: RestoreRunner;
  /** prune, verify and import jobs (api/retention/runner.ts) */
  maintenance: MaintenanceRunner;
  start(opts?: StartOptions): Promise<void>;
  stop(): Promise<void>;
  /** one scheduler tick now */
  tick(now?: Date): Promise<TickReport>;
  /** retention after scheduled backups and due verify schedules, now (also run at every scheduler tick) */
  maintenanceTick(now?: Date): Promise<void>;
  /** one health monitor round now: counts, the events raised, the VMs caught up */
  heartbeat(): Promise<HeartbeatReport>;
}

export function createControlPlane(opts: ControlPlaneOptions): ControlPlane {
  const clock = opts.clock ?? (() => new Date());
  const log = opts.log ?? ((m: string) => console.error(m));
  const { store, gateway } = opts;
  const csOpts = { endpoint: opts.cloudstack.endpoint, fetch: opts.cloudstack.fetch, requestTimeoutMs: opts.cloudstack.requestTimeoutMs };
  const cs = new CloudStackClient({ ...csOpts, credentials: opts.cloudstack.credentials });

  const login: CloudStackLogin = async (req) => {
    const client = await CloudStackClient.login({ ...csOpts, username: req.username, password: req.password, domain: req.domain, domainid: req.domainId });
    const s = client.session!;
    const tf = s.twoFactor;
    return {
      userid: s.userid, username: s.username ?? req.username, account: s.account ?? '', domainid: s.domainid ?? '', accountType: s.accountType,
      twoFactor: tf?.enabled && !tf.verified ? { provider: tf.provider, issuer: tf.issuer } : undefined,
      verifyTwoFactor: async (code) => { await client.call('validateUserTwoFactorAuthenticationCode', { codefor2fa: code }, { method: 'POST' }); },
      logout: () => client.logout(),
    };
  };
  // single sign-on: the browser's CloudStack session forwarded on listUsers (its own account's users)
  const sessionCheck: CloudStackSessionCheck = async ({ jsessionid, sessionkey, signal }) => {
    const client = new CloudStackClient({ ...csOpts, credentials: { session: { sessionkey, cookies: { JSESSIONID: jsessionid }, userid: '' } }, retry: { retries: 0, baseMs: 0, maxMs: 0 } });
    return client.listUsers({}, { signal });
  };

  const identity = new Identity({
    cs, login, sessionCheck, tokens: new TokenSigner({ secret: opts.tokenSecret, ttlMs: opts.tokenTtlMs, clock: () => clock().getTime() }),
    loginLimit: opts.loginLimit, keyCacheMs: opts.apiKeyCacheMs, clock: () => clock().getTime(),
    // kept in the Store: several instances on one database count the same sign-ins and revocations
    attempts: new StoreAttempts(opts.store.auth, { ...(opts.loginLimit ?? { max: 5, windowMs: 5 * 60_000 }), clock: () => clock().getTime(), prefix: 'login:' }),
    revocations: new StoreRevocations(opts.store.auth, () => clock().getTime()),
  });
  const authorizer = new Authorizer({ cs, clock: () => clock().getTime() });
  const discovery = new Discovery({ cs, store, clock });
  const instanceId = opts.instanceId ?? `${hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}`;
  const runner = new JobRunner({
    store, gateway, cs, perHostLimit: opts.perHostConcurrency, clock, pollMs: opts.pollMs, progressWriteMs: opts.progressWriteMs, log,
    instanceId, jobLeaseMs: opts.jobLeaseMs, changes: opts.changes,
  });
  const metrics = new MetricsRegistry();
  const maintenance = new MaintenanceRunner({ store, gateway, clock, log, metrics, pollMs: opts.pollMs, instanceId, leaseMs: opts.jobLeaseMs, changes: opts.changes });
  const maintenanceTick = async (now: Date) => {
    await retentionTick({ store, maintenance, log });
    await verifyTick({ store, maintenance, log }, now);
  };
  const restores = new RestoreRunner({ store, gateway, cs, clock, pollMs: opts.pollMs, progressWriteMs: opts.progressWriteMs, log, instanceId, leaseMs: opts.jobLeaseMs, changes: opts.changes });
  const vmwareImports = new VmwareImportRunner({ store, gateway, clock, log, metrics, pollMs: opts.pollMs });
  const app = createApp({ store, identity, authorizer, runner, discovery, metrics, maintenance, restores, gateway, vmwareImports, deployments: opts.deployments, cloudstack: cs, version: opts.version, instanceId, clientAddress: opts.clientAddress, limits: opts.limits, clock, log, framing: { uiOrigins: opts.uiOrigins ?? [] } });

  // the agent health monitor: a round's verdicts, events, and the catch-up when an agent is back
  const heartbeat = () => checkAgents({ store, gateway, clock, version: opts.version, log, metrics, runner, failoverAfterMs: opts.agentFailoverMs });

  const timers: Cron[] = [];
  const every = (seconds: number | undefined, def: number, name: string, fn: () => Promise<unknown>) => {
    const s = seconds ?? def;
    if (s <= 0) return;
    timers.push(new Cron('* * * * * *', {
      interval: s, protect: true, startAt: new Date(Date.now() + s * 1000), catch: (e: unknown) => log(`[${name}] ${(e as Error).message}`),
    }, async () => { await fn(); }));
  };

  return {
    app, fetch: app.fetch, instanceId, store, runner, discovery, identity, authorizer, cloudstack: cs, metrics, maintenance, restores,
    async start(s = {}) {
      await runner.recover();
      await restores.recover();
      await maintenance.recover();
      if (s.discoverNow ?? true) await discovery.refresh().catch((e: unknown) => log(`[discovery] ${(e as Error).message}`));
      // each round on one instance at a time (its lease outlives three rounds: a dead holder's rounds resume elsewhere)
      const leased = (seconds: number | undefined, def: number, name: string, fn: () => Promise<unknown>) =>
        every(seconds, def, name, () => leasedRound({ leases: store.leases, holder: instanceId, clock }, name, roundTtlMs(seconds ?? def), fn));
      leased(s.discoveryIntervalSeconds, 300, 'discovery', () => discovery.refresh());
      leased(s.schedulerTickSeconds, 30, 'scheduler', () => schedulerTick({ store, runner, clock, log }));
      leased(s.schedulerTickSeconds, 30, 'maintenance', () => maintenanceTick(clock()));
      leased(s.heartbeatSeconds, 30, 'heartbeat', () => heartbeat());
    },
    async stop() {
      for (const t of timers.splice(0)) t.stop();
      // a stopped instance gives its rounds up at once (a killed one loses them when the leases expire)
      await Promise.allSettled(['discovery', 'scheduler', 'maintenance', 'heartbeat'].map((n) => store.leases.release(`round:${n}`, instanceId)));
      await runner.stop();
      await restores.stop();
      await maintenance.stop();
      await vmwareImports.stop();
    },
    tick: (now) => schedulerTick({ store, runner, clock, log }, now ?? clock()),
    maintenanceTick: (now) => maintenanceTick(now ?? clock()),
    heartbeat,
  };
}
