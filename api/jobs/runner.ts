/**
 * @layer usecase
 * JobRunner: runs backup jobs through the agents, with the database as the only memory.
 *
 * - `enqueue` plans the backup (policy, chain, full or incremental), records a queued job and
 *   pumps the queue. `pump` dispatches what may start (api/jobs/queue.ts: per-host limit, one
 *   job per VM), each job: queued → dispatching (CloudStack says where the VM is now and what its
 *   libvirt domain is, and which agent runs it: placeBackup in place.ts) → the agent accepts it → running with its agent job id.
 * - A running job is watched through the agent's event stream (progress saved at most every
 *   `progressWriteMs`, every change pushed to `subscribe`rs); when the stream drops, the runner
 *   polls the job's status and subscribes again.
 * - The end: a succeeded job's manifest is validated (zod) and linked to the recorded chain
 *   (api/jobs/link-point.ts); the point and the job's success are written in one transaction.
 *   A failed or cancelled job records no point and says why. Whatever is wrong with a result
 *   fails the job instead of recording it: never a bogus point.
 * - `recover` (at start) picks up where a stopped or killed control plane left off: queued jobs
 *   stay queued, running ones are polled again through their agent job id (an agent that no
 *   longer knows the id fails the job), and a job caught between "dispatching" and the agent's
 *   answer is failed: it is unknown whether the agent got it.
 * - `stop` stops watching without writing anything (as a kill would): the agents keep running.
 * - Several instances on one database: each job is watched by the instance holding its lease
 *   (`job:<id>`, renewed every `jobLeaseMs / 3`); queued jobs go to whichever instance's
 *   compare-and-set to dispatching wins. `recover` runs again with every renewal, so the jobs of
 *   an instance that died are re-attached (their agent jobs polled again, not restarted) by
 *   another within `jobLeaseMs` (30 s) plus one renewal interval (10 s).
 */
import { PointManifest } from '../../agent/repository/manifest.ts';
import type { AgentVm } from '../cloudstack/resolve.ts';
import type { CloudStackApi } from '../cloudstack/port.ts';
import type { BackupJob, JobStatus } from '../../db/schema.ts';
import { StoreError, type JobPatch, type Store } from '../../db/store.ts';
import { AgentGatewayError, type AgentGateway, type AgentJobStatus, type AgentProgress } from '../agents/port.ts';
import { deviceOfTarget } from '../agents/targets.ts';
import { followAgentJob } from '../agents/follow.ts';
import type { ChangeFeed } from '../../db/changes.ts';
import { JobLeases } from '../lib/job-leases.ts';
import { retryChanged, Subscribers } from '../lib/subscribers.ts';
import type { RequestedMode } from '../policy/decide.ts';
import { JobError } from './errors.ts';
import { linkPoint, PointLinkError } from './link-point.ts';
import { planBackup } from './plan.ts';
import { placeBackup, PlacementError } from './place.ts';
import { pickRunnable } from './queue.ts';
import { assertNoInPlaceRestore } from '../restore/exclusive.ts';
import { allowedFrom, isTerminal } from './state.ts';

export interface RunnerDeps {
  store: Store;
  gateway: AgentGateway;
  /** root admin view (resolveVmForAgent needs instancename, hostid and volume paths) */
  cs: Pick<CloudStackApi, 'getVirtualMachine' | 'listVolumes' | 'getStoragePool' | 'getHost' | 'listKvmHosts'>;
  /** jobs dispatched or running at once on one KVM host (default 2) */
  perHostLimit?: number;
  clock?: () => Date;
  /** ms between status polls while a job's event stream is down (default 2000) */
  pollMs?: number;
  /** progress is written to the database at most this often (default 1000 ms) */
  progressWriteMs?: number;
  /** a job whose agent stays unreachable this long is failed (default 30 min) */
  unreachableTimeoutMs?: number;
  log?: (msg: string) => void;
  /**
   * this control-plane instance (several may share one PostgreSQL): a job is watched by the
   * instance holding its lease `job:<id>` (db LeaseStore), renewed every `jobLeaseMs / 3`; a job
   * whose holder died is re-attached by the next `recover()` after the lease expired (default 30 s)
   */
  instanceId?: string;
  jobLeaseMs?: number;
  /** tells the other instances of a job's changes (their subscribers read it again); default: none */
  changes?: ChangeFeed;
}

