/**
 * @layer usecase
 * MaintenanceRunner: repository work through agents, recorded as maintenance jobs.
 *
 * - `prune(vmId)`: the VM's retention plan (preview.ts) per repository; where something expires,
 *   a prune job: the agent removes the points and merges the survivors forward; the database
 *   follows the agent's outcome in one transaction (MaintenanceStore.finishPrune). A failed prune
 *   changes no point.
 * - `verify(restorePointId)`: the agent re-reads the point's chain (and restore-tests it when
 *   asked); the result is recorded per point; a point that fails fails the job (loud: job status,
 *   `sendense_verification_failures_total`, the point's status).
 * - `importRepository(repositoryId)`: the agent scans the repository; chains the database does
 *   not know are recorded from their manifests.
 * Each call records a queued job and returns it; the agent part runs in the background (`settled`
 * waits for it). Jobs are audited as `system:maintenance` when they end. `recover` (at start)
 * polls again the jobs a previous process left running with an agent job id, and fails the rest
 * as interrupted. `stop` stops watching without writing. Several instances on one database:
 * each job is watched by the instance holding its lease (`maintenance:<id>`, api/lib/job-leases.ts,
 * as the job runner's); an instance that died has its running jobs re-attached by another.
 */
import type { ChangeFeed } from '../../db/changes.ts';
import { followAgentJob } from '../agents/follow.ts';
import { JobLeases } from '../lib/job-leases.ts';
import { AgentGatewayError, type AgentJobStatus } from '../agents/port.ts';
import { sleep } from '../lib/sleep.ts';
import type { MaintenanceJob, MaintenanceKind, MaintenanceTrigger, RestorePoint } from '../../db/schema.ts';
import type { Store } from '../../db/store.ts';
import type { MetricsRegistry } from '../metrics/registry.ts';
import { verifyResults } from '../verification/outcome.ts';
import { MaintenanceError, pickAgentHost, type MaintenanceGateway } from './agent-job.ts';
import { scannedVms } from './import.ts';
import { planFor, vmPolicy } from './preview.ts';
import { assertNoInPlaceRestore } from '../restore/exclusive.ts';

export interface MaintenanceRunnerDeps {
  store: Store;
  gateway: MaintenanceGateway;
  clock?: () => Date;
  log?: (msg: string) => void;
  /** agent job status poll interval while its event stream is down (default 200 ms) */
  pollMs?: number;
  /** how long an agent may stay unreachable before its job is failed (default 60 s) */
  unreachableTimeoutMs?: number;
  metrics?: MetricsRegistry;
  /** tells the other instances of a job's changes; default: none */
  changes?: ChangeFeed;
  /**
   * this instance among several on one database: a job is watched by the instance holding its
   * lease `maintenance:<id>` (renewed every `leaseMs / 3`); one whose instance died is re-attached
   * to its agent job by another after the lease expired (default 30 s)
   */
  instanceId?: string;
  leaseMs?: number;
}

export interface MaintenanceRequest {
  trigger: MaintenanceTrigger;
  requestedBy?: string | null;
}

export class MaintenanceRunner {
  private readonly running = new Map<string, Promise<MaintenanceJob>>();
  /** verify calls per VM, one after the other (the one-queued-verification check and the insert together) */
  private readonly verifying = new Map<string, Promise<unknown>>();
  private readonly ctl = new AbortController();
  private readonly clock: () => Date;
  private readonly leases: JobLeases;

  constructor(private readonly deps: MaintenanceRunnerDeps) {
    this.clock = deps.clock ?? (() => new Date());
    this.leases = new JobLeases({
      leases: deps.store.leases, kind: 'maintenance', holder: deps.instanceId ?? `maintenance-${crypto.randomUUID()}`, ttlMs: deps.leaseMs ?? 30_000,
      clock: this.clock, log: (m) => deps.log?.(`[maintenance] ${m}`),
    });
  }

