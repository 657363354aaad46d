/**
 * @layer usecase
 * Deployment runs for the API: `start` resolves the hosts (targets.ts), starts deploy / upgrade /
 * remove / status in the background and returns the run at once; `get` shows it (a line per host,
 * then the rows); `subscribe` replays the run's events so far and then the live ones (the SSE
 * stream). Runs are kept in memory (the last 50): the per-host outcome of each is also in the
 * audit log (the route records it). The wiring comes from the config (from-config.ts) or a test.
 */
import type { CloudStackApi } from '../../cloudstack/port.ts';
import { deployFleet, removeFleet, rollingUpgrade, statusFleet } from './fleet.ts';
import type { DeployDeps, DeploySettings } from './host-deploy.ts';
import { foldEvent, type HostLine } from './progress.ts';
import type { AdminCredentials } from './port.ts';
import type { DeployEvent, DeployOperation, HostRow } from './report.ts';
import { resolveTargets, type TargetRequest } from './targets.ts';

export interface RunWiring {
  deps: DeployDeps;
  settings: (credentials: AdminCredentials, acceptHostKeys?: Record<string, string>) => DeploySettings;
  cloudstack?: Pick<CloudStackApi, 'listKvmHosts'>;
  concurrency: number;
}

export interface RunRequest extends TargetRequest {
  credentials: AdminCredentials;
  acceptHostKeys?: Record<string, string>;
  concurrency?: number;
  purge?: boolean;
  downgrade?: boolean;
  drainTimeoutMs?: number;
}

export interface DeploymentRun {
  id: string;
  operation: DeployOperation;
  by: string;
  startedAt: Date;
  finishedAt?: Date;
  skipped: { name: string; hostId?: string; reason: string }[];
  lines: Map<string, HostLine>;
  rows?: HostRow[];
  events: DeployEvent[];
  listeners: Set<(e: DeployEvent) => void>;
  done: Promise<HostRow[]>;
}

export class DeploymentRuns {
  private readonly runs = new Map<string, DeploymentRun>();
  constructor(private readonly wiring: (op: DeployOperation) => RunWiring, private readonly newId: () => string = () => crypto.randomUUID()) {}

  /** Resolves the hosts (throws for none / unknown names) and starts the run. */
  async start(operation: DeployOperation, req: RunRequest, by: string): Promise<DeploymentRun> {
    const w = this.wiring(operation);
    const sel = await resolveTargets(w.cloudstack, req);
    if (sel.unknown.length) throw new Error(`[deploy] CloudStack has no KVM host ${sel.unknown.map((u) => `'${u}'`).join(', ')}`);
    if (!sel.targets.length) throw new Error(`[deploy] no hosts to work on${sel.skipped.length ? ` (skipped: ${sel.skipped.map((s) => `${s.name}: ${s.reason}`).join('; ')})` : ''}`);
    const settings = w.settings(req.credentials, req.acceptHostKeys);
    const run: DeploymentRun = {
      id: this.newId(), operation, by, startedAt: new Date(), skipped: sel.skipped, lines: new Map(), events: [], listeners: new Set(),
      done: Promise.resolve([]),
    };
    const emit = (e: DeployEvent) => {
      foldEvent(run.lines, e);
      run.events.push(e);
      for (const l of run.listeners) l(e);
    };
    const o = { concurrency: req.concurrency ?? w.concurrency, emit };
    run.done = (async () => {
      let rows: HostRow[];
      if (operation === 'deploy') rows = await deployFleet(w.deps, sel.targets, { ...settings, downgrade: req.downgrade }, o);
      else if (operation === 'upgrade') {
        rows = await rollingUpgrade(w.deps, sel.targets, settings, {
          ...o, drainTimeoutMs: req.drainTimeoutMs,
          runningJobs: async (t) => (await w.deps.probe.health(t).catch(() => ({ runningJobs: 0 }))).runningJobs,
        });
      } else if (operation === 'remove') rows = await removeFleet(w.deps, sel.targets, settings, Boolean(req.purge), o);
      else rows = await statusFleet(w.deps, sel.targets, settings, o);
      run.rows = rows;
      run.finishedAt = new Date();
      return rows;
    })();
    run.done.catch(() => {});
    this.runs.set(run.id, run);
    for (const old of [...this.runs.keys()].slice(0, Math.max(0, this.runs.size - 50))) this.runs.delete(old);
    return run;
  }

  get(id: string): DeploymentRun | undefined {
    return this.runs.get(id);
  }

  /** Calls `listener` with every event so far, then the live ones; returns the unsubscribe. */
  subscribe(id: string, listener: (e: DeployEvent) => void): () => void {
    const run = this.runs.get(id);
    if (!run) return () => {};
    for (const e of run.events) listener(e);
    run.listeners.add(listener);
    return () => { run.listeners.delete(listener); };
  }
}