export interface EnqueueRequest {
  vmId: string;
  requested?: RequestedMode;
  trigger: 'manual' | 'schedule';
  /** the policy that asks (the scheduler); default: the VM's effective policy */
  policyId?: string | null;
  requestedBy?: string | null;
  quiesce?: boolean;
}

export type JobListener = (job: BackupJob) => void;

const ACTIVE: JobStatus[] = ['dispatching', 'running', 'cancelling'];

export class JobRunner {
  private readonly clock: () => Date;
  private readonly perHostLimit: number;
  private readonly subscribers: Subscribers<BackupJob>;
  /** the last row written for each job being watched: progress is merged into it */
  private readonly latest = new Map<string, BackupJob>();
  private readonly watchers = new Map<string, AbortController>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly stopped = new AbortController();
  private pumping?: Promise<void>;
  private pumpAgain = false;
  /** enqueue calls per VM, one after the other (the one-queued-backup check and the insert together) */
  private readonly enqueueing = new Map<string, Promise<unknown>>();
  private readonly leases: JobLeases;
  /** jobs this instance is handing to an agent right now (its lease is its own, not a dead holder's) */
  private readonly dispatching = new Set<string>();

  constructor(private readonly deps: RunnerDeps) {
    this.clock = deps.clock ?? (() => new Date());
    this.leases = new JobLeases({
      leases: deps.store.leases, kind: 'job', holder: deps.instanceId ?? `runner-${crypto.randomUUID()}`, ttlMs: deps.jobLeaseMs ?? 30_000,
      clock: this.clock, log: (m) => this.log(m),
    });
    this.perHostLimit = Math.max(1, deps.perHostLimit ?? 2);
    this.subscribers = new Subscribers<BackupJob>({
      kind: 'job', feed: deps.changes, load: (id) => deps.store.jobs.get(id), ended: (j) => isTerminal(j.status),
      notFound: (id) => new JobError('notfound', `no job ${id}`), log: (m) => this.log(m),
    });
  }

  // ---- requests ----

  /** At most one queued backup per VM: asking again (a user, the scheduler) returns the queued one. */
  async enqueue(req: EnqueueRequest): Promise<BackupJob> {
    const before = this.enqueueing.get(req.vmId) ?? Promise.resolve();
    const mine = before.catch(() => {}).then(() => this.enqueueOnce(req));
    const tail = mine.catch(() => {});
    this.enqueueing.set(req.vmId, tail);
    void tail.then(() => { if (this.enqueueing.get(req.vmId) === tail) this.enqueueing.delete(req.vmId); });
    return mine;
  }

  private async enqueueOnce(req: EnqueueRequest): Promise<BackupJob> {
    const [queued] = await this.deps.store.jobs.list({ vmId: req.vmId, status: ['queued'], limit: 1 });
    if (queued) return queued;
    // an in-place restore replaces the VM's volumes: no backup of it meanwhile (409)
    await assertNoInPlaceRestore(this.deps.store, req.vmId, 'a backup');
    const requested = req.requested ?? 'auto';
    const plan = await planBackup(this.deps.store, req.vmId, requested, req.policyId);
    const now = this.clock();
    const job = await this.deps.store.jobs.create({
      id: crypto.randomUUID(), sourcePlatform: 'cloudstack', platformVmId: plan.vm.id, vmName: plan.vm.name,
      kvmHostId: plan.vm.hostId, requestedMode: requested, quiesce: req.quiesce ?? false,
      type: plan.decision.type, typeReason: plan.decision.reason, trigger: req.trigger,
      policyId: plan.policy?.id ?? null, repositoryId: plan.repository.id, status: 'queued',
      requestedBy: req.requestedBy ?? null, queuedAt: now, updatedAt: now,
    });
    this.pump();
    return job;
  }

