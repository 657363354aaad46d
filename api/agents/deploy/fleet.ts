/**
 * @layer usecase
 * Many hosts at once: deploy, remove and status run every host with a concurrency limit, each
 * host's failure in its own row while the others go on. A rolling upgrade goes one cluster after
 * another (plan.ts rollingWaves); before a host is touched it waits until the control plane has no
 * backup or restore running on it (`runningJobs`), and when a cluster had a failure the clusters
 * after it are not touched (their rows say `skipped`), so a bad build stops at the first cluster.
 */
import { DeployError } from './errors.ts';
import { deployHost, hostStatus, removeHost, type DeployDeps, type DeploySettings } from './host-deploy.ts';
import { rollingWaves } from './plan.ts';
import type { DeployTarget } from './port.ts';
import type { DeployEvent, HostRow } from './report.ts';

export interface FleetOptions {
  /** hosts worked on at once (default 4) */
  concurrency?: number;
  signal?: AbortSignal;
  emit?: (e: DeployEvent) => void;
}

/** Runs `work` over `items`, at most `limit` at a time, results in input order. */
export async function eachLimited<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]);
    }
  });
  await Promise.all(lanes);
  return out;
}

function runAll(targets: readonly DeployTarget[], o: FleetOptions, one: (t: DeployTarget, emit: (e: DeployEvent) => void) => Promise<HostRow>): Promise<HostRow[]> {
  const emit = o.emit ?? (() => {});
  for (const t of targets) emit({ type: 'host', host: t.name, step: 'queued', fraction: 0 });
  return eachLimited(targets, o.concurrency ?? 4, async (t) => {
    const row = await one(t, emit);
    emit({ type: 'row', row });
    return row;
  }).then((rows) => { emit({ type: 'done', rows }); return rows; });
}

export function deployFleet(deps: DeployDeps, targets: readonly DeployTarget[], s: DeploySettings, o: FleetOptions = {}): Promise<HostRow[]> {
  return runAll(targets, o, (t, emit) => deployHost(deps, t, s, emit, o.signal));
}

export function removeFleet(deps: DeployDeps, targets: readonly DeployTarget[], s: Pick<DeploySettings, 'credentials' | 'acceptHostKeys'>, purge: boolean, o: FleetOptions = {}): Promise<HostRow[]> {
  return runAll(targets, o, (t, emit) => removeHost(deps, t, s, purge, emit, o.signal));
}

export function statusFleet(deps: DeployDeps, targets: readonly DeployTarget[], s: Pick<DeploySettings, 'credentials' | 'acceptHostKeys'>, o: FleetOptions = {}): Promise<HostRow[]> {
  return runAll(targets, o, (t, emit) => hostStatus(deps, t, s, emit, o.signal));
}

export interface RollingOptions extends FleetOptions {
  /** jobs the control plane runs on a host right now (backups, restores, …) */
  runningJobs(target: DeployTarget): Promise<number>;
  /** how long to wait for a host's jobs to finish (default 30 min); then its row fails `busy` */
  drainTimeoutMs?: number;
  pollMs?: number;
  clock?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const defaultSleep = (ms: number, signal?: AbortSignal) => new Promise<void>((resolve, reject) => {
  const t = setTimeout(resolve, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason); }, { once: true });
});

/** Rolling upgrade: one cluster at a time, each host once its jobs are done. */
export async function rollingUpgrade(deps: DeployDeps, targets: readonly DeployTarget[], s: DeploySettings, o: RollingOptions): Promise<HostRow[]> {
  const emit = o.emit ?? (() => {});
  const clock = o.clock ?? Date.now;
  const sleep = o.sleep ?? defaultSleep;
  const rows: HostRow[] = [];
  let stopped: string | undefined;
  for (const t of targets) emit({ type: 'host', host: t.name, step: 'queued', fraction: 0 });
  for (const wave of rollingWaves(targets)) {
    if (stopped) {
      for (const t of wave) {
        const row: HostRow = { name: t.name, ...(t.hostId ? { hostId: t.hostId } : {}), address: t.address, ...(t.clusterId ? { clusterId: t.clusterId } : {}), outcome: 'failed', code: 'skipped', message: `[deploy] not upgraded: ${stopped}`, changed: [], durationMs: 0 };
        emit({ type: 'row', row });
        rows.push(row);
      }
      continue;
    }
    const waveRows = await eachLimited(wave, o.concurrency ?? 4, async (t) => {
      const until = clock() + (o.drainTimeoutMs ?? 30 * 60_000);
      let row: HostRow | undefined;
      for (;;) {
        const n = await o.runningJobs(t);
        if (n === 0) break;
        if (clock() > until) {
          const e = new DeployError('busy', `${t.name} still runs ${n} job(s) after ${Math.round((o.drainTimeoutMs ?? 30 * 60_000) / 1000)} s: not upgraded (run again when they are done)`);
          row = { name: t.name, ...(t.hostId ? { hostId: t.hostId } : {}), address: t.address, ...(t.clusterId ? { clusterId: t.clusterId } : {}), outcome: 'failed', code: e.code, message: e.message, changed: [], durationMs: 0 };
          break;
        }
        emit({ type: 'host', host: t.name, step: 'waiting', fraction: 0, message: `${n} job(s) running` });
        await sleep(o.pollMs ?? 5_000, o.signal);
      }
      row ??= await deployHost(deps, t, s, emit, o.signal);
      emit({ type: 'row', row });
      return row;
    });
    rows.push(...waveRows);
    const bad = waveRows.filter((r) => r.outcome === 'failed');
    if (bad.length) stopped = `cluster ${wave[0].clusterId ?? '(none)'} had ${bad.length} failed host(s) (${bad.map((r) => r.name).join(', ')}): fix them and run the upgrade again`;
  }
  emit({ type: 'done', rows });
  return rows;
}