  /** Prune jobs for the VM's repositories where its retention expires something ([] when nothing does). */
  async prune(vmId: string, req: MaintenanceRequest): Promise<MaintenanceJob[]> {
    const { store } = this.deps;
    if ((await store.maintenance.list({ vmId, kind: 'prune', status: ['queued', 'running'] })).length) {
      throw new MaintenanceError('busy', `a prune of VM ${vmId} is already running`);
    }
    if ((await store.jobs.list({ vmId, status: ['queued', 'dispatching', 'running', 'cancelling'] })).length) {
      throw new MaintenanceError('busy', `a backup of VM ${vmId} is queued or running: retention waits for it`);
    }
    await assertNoInPlaceRestore(store, vmId, 'a prune');
    const policy = await vmPolicy(store, vmId);
    const points = await store.points.allForVm(vmId);
    const now = this.clock();
    const jobs: MaintenanceJob[] = [];
    for (const repositoryId of [...new Set(points.map((p) => p.repositoryId))].sort()) {
      const plan = planFor(points.filter((p) => p.repositoryId === repositoryId), policy, now);
      if (plan.expire.length === 0) continue;
      const remove = [...plan.expire].reverse();
      const job = await this.create('prune', req, repositoryId, {
        platformVmId: vmId, policyId: policy?.id ?? null,
        request: { remove, merges: plan.merges, bytesFreedEstimate: plan.bytesFreedEstimate, expireReasons: plan.expireReasons },
      });
      this.launch(job, async (signal) => {
        const vm = await store.vms.get(vmId);
        const repo = await this.repository(repositoryId);
        return this.agentJob(job, vm?.hostId, signal, (hostId) => this.deps.gateway.startPrune(hostId, { requestId: job.id, repository: repo.url, vmId, remove }, { signal }));
      });
      jobs.push(job);
    }
    return jobs;
  }

  /** At most one queued verification per VM: asking again returns the queued one (whichever point it checks). */
  async verify(restorePointId: string, req: MaintenanceRequest & { restoreTest?: boolean }): Promise<MaintenanceJob> {
    const { store } = this.deps;
    const point = await store.points.get(restorePointId);
    if (!point || point.deletedAt) throw new MaintenanceError('notfound', `no restore point ${restorePointId}`);
    const vmId = point.platformVmId;
    const before = this.verifying.get(vmId) ?? Promise.resolve();
    const mine = before.catch(() => {}).then(() => this.verifyOnce(point, req));
    const tail = mine.catch(() => {});
    this.verifying.set(vmId, tail);
    void tail.then(() => { if (this.verifying.get(vmId) === tail) this.verifying.delete(vmId); });
    return mine;
  }

  private async verifyOnce(point: RestorePoint, req: MaintenanceRequest & { restoreTest?: boolean }): Promise<MaintenanceJob> {
    const { store } = this.deps;
    const restorePointId = point.id;
    await assertNoInPlaceRestore(store, point.platformVmId, 'a verification');
    const [queued] = await store.maintenance.list({ vmId: point.platformVmId, kind: 'verify', status: ['queued'], limit: 1 });
    if (queued) return queued;
    const restoreTest = req.restoreTest ?? false;
    const job = await this.create('verify', req, point.repositoryId, {
      platformVmId: point.platformVmId, restorePointId, request: { pointId: point.pointId, restoreTest },
    });
    this.launch(job, async (signal) => {
      const vm = await store.vms.get(point.platformVmId);
      const repo = await this.repository(point.repositoryId);
      return this.agentJob(job, vm?.hostId, signal, (hostId) => this.deps.gateway.startVerify(hostId, {
        requestId: job.id, repository: repo.url, vmId: point.platformVmId, point: point.pointId, restoreTest,
      }, { signal }));
    });
    return job;
  }

  async importRepository(repositoryId: string, req: MaintenanceRequest): Promise<MaintenanceJob> {
    const repo = await this.repository(repositoryId);
    const job = await this.create('import', req, repositoryId, { platformVmId: null, request: { repository: repo.url } });
    this.launch(job, async (signal) => {
      const hostId = await pickAgentHost(this.deps.store);
      await this.deps.store.maintenance.update(job.id, { status: 'running', startedAt: this.clock(), kvmHostId: hostId }, ['queued']);
      const scan = scannedVms(await this.deps.gateway.scan(hostId, { repository: repo.url }, { signal }));
      const { job: done } = await this.deps.store.maintenance.finishImport(job.id, { vms: scan.vms, usedBytes: scan.usedBytes }, this.clock());
      if (scan.problems.length) await this.deps.store.maintenance.update(job.id, { result: { ...done.result, problems: scan.problems } });
      return (await this.deps.store.maintenance.get(job.id))!;
    });
    return job;
  }