  async cancel(jobId: string): Promise<BackupJob> {
    return retryChanged(() => this.cancelOnce(jobId), () => new JobError('conflict', `job ${jobId} changed state too often to cancel it; try again`));
  }

  /** one try: the job cancelled or cancelling, or undefined when its state changed meanwhile */
  private async cancelOnce(jobId: string): Promise<BackupJob | undefined> {
    const job = await this.deps.store.jobs.get(jobId);
    if (!job) throw new JobError('notfound', `no job ${jobId}`);
    if (isTerminal(job.status)) throw new JobError('conflict', `job ${jobId} has already ${job.status === 'cancelled' ? 'been cancelled' : job.status}`);
    if (job.status === 'cancelling') return job;
    if (job.status === 'queued') {
      const done = await this.set(job.id, { status: 'cancelled', finishedAt: this.clock(), errorCode: 'cancelled', error: 'cancelled before it started' }, ['queued']);
      if (done) { await this.auditEnd(done); this.pump(); }
      return done; // undefined: dispatched meanwhile
    }
    const cancelling = await this.set(job.id, { status: 'cancelling' }, allowedFrom('cancel'));
    if (cancelling?.agentJobId && cancelling.kvmHostId) {
      try {
        await this.deps.gateway.cancel(cancelling.kvmHostId, cancelling.agentJobId);
      } catch (e) {
        // unreachable: the watcher keeps polling and sees the end; unknown: the watcher fails it
        this.log(`job ${job.id}: cancel not delivered: ${(e as Error).message}`);
      }
    }
    return cancelling;
  }

  /** Calls `fn` with the job at every change (progress included; another instance's changes as it writes them) until it ends; returns the unsubscribe. */
  subscribe(jobId: string, fn: JobListener): () => void {
    return this.subscribers.subscribe(jobId, fn);
  }

  /** Resolves with the job once it has ended (whichever instance runs it). */
  settled(jobId: string, signal?: AbortSignal): Promise<BackupJob> {
    return this.subscribers.settled(jobId, signal);
  }

  // ---- life cycle ----

  /**
   * Picks up the jobs a previous process — or another instance that died — left unfinished and
   * that nobody holds (their lease free or expired), re-attaching to their agent jobs; then pumps
   * the queue. Called at start and then every `jobLeaseMs / 3` (take-over within about
   * `jobLeaseMs` plus that interval).
   */
  async recover(): Promise<{ resumed: number; failed: number; queued: number }> {
    const out = { resumed: 0, failed: 0, queued: 0 };
    this.leases.start(() => this.recover());
    for (const job of await this.deps.store.jobs.unfinished()) {
      if (job.status === 'queued') { out.queued++; continue; }
      if (this.watchers.has(job.id) || this.dispatching.has(job.id) || this.stopped.signal.aborted) continue;
      if (!(await this.leases.claim(job.id))) continue; // a live instance has it
      if (!job.agentJobId || !job.kvmHostId) {
        const failed = await this.fail(job.id, 'interrupted', 'the control plane stopped while handing the job to the agent: whether the agent started it is unknown');
        if (failed) out.failed++;
        await this.leases.drop(job.id);
        continue;
      }
      if (job.status === 'cancelling') {
        await this.deps.gateway.cancel(job.kvmHostId, job.agentJobId).catch((e: unknown) => this.log(`job ${job.id}: cancel not delivered: ${(e as Error).message}`));
      }
      this.watch(job);
      out.resumed++;
    }
    this.pump();
    return out;
  }

  /** Stops dispatching and watching, writing nothing more; agent jobs keep running (their leases given up: another instance may take them at once). */
  async stop(): Promise<void> {
    this.stopped.abort(new Error('[jobs] runner stopped'));
    for (const w of this.watchers.values()) w.abort(this.stopped.signal.reason);
    await Promise.allSettled([...this.inFlight, this.pumping]);
    await this.leases.stop();
  }

