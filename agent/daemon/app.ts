/**
 * @layer entry
 * createAgentApp: the agent daemon built from its dependencies — the engine that runs jobs, the
 * journal that keeps them, the hypervisor (domains), a capabilities probe — as a Hono app plus the
 * job runner behind it. Nothing happens at import or construction: the journal is read on the
 * first request (or `start()`), and no socket is opened (server.ts serves it on a unix socket).
 * With a `guard` (the real daemon always has one: serve.ts), every body naming a repository, a
 * file or a volume passes the daemon's policy first (policy-guard.ts); a refusal is 403 'refused'.
 */
import { statfs } from 'node:fs/promises';
import type { Hypervisor } from '../hypervisor/port.ts';
import type { AgentEngine, DiskExporter } from '../engine/port.ts';
import type { JobJournal } from './journal.ts';
import { agentRoutes } from './routes.ts';
import { DaemonJobRunner } from './runner.ts';
import type { DaemonGuard } from './policy-guard.ts';
import { PolicyError } from './policy.ts';
import { JobsError, type AgentService, type Capabilities, type Health } from './service.ts';

export type { AgentAppType } from './routes.ts';

export interface AgentAppDeps {
  engine: AgentEngine;
  /** streams a point's disk (POST /v1/exports); default: the engine, when it has exportDisk */
  exporter?: DiskExporter;
  journal: JobJournal;
  /** the daemon's policy on repositories, files and volumes; none: every request as given (tests) */
  guard?: DaemonGuard;
  hypervisor: Pick<Hypervisor, 'getDomain' | 'listDomains' | 'disks'>;
  version: string;
  hostname: string;
  /** what the host can do (probeCapabilities); cached for `capabilitiesTtlMs` */
  probe: () => Promise<Capabilities>;
  /** why a host with these capabilities cannot back up (capabilityProblems) */
  problems?: (c: Capabilities) => string[];
  capabilitiesTtlMs?: number;
  concurrency?: number;
  /** the work dir whose free space health reports (statfs at every health call) */
  workDir?: string;
  retainFinished?: number;
  progressIntervalMs?: number;
  journalProgressMs?: number;
  now?: () => Date;
  log?: (msg: string) => void;
}

export interface AgentApp {
  app: ReturnType<typeof agentRoutes>;
  runner: DaemonJobRunner;
  /** reads the journal (jobs a restart cut off are marked failed); requests wait for it anyway */
  start(): Promise<void>;
  /** no new jobs; running ones are aborted and their cleanup awaited */
  close(): Promise<void>;
}

export function createAgentApp(deps: AgentAppDeps): AgentApp {
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const runner = new DaemonJobRunner({
    engine: deps.engine, journal: deps.journal, hypervisor: deps.hypervisor, concurrency: deps.concurrency,
    retainFinished: deps.retainFinished, progressIntervalMs: deps.progressIntervalMs, journalProgressMs: deps.journalProgressMs,
    now: deps.now, log: deps.log,
  });
  let caps: { at: number; value: Promise<Capabilities> } | undefined;
  const capabilities = () => {
    const ttl = deps.capabilitiesTtlMs ?? 60_000;
    if (!caps || Date.now() - caps.at > ttl) {
      const value = deps.probe();
      caps = { at: Date.now(), value };
      value.catch(() => { caps = undefined; });
    }
    return caps.value;
  };
  const guard = deps.guard;
  /** runs the policy check; a refusal becomes the 403 JobsError the routes answer */
  const admit = async <T>(check: () => T | Promise<T>): Promise<T> => {
    try {
      return await check();
    } catch (e) {
      if (e instanceof PolicyError) throw new JobsError('refused', e.message, undefined, { cause: e });
      throw e;
    }
  };
  const access = <T extends { repo: string; identity?: string; knownHosts?: string }>(b: T) => (guard ? admit(() => guard.access(b)) : Promise.resolve(b));
  const service: AgentService = {
    async health(): Promise<Health> {
      await runner.start();
      const c = await capabilities();
      const problems = deps.problems?.(c) ?? [];
      const workDir = deps.workDir ? await statfs(deps.workDir).then(
        (f) => ({ path: deps.workDir!, freeBytes: f.bavail * f.bsize, totalBytes: f.blocks * f.bsize }),
        (e: Error) => { problems.push(`the work dir ${deps.workDir} cannot be read: ${e.message}`); return undefined; },
      ) : undefined;
      return {
        ok: problems.length === 0, problems, version: deps.version, hostname: deps.hostname, startedAt: startedAt.toISOString(),
        uptimeSec: Math.round((now().getTime() - startedAt.getTime()) / 1000), capabilities: c, jobs: runner.stats,
        ...(workDir ? { workDir } : {}),
      };
    },
    async domains({ disks }) {
      const list = await deps.hypervisor.listDomains();
      if (!disks) return list;
      return Promise.all(list.map(async (d) => ({ ...d, disks: await deps.hypervisor.disks(d.uuid).catch(() => []) })));
    },
    async submitBackup(b) {
      const s = await runner.submitBackup(await access(b));
      if (guard && s.created && s.job.domainUuid) {
        // the volumes of a domain this daemon backs up stay known after a (transient) VM stops
        const files = (await deps.hypervisor.disks(s.job.domainUuid).catch(() => [])).filter((d) => d.kind === 'file' || d.kind === 'block').map((d) => d.source);
        await guard.backedUp(s.job.vmId ?? s.job.domainUuid, s.job.domain ?? s.job.domainUuid, files).catch((e: Error) => deps.log?.(`recording the volumes of ${s.job.domain}: ${e.message}`));
      }
      return s;
    },
    submitRestore: async (b) => runner.submitRestore(guard ? await admit(() => guard.restore(b)) : b),
    submitVerify: async (b) => runner.submitVerify(await access(b)),
    submitPrune: async (b) => runner.submitPrune(await access(b)),
    submitImport: async (b) => runner.submitImport(await access(b)),
    scan: async (b, signal) => deps.engine.scan(await access(b), signal),
    list: (f) => runner.list(f),
    get: (id) => runner.get(id),
    cancel: (id) => runner.cancel(id),
    subscribe: (id, l) => runner.subscribe(id, l),
    async exportDisk(body, signal) {
      await runner.start();
      const exporter = deps.exporter ?? ('exportDisk' in deps.engine ? (deps.engine as AgentEngine & DiskExporter) : undefined);
      if (!exporter) throw new JobsError('unsupported', '[daemon] this agent cannot stream restore points (its engine has no export)');
      const req = await access(body);
      // a download takes a slot of the daemon's queue until its stream ends
      const release = await runner.slot(signal);
      try {
        const img = await exporter.exportDisk(req, signal);
        return { ...img, close: async () => { try { await img.close(); } finally { release(); } } };
      } catch (e) {
        release();
        if (e instanceof JobsError) throw e;
        const msg = e instanceof Error ? e.message : String(e);
        const code = (x: unknown) => (x as { code?: unknown } | undefined)?.code;
        const missing = code(e) === 'not-found' || code((e as { cause?: unknown }).cause) === 'not-found' || /has no restore point/.test(msg);
        throw new JobsError(missing ? 'not-found' : 'export-failed', msg, undefined, { cause: e });
      }
    },
  };
  return { app: agentRoutes(service), runner, start: () => runner.start(), close: () => runner.close() };
}
