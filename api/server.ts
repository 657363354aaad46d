/**
 * @layer entry
 * Runs the control plane from a configuration (api/config.ts): opens the database (SQLite,
 * migrated; or PostgreSQL at the current schema, db/connect.ts), records the configured repositories, builds the CloudStack client (private CA or
 * insecure mode as configured) and the agent gateway, starts the control plane and serves its
 * API with @hono/node-server (api/listen.ts: TLS, loopback-only plain HTTP, timeouts, a connection
 * cap; request limits in api/http/deps.ts). Secret files others may read are refused
 * (api/secret-file.ts). `close()` stops the periodic tasks and the runner (agents keep
 * their jobs: the next start polls them again), the listener and the database, in that order.
 * On PostgreSQL it also opens the change feed (db/pg/changes.ts, LISTEN/NOTIFY) through which
 * the instances sharing the database tell each other of the jobs they change.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ServerType } from '@hono/node-server';
import type { ChangeFeed } from '../db/changes.ts';
import { openConfiguredStore } from '../db/connect.ts';
import { openPgChangeFeed } from '../db/pg/changes.ts';
import { StoreError } from '../db/store.ts';
import type { Store } from '../db/store.ts';
import { MemoryAgentGateway } from './agents/memory.ts';
import type { AgentGateway } from './agents/port.ts';
import { targetOfDevice } from './agents/targets.ts';
import { createNodeFetch } from './cloudstack/node-fetch.ts';
import type { HttpFetch } from './cloudstack/port.ts';
import type { Config } from './config.ts';
import { createControlPlane, type ControlPlane } from './control-plane.ts';
import { DeploymentRuns } from './agents/deploy/runs.ts';
import { deploymentFromConfig } from './agents/deploy/from-config.ts';
import { clientAddressOf } from './http/client-address.ts';
import { listen } from './listen.ts';
import { readSecretFile } from './secret-file.ts';

export interface ServeDeps {
  /** the agent gateway for real hosts (the SSH link); without it only `agents.simulate` works */
  gateway?: (config: Config, store: Store) => AgentGateway;
  /** overrides the CloudStack fetch (tests) */
  fetch?: HttpFetch;
  log?: (msg: string) => void;
  version?: string;
}

export interface RunningServer {
  url: string;
  port: number;
  cp: ControlPlane;
  server: ServerType;
  close(): Promise<void>;
}

export class ServeError extends Error {
  override name = 'ServeError';
}

function tokenSecret(config: Config, log: (m: string) => void): string {
  if (config.auth.tokenSecret) return config.auth.tokenSecret;
  if (config.auth.tokenSecretFile) {
    const s = readSecretFile(config.auth.tokenSecretFile, 'auth.tokenSecretFile');
    if (Buffer.byteLength(s) < 32) throw new ServeError(`[serve] ${config.auth.tokenSecretFile}: the token secret must be at least 32 bytes`);
    return s;
  }
  log('[serve] no auth.tokenSecret configured: using a random one (sign-ins end at every restart)');
  return randomBytes(32).toString('base64url');
}


export async function startServer(config: Config, deps: ServeDeps = {}): Promise<RunningServer> {
  const log = deps.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  let store: Store;
  try {
    store = await openConfiguredStore(config.database);
  } catch (e) {
    if (e instanceof StoreError) throw new ServeError(`[serve] ${e.message}`, { cause: e });
    throw e;
  }
  let changes: ChangeFeed | undefined;
  try {
    // several instances on one PostgreSQL: each tells the others of the jobs it changes (SSE on any instance)
    if (config.database.url) changes = await openPgChangeFeed(config.database.url, { log });
    await store.repositories.sync(config.repositories.map((r, i) => ({
      name: r.name, url: r.url, kind: r.url.startsWith('ssh://') ? 'ssh' as const : 'local' as const,
      capacityBytes: r.capacityBytes ?? null, isDefault: r.default || (i === 0 && !config.repositories.some((x) => x.default)),
    })));
    let gateway: AgentGateway;
    if (config.agents.simulate) {
      log('[serve] agents.simulate: backups run on an in-memory agent (fake restore points, for demos only)');
      gateway = new MemoryAgentGateway({
        tickMs: 200,
        disksOf: async (req) => (await store.vms.disks(req.vmId)).map((d) => ({ target: targetOfDevice(d.deviceId), size: d.sizeBytes })),
      });
    } else if (deps.gateway) {
      gateway = deps.gateway(config, store);
    } else {
      throw new ServeError('[serve] no agent gateway is available in this build: set agents.simulate for a demo');
    }
    const cs = config.cloudstack;
    const fetch = deps.fetch ?? createNodeFetch({ ca: cs.caFile ? readFileSync(cs.caFile) : undefined, insecure: cs.insecure, warn: log });
    const cp = createControlPlane({
      store, gateway, tokenSecret: tokenSecret(config, log), uiOrigins: config.plugin.uiOrigins,
      // agent deployment from this config (agents.*, agents.deploy); what it lacks is said when a run starts
      deployments: new DeploymentRuns((op) => deploymentFromConfig(config, { withPackages: op === 'deploy' || op === 'upgrade' })),
      cloudstack: {
        endpoint: cs.endpoint, fetch, requestTimeoutMs: cs.timeoutSeconds * 1000,
        credentials: { apiKey: cs.apiKey, secretKey: cs.secretKey ?? readSecretFile(cs.secretKeyFile!, 'cloudstack.secretKeyFile') },
      },
      tokenTtlMs: config.auth.tokenTtlSeconds * 1000, apiKeyCacheMs: config.auth.apiKeyCacheSeconds * 1000,
      loginLimit: { max: config.auth.loginRateLimit.maxAttempts, windowMs: config.auth.loginRateLimit.windowSeconds * 1000 },
      perHostConcurrency: config.agents.perHostConcurrency, version: deps.version, log, changes,
      clientAddress: clientAddressOf({ trustProxy: config.auth.trustProxy, trustedProxies: config.auth.trustedProxies }),
      limits: {
        maxBodyBytes: config.limits.maxBodyBytes, sseStreamsPerUser: config.limits.sseStreamsPerUser,
        login: {
          perUser: { max: config.auth.loginRateLimit.perUserMaxAttempts, windowMs: config.auth.loginRateLimit.windowSeconds * 1000 },
          perAddress: { max: config.auth.loginRateLimit.perAddressMaxAttempts, windowMs: config.auth.loginRateLimit.windowSeconds * 1000 },
        },
      },
    });
    await cp.start({
      discoveryIntervalSeconds: config.discovery.intervalSeconds, schedulerTickSeconds: config.scheduler.tickSeconds,
      heartbeatSeconds: config.agents.heartbeatSeconds,
    });
    let listening;
    try {
      listening = await listen(cp.app.fetch, {
        host: config.listen.host, port: config.listen.port, tls: config.listen.tls, insecureHttp: config.listen.insecureHttp,
        maxConnections: config.listen.maxConnections,
      });
    } catch (e) {
      await cp.stop();
      throw new ServeError((e as Error).message, { cause: e });
    }
    const { server, port, url } = listening;
    return {
      url, port, cp, server,
      async close() {
        await cp.stop();
        await new Promise<void>((res) => {
          server.close(() => res());
          (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        });
        await changes?.close();
        await store.close();
      },
    };
  } catch (e) {
    await changes?.close();
    await store.close();
    throw e;
  }
}