  /** Resolves when no dispatch, watch or pump is in flight (tests). */
  async idle(): Promise<void> {
    while (this.inFlight.size || this.pumping) await Promise.allSettled([...this.inFlight, this.pumping]);
  }

  /** Starts what may start now (serialized: one round at a time, another if asked meanwhile). */
  pump(): void {
    if (this.stopped.signal.aborted) return;
    if (this.pumping) { this.pumpAgain = true; return; }
    this.pumping = this.round()
      .catch((e: unknown) => this.log(`queue round failed: ${(e as Error).message}`))
      .finally(() => {
        this.pumping = undefined;
        if (this.pumpAgain) { this.pumpAgain = false; this.pump(); }
      });
  }

  // ---- internals ----

  private async round(): Promise<void> {
    const jobs = await this.deps.store.jobs.unfinished();
    const queued = jobs.filter((j) => j.status === 'queued').map((j) => ({ id: j.id, vmId: j.platformVmId, hostId: j.kvmHostId }));
    const active = jobs.filter((j) => ACTIVE.includes(j.status)).map((j) => ({ vmId: j.platformVmId, hostId: j.kvmHostId }));
    for (const id of pickRunnable(queued, active, this.perHostLimit)) {
      const job = await this.set(id, { status: 'dispatching' }, ['queued']);
      if (!job) continue; // another instance took it
      this.dispatching.add(id);
      const mine = new AbortController(); // a lease lost while dispatching: the watch that follows finds out at its next renewal
      await this.leases.claim(id);
      this.leases.hold(id, mine);
      this.track(this.dispatch(job).finally(() => { this.dispatching.delete(id); if (!this.stopped.signal.aborted) void this.leases.drop(id, false, mine); }));
    }
  }

  private track(p: Promise<unknown>): void {
    this.inFlight.add(p);
    void p.catch((e: unknown) => this.log(`unexpected: ${(e as Error).stack ?? e}`)).finally(() => this.inFlight.delete(p));
  }

