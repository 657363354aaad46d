/**
 * @layer usecase
 * VmwareImportRunner: `POST /api/v1/repositories/{id}/import` with a VMware source. An agent
 * reads the export at a path ON ITS HOST (the one the admin names, else any active agent) and
 * writes a `vmware` restore point into the repository (agent/vmware/import-job.ts); the control
 * plane records the job as a maintenance job (kind `import`, request `{source: {platform:
 * 'vmware', path, hostId}}`), follows the agent job (its progress in `result.progress`), and at
 * the end records the VM's new points from the repository (a re-export is an incremental on the
 * newest recorded point) with the point's `platform_metadata`, in the transaction that ends the
 * job (MaintenanceStore.finishImport). The end is audited (`import.finish`) and counted
 * (`sendense_imports_total`, `sendense_import_bytes_total`, `sendense_import_duration_seconds`
 * by source_platform). Several instances on one database: the job is watched under its lease
 * `maintenance:<id>` (api/lib/job-leases.ts, taken before the row exists), so the maintenance
 * runners of other instances leave it alone; an instance that dies leaves the job to be failed as
 * interrupted by another (the agent's import may have finished: a repository scan records it).
 */
import type { MaintenanceJob, MaintenanceTrigger } from '../../db/schema.ts';
import type { Store } from '../../db/store.ts';
import { AGENT_TERMINAL_STATES, AgentGatewayError, type AgentGateway, type AgentJobStatus } from '../agents/port.ts';
import { JobLeases } from '../lib/job-leases.ts';
import { sleep } from '../lib/sleep.ts';
import type { MetricsRegistry } from '../metrics/registry.ts';
import { MaintenanceError, pickAgentHost } from '../retention/agent-job.ts';
import { scannedVms } from '../retention/import.ts';

export type ImportGateway = Pick<AgentGateway, 'startImport' | 'jobStatus' | 'scan'>;

export interface VmwareImportRunnerDeps {
  store: Store;
  gateway: ImportGateway;
  clock?: () => Date;
  log?: (msg: string) => void;
  metrics?: MetricsRegistry;
  /** agent job poll interval (default 500 ms) */
  pollMs?: number;
  instanceId?: string;
  /** the job lease's time-to-live (default 30 s) */
  leaseMs?: number;
}

export interface VmwareImportAsk {
  /** the export's path on the agent host */
  path: string;
  /** the host whose agent reads it (CloudStack host id); default: any active agent */
  hostId?: string;
  vmId?: string;
  mode?: 'auto' | 'full';
  trigger?: MaintenanceTrigger;
  requestedBy?: string | null;
}

export class VmwareImportRunner {
  private readonly running = new Map<string, Promise<MaintenanceJob>>();
  private readonly ctl = new AbortController();
  private readonly clock: () => Date;
  private readonly leases: JobLeases;

  constructor(private readonly deps: VmwareImportRunnerDeps) {
    this.clock = deps.clock ?? (() => new Date());
    this.leases = new JobLeases({
      leases: deps.store.leases, kind: 'maintenance', holder: deps.instanceId ?? `vmware-import-${crypto.randomUUID()}`, ttlMs: deps.leaseMs ?? 30_000,
      clock: this.clock, log: deps.log,
    });
  }

  /** Records a queued import job and starts it; the agent part runs in the background (`settled`). */
  async start(repositoryId: string, ask: VmwareImportAsk): Promise<MaintenanceJob> {
    const { store, gateway } = this.deps;
    const repo = await store.repositories.get(repositoryId);
    if (!repo) throw new MaintenanceError('notfound', `no repository ${repositoryId}`);
    if (!gateway.startImport) throw new MaintenanceError('no_agent', 'the agents of this control plane cannot import VMware exports (an in-memory agent): run the control plane with real agents');
    if (ask.hostId && !(await store.agents.list()).some((a) => a.hostId === ask.hostId)) {
      throw new MaintenanceError('notfound', `no agent on host ${ask.hostId}: name a KVM host whose agent can read the export (GET /api/v1/agents)`);
    }
    const hostId = ask.hostId ?? await pickAgentHost(store);
    const id = crypto.randomUUID();
    // the lease first: another instance's maintenance runner must never see the row unwatched
    const lease = new AbortController();
    if (!(await this.leases.claim(id))) throw new MaintenanceError('busy', `the lease of import job ${id} is taken`);
    this.leases.hold(id, lease);
    this.leases.start(async () => {});
    const job = await store.maintenance.create({
      id, kind: 'import', trigger: ask.trigger ?? 'manual', status: 'queued', repositoryId,
      platformVmId: ask.vmId?.toLowerCase() ?? null, requestedBy: ask.requestedBy ?? null, queuedAt: this.clock(),
      request: { source: { platform: 'vmware', path: ask.path, hostId }, repository: repo.url, ...(ask.vmId ? { vmId: ask.vmId } : {}), mode: ask.mode ?? 'auto' },
    });
    const signal = AbortSignal.any([this.ctl.signal, lease.signal]);
    const run = this.run(job, hostId, repo.url, ask, signal).catch(async (e: unknown) => {
      if (signal.aborted) return (await store.maintenance.get(job.id))!;
      const code = e instanceof MaintenanceError ? e.code : e instanceof AgentGatewayError ? (e.code === 'rejected' ? 'rejected' : 'agent_failed') : 'agent_failed';
      return this.fail(job.id, code, (e as Error).message);
    }).then(async (done) => {
      await this.ended(done);
      return done;
    }).finally(async () => {
      this.running.delete(job.id);
      if (!this.ctl.signal.aborted) await this.leases.drop(job.id, true, lease);
    });
    this.running.set(job.id, run);
    return job;
  }