  /** The job once it ended (the row as it is when no run of this process watches it). */
  async settled(jobId: string): Promise<MaintenanceJob> {
    const run = this.running.get(jobId);
    if (run) return run;
    const job = await this.deps.store.maintenance.get(jobId);
    if (!job) throw new MaintenanceError('notfound', `no maintenance job ${jobId}`);
    return job;
  }

  /**
   * Jobs a previous process — or another instance that died — left and that nobody holds (their
   * lease free or expired): running ones with an agent job id are watched again, the others fail
   * as interrupted. Called at start and then every `leaseMs / 3`.
   */
  async recover(): Promise<{ resumed: number; failed: number }> {
    let resumed = 0;
    let failed = 0;
    this.leases.start(() => this.recover());
    for (const job of await this.deps.store.maintenance.unfinished()) {
      if (this.running.has(job.id) || this.leases.isHeld(job.id) || this.ctl.signal.aborted) continue;
      if (!(await this.leases.claim(job.id))) continue; // a live instance has it
      if (job.status === 'running' && job.agentJobId && job.kvmHostId && job.kind !== 'import') {
        const { kvmHostId, agentJobId } = job;
        this.launch(job, (signal) => this.finishAgentJob(job, kvmHostId, agentJobId, signal));
        resumed++;
      } else {
        await this.fail(job, 'interrupted', `the control plane stopped while the ${job.kind} was ${job.status}: it is unknown whether the agent ran it`);
        await this.leases.drop(job.id);
        failed++;
      }
    }
    return { resumed, failed };
  }

  /** Stops watching, writing nothing more: agent jobs keep running; the leases are given up. */
  async stop(): Promise<void> {
    this.ctl.abort(new MaintenanceError('interrupted', 'the control plane is stopping'));
    await Promise.allSettled([...this.running.values()]);
    await this.leases.stop();
  }

  // ---- the run ----

  private async create(kind: MaintenanceKind, req: MaintenanceRequest, repositoryId: string, rest: Pick<MaintenanceJob, 'platformVmId' | 'request'> & Partial<MaintenanceJob>) {
    const job = await this.deps.store.maintenance.create({
      id: crypto.randomUUID(), kind, trigger: req.trigger, status: 'queued', repositoryId, requestedBy: req.requestedBy ?? null, queuedAt: this.clock(), ...rest,
    });
    await this.leases.claim(job.id);
    return job;
  }

  private async repository(id: string) {
    const repo = await this.deps.store.repositories.get(id);
    if (!repo) throw new MaintenanceError('notfound', `repository ${id} no longer exists`);
    return repo;
  }

  private launch(job: MaintenanceJob, body: (signal: AbortSignal) => Promise<MaintenanceJob>): void {
    const lease = new AbortController(); // aborted when another instance holds the job's lease now
    this.leases.hold(job.id, lease);
    const signal = AbortSignal.any([this.ctl.signal, lease.signal]);
    const run = body(signal).catch(async (e: unknown) => {
      if (signal.aborted) return (await this.deps.store.maintenance.get(job.id))!;
      const code = e instanceof MaintenanceError ? e.code : (e as { code?: string }).code === 'rejected' ? 'rejected' : 'agent_failed';
      return this.fail(job, code, (e as Error).message);
    }).then(async (done) => {
      if (signal.aborted) return done; // stopped or taken over: the job goes on elsewhere, nothing is written here
      await this.ended(done);
      await this.leases.drop(job.id, true, lease);
      return done;
    }).finally(() => this.running.delete(job.id));
    this.running.set(job.id, run);
  }