  private async dispatch(job: BackupJob): Promise<void> {
    const signal = this.stopped.signal;
    let vm: AgentVm;
    try {
      vm = await placeBackup(this.deps, job.platformVmId, { signal });
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof PlacementError) { await this.fail(job.id, e.code, e.message); return; }
      await this.fail(job.id, 'resolve_failed', `cannot locate VM ${job.platformVmId} in CloudStack: ${(e as Error).message}`);
      return;
    }
    let plan;
    try {
      plan = await planBackup(this.deps.store, job.platformVmId, job.requestedMode, job.policyId);
    } catch (e) {
      await this.fail(job.id, 'plan_failed', (e as Error).message);
      return;
    }
    const repository = await this.deps.store.repositories.get(job.repositoryId);
    if (!repository) { await this.fail(job.id, 'plan_failed', `repository ${job.repositoryId} no longer exists`); return; }
    const dispatched = await this.set(job.id, { kvmHostId: vm.host.id, type: plan.decision.type, typeReason: plan.decision.reason }, ['dispatching', 'cancelling']);
    if (!dispatched) return;
    if (dispatched.status === 'dispatching' && vm.host.id !== job.kvmHostId
      && (await this.deps.store.jobs.count({ hostId: vm.host.id, status: ACTIVE })) > this.perHostLimit) {
      // the VM is on a host that is already at its limit (a stopped VM's host is known only now): wait in the queue
      if (await this.set(job.id, { status: 'queued' }, allowedFrom('requeue'))) this.pump();
      return;
    }
    if (dispatched.status === 'cancelling') {
      await this.set(job.id, { status: 'cancelled', finishedAt: this.clock(), errorCode: 'cancelled', error: 'cancelled before the agent started it' }, ['cancelling'])
        .then((j) => j && this.auditEnd(j));
      this.pump();
      return;
    }
    let agentJobId: string;
    try {
      ({ agentJobId } = await this.deps.gateway.startBackup(vm.host.id, {
        requestId: job.id, vmId: vm.vmId, domain: vm.instanceName, mode: plan.decision.agentMode, repository: repository.url,
        quiesce: job.quiesce,
        platformMetadata: { cloudstack: { vm_id: vm.vmId, zone: plan.vm.zoneName ?? undefined, service_offering: plan.vm.serviceOffering ?? undefined, template: plan.vm.template ?? undefined } },
      }, { signal }));
    } catch (e) {
      if (signal.aborted) return; // killed mid-dispatch: recover() decides
      const code = e instanceof AgentGatewayError ? `agent_${e.code}` : 'dispatch_failed';
      await this.fail(job.id, code, `the agent on host ${vm.host.name} (${vm.host.ip}) did not take the job: ${(e as Error).message}`);
      return;
    }
    const running = await this.set(job.id, { status: 'running', agentJobId, startedAt: this.clock() }, ['dispatching'])
      ?? await this.set(job.id, { agentJobId, startedAt: this.clock() }, ['cancelling']);
    if (!running) return;
    if (running.status === 'cancelling') {
      await this.deps.gateway.cancel(vm.host.id, agentJobId).catch((e: unknown) => this.log(`job ${job.id}: cancel not delivered: ${(e as Error).message}`));
    }
    this.watch(running);
  }

  private watch(job: BackupJob): void {
    if (this.watchers.has(job.id) || this.stopped.signal.aborted) return;
    const ac = new AbortController();
    this.watchers.set(job.id, ac);
    this.leases.hold(job.id, ac);
    this.track(this.follow(job, ac.signal).finally(async () => {
      this.watchers.delete(job.id);
      this.latest.delete(job.id);
      if (!this.stopped.signal.aborted) await this.leases.drop(job.id, !ac.signal.aborted, ac);
    }));
  }

  private async follow(job: BackupJob, signal: AbortSignal): Promise<void> {
    const hostId = job.kvmHostId!;
    const agentJobId = job.agentJobId!;
    const giveUpMs = this.deps.unreachableTimeoutMs ?? 30 * 60_000;
    let current = job;
    let lastWrite = 0;
    let end: AgentJobStatus;
    try {
      end = await followAgentJob(this.deps.gateway, hostId, agentJobId, {
        signal, pollMs: this.deps.pollMs ?? 2000, giveUpMs, log: (m) => this.log(`job ${job.id}: ${m}`),
        onProgress: async (progress) => {
          current = { ...(this.latest.get(job.id) ?? current), ...progressPatch(progress) };
          this.subscribers.notify(current, false); // not written yet: the other instances hear of it when it is
          if (Date.now() - lastWrite < (this.deps.progressWriteMs ?? 1000)) return;
          lastWrite = Date.now();
          current = (await this.set(job.id, progressPatch(progress), ['running', 'cancelling'], false)) ?? current;
        },
      });
    } catch (e) {
      if (signal.aborted) return;
      if (e instanceof AgentGatewayError && e.code === 'unknown_job') {
        await this.fail(job.id, 'agent_lost_job', `the agent on host ${hostId} no longer knows job ${agentJobId} (restarted without its journal?): no restore point was recorded`);
        return;
      }
      if (e instanceof AgentGatewayError && e.code === 'unreachable') {
        await this.fail(job.id, 'agent_unreachable', `the agent on host ${hostId} did not answer for ${Math.round(giveUpMs / 1000)} s: ${((e.cause as Error | undefined) ?? e).message}`);
        return;
      }
      throw e;
    }
    await this.finish(current, end);
  }

  private async finish(job: BackupJob, status: AgentJobStatus): Promise<void> {
    const finishedAt = this.clock();
    if (status.state === 'cancelled') {
      const j = await this.set(job.id, { status: 'cancelled', finishedAt, errorCode: 'cancelled', error: status.error?.message ?? 'cancelled' }, allowedFrom('cancelled'));
      if (j) await this.auditEnd(j);
    } else if (status.state === 'failed') {
      await this.fail(job.id, status.error?.code ?? 'agent_failed', status.error?.message ?? 'the agent reported a failure without a reason');
    } else {
      await this.record(job, status);
    }
    this.pump();
  }

  private async record(job: BackupJob, status: AgentJobStatus): Promise<void> {
    const parsed = PointManifest.safeParse(status.result?.manifest);
    if (!parsed.success) {
      await this.fail(job.id, 'bad_result', `the agent reported success without a valid point manifest: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
      return;
    }
    const m = parsed.data;
    const { store } = this.deps;
    try {
      const head = await store.points.chainHead(job.platformVmId, job.repositoryId);
      const chain = linkPoint(m, job.platformVmId, head && { chainId: head.chain.id, id: head.point.id, pointId: head.point.pointId });
      const volumeIds: Record<number, string> = {};
      const disks = await store.vms.disks(job.platformVmId);
      for (const d of m.disks) {
        const device = typeof d.device_id === 'number' ? d.device_id : deviceOfTarget(d.target);
        const vol = disks.find((x) => x.deviceId === device);
        if (vol) volumeIds[d.index] = vol.id;
      }
      const bytesRead = m.disks.reduce((a, d) => a + d.bytes_read, 0);
      const point = await store.points.record({
        jobId: job.id, manifest: m, platformVmId: job.platformVmId, sourcePlatform: job.sourcePlatform, repositoryId: job.repositoryId,
        chain, volumeIds,
        jobPatch: {
          status: 'succeeded', progress: 1, finishedAt: this.clock(), bytesDone: bytesRead, bytesTotal: job.bytesTotal ?? bytesRead,
          bytesWritten: m.disks.reduce((a, d) => a + d.bytes_written, 0), errorCode: null, error: null,
        },
      });
      const done = await store.jobs.get(job.id);
      if (done) {
        this.subscribers.notify(done);
        await this.auditEnd(done, { restorePointId: point.id, pointId: m.id, type: m.type, reason: m.reason });
      }
    } catch (e) {
      if (!(e instanceof PointLinkError || e instanceof StoreError)) throw e;
      await this.fail(job.id, 'point_rejected', `the agent's point ${m.id} was not recorded: ${e.message}`);
    }
  }

  private async fail(jobId: string, code: string, message: string): Promise<BackupJob | undefined> {
    const j = await this.set(jobId, { status: 'failed', errorCode: code, error: message, finishedAt: this.clock() }, allowedFrom('fail'));
    if (j) await this.auditEnd(j);
    return j;
  }

  private async set(id: string, patch: JobPatch, expect: JobStatus[], notify = true): Promise<BackupJob | undefined> {
    const j = await this.deps.store.jobs.update(id, { ...patch, updatedAt: this.clock() }, expect);
    if (j) {
      if (isTerminal(j.status)) this.latest.delete(id);
      else this.latest.set(id, j);
      if (notify) this.subscribers.notify(j);
      else this.subscribers.publish(id);
    }
    return j;
  }

  private async auditEnd(job: BackupJob, details: Record<string, unknown> = {}): Promise<void> {
    await this.deps.store.audit.append({
      at: this.clock(), actor: 'system:jobs', via: 'system', action: `job.${job.status}`, targetType: 'job', targetId: job.id,
      outcome: job.status === 'failed' ? 'error' : 'ok',
      details: { vmId: job.platformVmId, ...(job.errorCode ? { errorCode: job.errorCode, error: job.error } : {}), ...details },
    });
  }

  private log(msg: string): void {
    this.deps.log?.(`[jobs] ${msg}`);
  }
}

function progressPatch(p: AgentProgress): JobPatch {
  return {
    progress: p.bytesToRead > 0 ? Math.min(1, p.bytesRead / p.bytesToRead) : 0,
    bytesTotal: p.bytesToRead, bytesDone: p.bytesRead, bytesWritten: p.bytesWritten, currentDisk: p.disk,
  };
}