  async settled(jobId: string): Promise<MaintenanceJob> {
    const run = this.running.get(jobId);
    if (run) return run;
    const job = await this.deps.store.maintenance.get(jobId);
    if (!job) throw new MaintenanceError('notfound', `no maintenance job ${jobId}`);
    return job;
  }

  async stop(): Promise<void> {
    this.ctl.abort(new MaintenanceError('interrupted', 'the control plane is stopping'));
    await Promise.allSettled([...this.running.values()]);
    await this.leases.stop();
  }

  private async run(job: MaintenanceJob, hostId: string, repository: string, ask: VmwareImportAsk, signal: AbortSignal): Promise<MaintenanceJob> {
    const { store, gateway } = this.deps;
    if (!(await store.maintenance.update(job.id, { status: 'running', startedAt: this.clock(), kvmHostId: hostId }, ['queued']))) {
      throw new MaintenanceError('interrupted', `maintenance job ${job.id} is no longer queued`);
    }
    const { agentJobId } = await gateway.startImport!(hostId, { requestId: job.id, repository, path: ask.path, vmId: ask.vmId, mode: ask.mode }, { signal });
    await store.maintenance.update(job.id, { agentJobId });
    const s = await this.follow(job.id, hostId, agentJobId, signal);
    if (s.state !== 'succeeded') {
      return this.fail(job.id, s.error?.code ?? 'agent_failed', `[maintenance] the agent's import ${s.state}: ${s.error?.message ?? 'no reason given'}`);
    }
    if (!s.import) return this.fail(job.id, 'protocol', "[maintenance] the agent's import succeeded without its outcome");
    const out = s.import;
    const scan = scannedVms(await gateway.scan(hostId, { repository, vmId: out.vmId }, { signal }));
    const { job: done, applied } = await store.maintenance.finishImport(job.id, { vms: scan.vms }, this.clock());
    const { manifest: _m, ...outcome } = out;
    return (await store.maintenance.update(job.id, { platformVmId: out.vmId, result: { ...done.result, import: outcome, recorded: applied } })) ?? done;
  }

  /** polls the agent job to its end, writing its progress into the job's result (when it moved) */
  private async follow(jobId: string, hostId: string, agentJobId: string, signal: AbortSignal): Promise<AgentJobStatus> {
    let lostSince: number | undefined;
    let last = '';
    for (;;) {
      let s: AgentJobStatus;
      try {
        s = await this.deps.gateway.jobStatus(hostId, agentJobId, { signal });
        lostSince = undefined;
      } catch (e) {
        if (!(e instanceof AgentGatewayError) || e.code !== 'unreachable' || signal.aborted) throw e;
        lostSince ??= Date.now();
        if (Date.now() - lostSince > 60_000) throw e;
        await sleep(1000, signal);
        continue;
      }
      if (AGENT_TERMINAL_STATES.includes(s.state)) return s;
      const p = s.progress;
      const now = p ? JSON.stringify([p.bytesRead, p.bytesToRead, p.disk]) : '';
      if (p && now !== last) {
        last = now;
        await this.deps.store.maintenance.update(jobId, { result: { progress: { bytesDone: p.bytesRead, bytesTotal: p.bytesToRead, disk: p.disk } } });
      }
      await sleep(this.deps.pollMs ?? 500, signal);
    }
  }

  private async fail(id: string, code: string, message: string): Promise<MaintenanceJob> {
    const done = await this.deps.store.maintenance.update(id, { status: 'failed', errorCode: code, error: message, finishedAt: this.clock() }, ['queued', 'running']);
    return done ?? (await this.deps.store.maintenance.get(id))!;
  }

  private async ended(job: MaintenanceJob): Promise<void> {
    const { metrics, store } = this.deps;
    const labels = { source_platform: 'vmware', status: job.status };
    metrics?.inc('sendense_imports_total', 'Imports of other platforms\' exports (VMware) that ended, by source platform and status', labels);
    const outcome = job.result?.import as { bytesStored?: number; durationMs?: number } | undefined;
    if (job.status === 'succeeded' && outcome) {
      metrics?.inc('sendense_import_bytes_total', 'Bytes stored in repositories by imports, by source platform', { source_platform: 'vmware' }, outcome.bytesStored ?? 0);
      metrics?.observe('sendense_import_duration_seconds', 'How long imports took on the agent, by source platform', { source_platform: 'vmware' }, (outcome.durationMs ?? 0) / 1000);
    }
    if (job.status === 'failed') this.deps.log?.(`[maintenance] import job ${job.id} failed: ${job.error}`);
    await store.audit.append({
      at: this.clock(), actor: 'system:maintenance', via: 'system', action: 'import.finish',
      targetType: 'repository', targetId: job.repositoryId, outcome: job.status === 'succeeded' ? 'ok' : 'error',
      details: { jobId: job.id, status: job.status, source: 'vmware', vmId: job.platformVmId, errorCode: job.errorCode, error: job.error },
    });
  }
}