  /** starts the agent job on a host, records it running, and finishes it when the agent is done */
  private async agentJob(job: MaintenanceJob, preferHost: string | null | undefined, signal: AbortSignal, start: (hostId: string) => Promise<{ agentJobId: string }>) {
    const hostId = await pickAgentHost(this.deps.store, preferHost);
    const { store } = this.deps;
    if (!(await store.maintenance.update(job.id, { status: 'running', startedAt: this.clock(), kvmHostId: hostId }, ['queued']))) {
      throw new MaintenanceError('interrupted', `maintenance job ${job.id} is no longer queued`);
    }
    // a retry carries the same requestId: the agent answers with the job the first try created
    let started: { agentJobId: string } | undefined;
    for (let attempt = 1; !started; attempt++) {
      try {
        started = await start(hostId);
      } catch (e) {
        if (attempt >= 3 || !(e instanceof AgentGatewayError) || e.code !== 'unreachable' || signal.aborted) throw e;
        await sleep(1000, signal);
      }
    }
    const { agentJobId } = started;
    await store.maintenance.update(job.id, { agentJobId });
    void this.deps.changes?.publish(`maintenance:${job.id}`);
    return this.finishAgentJob(job, hostId, agentJobId, signal);
  }

  private async finishAgentJob(job: MaintenanceJob, hostId: string, agentJobId: string, signal: AbortSignal): Promise<MaintenanceJob> {
    const s: AgentJobStatus = await followAgentJob(this.deps.gateway, hostId, agentJobId, {
      signal, pollMs: this.deps.pollMs ?? 200, giveUpMs: this.deps.unreachableTimeoutMs ?? 60_000, log: (m) => this.deps.log?.(`[maintenance] ${m}`),
    });
    const at = this.clock();
    const asked = job.request.pointId as string | undefined;
    if (job.kind === 'verify' && s.state === 'failed' && s.error?.code === 'verification-failed') {
      // the daemon fails a verification that found problems (the memory agent succeeds with ok: false): the point failed all the same
      const applied = s.verify ? verifyResults(s.verify, asked) : { points: asked ? [{ pointId: asked, ok: false, problems: [s.error.message] }] : [], durationMs: 0 };
      return this.deps.store.maintenance.finishVerify(job.id, applied, at);
    }
    if (s.state !== 'succeeded') {
      return this.fail(job, s.error?.code ?? 'agent_failed', `[maintenance] the agent's ${job.kind} ${s.state}: ${s.error?.message ?? 'no reason given'}`);
    }
    if (job.kind === 'prune' && s.prune) return this.deps.store.maintenance.finishPrune(job.id, s.prune, at);
    if (job.kind === 'verify' && s.verify) {
      return this.deps.store.maintenance.finishVerify(job.id, verifyResults(s.verify, asked), at);
    }
    return this.fail(job, 'protocol', `[maintenance] the agent's ${job.kind} succeeded without its outcome`);
  }

  private async fail(job: MaintenanceJob, code: string, message: string): Promise<MaintenanceJob> {
    const done = await this.deps.store.maintenance.update(job.id, { status: 'failed', errorCode: code, error: message, finishedAt: this.clock() }, ['queued', 'running']);
    return done ?? (await this.deps.store.maintenance.get(job.id))!;
  }

  /** audit entry and metrics for a job that ended */
  private async ended(job: MaintenanceJob): Promise<void> {
    const { metrics, store } = this.deps;
    void this.deps.changes?.publish(`maintenance:${job.id}`);
    metrics?.inc('sendense_maintenance_jobs_total', 'Maintenance jobs (prune, verify, import) that ended, by kind and status', { kind: job.kind, status: job.status });
    if (job.kind === 'verify' && job.errorCode === 'verification_failed') {
      const failed = ((job.result?.points ?? []) as { ok: boolean }[]).filter((p) => !p.ok).length;
      metrics?.inc('sendense_verification_failures_total', 'Restore points that failed verification', {}, failed);
    }
    if (job.status === 'failed') this.deps.log?.(`[maintenance] ${job.kind} job ${job.id} failed: ${job.error}`);
    await store.audit.append({
      at: this.clock(), actor: 'system:maintenance', via: 'system', action: `${job.kind}.finish`,
      targetType: job.restorePointId ? 'restore-point' : job.platformVmId ? 'vm' : 'repository',
      targetId: job.restorePointId ?? job.platformVmId ?? job.repositoryId, outcome: job.status === 'succeeded' ? 'ok' : 'error',
      details: { jobId: job.id, status: job.status, errorCode: job.errorCode, error: job.error },
    });
  }
}
