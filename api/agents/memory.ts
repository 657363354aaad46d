/**
 * @layer port
 * MemoryAgentGateway: an in-memory agent on every host, for tests and the control plane's demo
 * mode. It keeps the AgentGateway contract (contract.ts): jobs move queued → running → a
 * terminal state on a timer, report progress, honour cancel, and a succeeded backup carries a
 * fake but schema-valid point manifest chained on the previous point of that VM in that
 * repository (`auto` takes an incremental when there is a parent and its checkpoint was not
 * invalidated). Restores, verifications, prunes, scans and exports answer from the same points
 * (memory-repo.ts): a restore's digest is the point's, a prune merges forward and changes what the
 * next scan lists, `upload` hands an upload destination's bytes to the test (e.g. to the
 * CloudStack simulator's upload URL). The repository and the jobs live in this object, not in the control plane: a
 * control plane re-created over the same database and the same gateway finds its jobs again,
 * as it would find a real agent's.
 *
 * Test handles: `pause()`/`resume()` freeze every job, `setReachable(host, false)` cuts a host,
 * `forgetJobs(host)` is an agent that lost its journal, `invalidateCheckpoint(vm)` a host crash,
 * `script` makes chosen requests fail or take longer, `maxConcurrent(host)` what ran at once,
 * `corrupt(vm, point, disk)` a damaged image that verification finds, `volumes` the content digest
 * an in-place restore left on each volume path.
 */
import { createHash } from 'node:crypto';
import { checkpointName, imageName, nextFreePointId, sumsName } from '../../agent/repository/layout.ts';
import type { PointDisk, PointManifest } from '../../agent/repository/manifest.ts';
import { AsyncQueue } from '../lib/async-queue.ts';
import { chainBytes, chainOf, exportStream, pruneResult, restoreOutcome, scanOutcome, verifyOutcome, type Refusal } from './memory-repo.ts';
import {
  AGENT_TERMINAL_STATES, AgentGatewayError, type AgentBackupRequest, type AgentExport, type AgentExportRequest, type AgentGateway,
  type AgentHealth, type AgentJobEvent, type AgentJobKind, type AgentJobStatus, type AgentProgress, type AgentPruneRequest,
  type AgentRestoreDestination, type AgentRestoreRequest, type AgentScanRequest, type AgentVerifyRequest, type GatewayCallOptions, type ScanOutcome,
} from './port.ts';

/** any request that starts a job */
export type MemoryJobRequest = AgentBackupRequest | AgentRestoreRequest | AgentVerifyRequest | AgentPruneRequest;

export interface MemoryAgentScript {
  /** the job fails at this progress step (0 = before any byte) with this error */
  fail?: { code: string; message: string; atTick?: number };
  /** progress steps before it completes (default: the gateway's `ticks`) */
  ticks?: number;
}

export interface MemoryDisk {
  target: string;
  size: number;
}

export interface MemoryAgentOptions {
  /** ms between progress steps (default 10) */
  tickMs?: number;
  /** progress steps of a job (default 5) */
  ticks?: number;
  /** virtual size of every disk (default 64 MiB) */
  diskSize?: number;
  /** an incremental reads this share of the disk (default 0.1) */
  incrementalShare?: number;
  version?: string;
  clock?: () => number;
  /** the disks of a VM (libvirt target, virtual size), asked when a job starts (default: vda of `diskSize`) */
  disksOf?: (req: AgentBackupRequest) => MemoryDisk[] | Promise<MemoryDisk[]>;
  script?: (hostId: string, req: MemoryJobRequest, kind: AgentJobKind) => MemoryAgentScript | undefined;
  /**
   * an upload destination's bytes, when a restore to an upload URL runs (the job fails with the
   * error this throws); without it the bytes go nowhere
   */
  upload?: (dest: Extract<AgentRestoreDestination, { kind: 'upload' }>, image: { stream: ReadableStream<Uint8Array>; size: number; format: string }) => Promise<void>;
}

interface Job {
  hostId: string;
  kind: AgentJobKind;
  /** the request as given */
  request: MemoryJobRequest;
  /** a backup's request (kind 'backup') */
  req: AgentBackupRequest;
  /** what a restore, verify or prune job does at its end (the status patch, or why it fails) */
  run?: () => Promise<Partial<AgentJobStatus> | Refusal>;
  disks: MemoryDisk[];
  status: AgentJobStatus;
  tick: number;
  ticks: number;
  script?: MemoryAgentScript;
  timer?: ReturnType<typeof setTimeout>;
  listeners: Set<AsyncQueue<AgentJobEvent>>;
  plan?: { type: 'full' | 'incremental'; reason: string; parent: PointManifest | null; readShare: number };
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const isTerminal = (s: AgentJobStatus) => AGENT_TERMINAL_STATES.includes(s.state);

export class MemoryAgentGateway implements AgentGateway {
  private readonly jobs = new Map<string, Job>();
  /** repository URL → VM id → points, oldest first */
  private readonly repos = new Map<string, Map<string, PointManifest[]>>();
  private readonly unreachable = new Set<string>();
  private readonly invalid = new Set<string>();
  private readonly running = new Map<string, number>();
  private readonly peak = new Map<string, number>();
  private paused = false;
  private seq = 0;
  readonly requests: { hostId: string; req: AgentBackupRequest; at: number }[] = [];
  /** every restore, verify and prune request, in order */
  readonly otherRequests: { hostId: string; kind: AgentJobKind; req: MemoryJobRequest; at: number }[] = [];
  /** volume path → the content digest an in-place restore left there */
  readonly volumes = new Map<string, string>();
  private readonly corrupted = new Set<string>();
  private readonly tickMs: number;
  private readonly ticks: number;
  private readonly diskSize: number;
  private readonly clock: () => number;

  constructor(private readonly opts: MemoryAgentOptions = {}) {
    this.tickMs = opts.tickMs ?? 10;
    this.ticks = opts.ticks ?? 5;
    this.diskSize = opts.diskSize ?? 64 * 2 ** 20;
    this.clock = opts.clock ?? Date.now;
  }

  // ---- the port ----

  async startBackup(hostId: string, req: AgentBackupRequest, opts: GatewayCallOptions = {}): Promise<{ agentJobId: string }> {
    this.check(hostId, opts);
    const busy = [...this.jobs.values()].find((j) => j.hostId === hostId && j.kind === 'backup' && j.req.domain === req.domain && !isTerminal(j.status));
    if (busy) throw new AgentGatewayError('rejected', `[agent] ${req.domain} is already being backed up (job ${busy.status.agentJobId})`);
    const agentJobId = `mem-${hostId.slice(0, 8)}-${++this.seq}`;
    const script = this.opts.script?.(hostId, req, 'backup');
    const known = (await this.opts.disksOf?.(req)) ?? [];
    const size = (t: string) => known.find((d) => d.target === t)?.size ?? this.diskSize;
    const disks = req.disks?.length ? req.disks.map((t) => ({ target: t, size: size(t) }))
      : known.length ? known : [{ target: 'vda', size: this.diskSize }];
    const job: Job = {
      hostId, kind: 'backup', request: req, req, disks, tick: 0, ticks: Math.max(1, script?.ticks ?? this.ticks), script, listeners: new Set(),
      status: { agentJobId, kind: 'backup', state: 'queued', startedAt: new Date(this.clock()).toISOString() },
    };
    this.jobs.set(agentJobId, job);
    this.requests.push({ hostId, req: structuredClone(req), at: this.clock() });
    this.schedule(job);
    return { agentJobId };
  }

  async startRestore(hostId: string, req: AgentRestoreRequest, opts: GatewayCallOptions = {}): Promise<{ agentJobId: string }> {
    this.check(hostId, opts);
    const d = req.destination;
    const where = d.kind === 'upload' ? d.url : d.path;
    const busy = [...this.jobs.values()].find((j) => j.hostId === hostId && j.kind === 'restore' && !isTerminal(j.status)
      && ((x) => (x.kind === 'upload' ? x.url : x.path) === where)((j.request as AgentRestoreRequest).destination));
    if (busy) throw new AgentGatewayError('rejected', `[agent] ${where} is already being restored to (job ${busy.status.agentJobId})`);
    const points = () => this.points(req.repository, req.vmId);
    const c = chainOf(points(), req.vmId, req.point);
    const bytes = 'error' in c ? 0 : chainBytes(c.chain, req.disk);
    return this.startOther(hostId, 'restore', req, req.disk, bytes, async () => {
      const out = restoreOutcome(points(), req, this.elapsed(hostId, req.requestId));
      if ('error' in out) return out;
      if (d.kind === 'upload') {
        const image = exportStream(points(), { ...req, format: out.format });
        if ('error' in image) return image;
        try {
          if (this.opts.upload) await this.opts.upload(d, { stream: image.stream, size: image.size, format: out.format });
          else await image.stream.cancel();
        } catch (e) {
          return { error: { code: 'upload', message: `[restore] upload to ${out.to} failed: ${(e as Error).message}` } };
        }
      }
      if (d.kind === 'volume') this.volumes.set(d.path, out.contentSha256);
      return { restore: out };
    });
  }

  async startVerify(hostId: string, req: AgentVerifyRequest, opts: GatewayCallOptions = {}): Promise<{ agentJobId: string }> {
    this.check(hostId, opts);
    const pts = this.points(req.repository, req.vmId).filter((p) => !req.point || p.id === req.point);
    const bytes = pts.reduce((a, p) => a + p.disks.reduce((b, d) => b + d.file_size, 0), 0);
    return this.startOther(hostId, 'verify', req, 'repository', bytes, async () => {
      const out = verifyOutcome(this.points(req.repository, req.vmId), req, this.corrupted, this.elapsed(hostId, req.requestId));
      return 'error' in out ? out : { verify: out };
    });
  }

  async startPrune(hostId: string, req: AgentPruneRequest, opts: GatewayCallOptions = {}): Promise<{ agentJobId: string }> {
    this.check(hostId, opts);
    return this.startOther(hostId, 'prune', req, 'repository', req.remove.length * this.diskSize, async () => {
      const r = pruneResult(this.points(req.repository, req.vmId), req, this.elapsed(hostId, req.requestId));
      if ('error' in r) return r;
      this.repos.get(req.repository)?.set(req.vmId, r.points);
      return { prune: r.outcome };
    });
  }

  async scan(hostId: string, req: AgentScanRequest, opts: GatewayCallOptions = {}): Promise<ScanOutcome> {
    this.check(hostId, opts);
    return structuredClone(scanOutcome(this.repos.get(req.repository) ?? new Map(), req));
  }

  async exportImage(hostId: string, req: AgentExportRequest, opts: GatewayCallOptions = {}): Promise<AgentExport> {
    this.check(hostId, opts);
    const out = exportStream(this.points(req.repository, req.vmId), req);
    if ('error' in out) throw new AgentGatewayError('rejected', `[agent] ${out.error.message}`);
    const signal = opts.signal;
    signal?.addEventListener('abort', () => { out.stream.cancel(signal.reason).catch(() => {}); }, { once: true });
    return { stream: out.stream, size: out.size, format: req.format, pointId: out.pointId, disk: req.disk };
  }

  async jobStatus(hostId: string, agentJobId: string, opts: GatewayCallOptions = {}): Promise<AgentJobStatus> {
    return structuredClone(this.job(hostId, agentJobId, opts).status);
  }

  events(hostId: string, agentJobId: string, opts: GatewayCallOptions = {}): AsyncIterable<AgentJobEvent> {
    const job = this.job(hostId, agentJobId, opts);
    const q: AsyncQueue<AgentJobEvent> = new AsyncQueue({ signal: opts.signal, onClose: () => job.listeners.delete(q) });
    q.push({ type: 'state', status: structuredClone(job.status) });
    if (isTerminal(job.status)) q.end();
    else job.listeners.add(q);
    return q;
  }

  async cancel(hostId: string, agentJobId: string, opts: GatewayCallOptions = {}): Promise<void> {
    const job = this.job(hostId, agentJobId, opts);
    if (isTerminal(job.status)) return;
    this.finish(job, { state: 'cancelled', error: { code: 'cancelled', message: '[agent] cancelled on request' } });
  }

  async health(hostId: string, opts: GatewayCallOptions = {}): Promise<AgentHealth> {
    this.check(hostId, opts);
    return {
      hostname: `kvm-${hostId.slice(0, 8)}`, version: this.opts.version ?? '0.1.0-memory',
      capabilities: { backup: true, incremental: true, restore: true, verify: true, prune: true, export: true, memory: true },
    };
  }

  // ---- test handles ----

  pause(): void { this.paused = true; }

  resume(): void {
    this.paused = false;
    for (const j of this.jobs.values()) if (!isTerminal(j.status) && !j.timer) this.schedule(j);
  }

  setReachable(hostId: string, reachable: boolean): void {
    if (reachable) { this.unreachable.delete(hostId); return; }
    this.unreachable.add(hostId);
    for (const j of this.jobs.values()) {
      if (j.hostId !== hostId) continue;
      for (const q of j.listeners) q.fail(new AgentGatewayError('unreachable', `host ${hostId}: link dropped`));
      j.listeners.clear();
    }
  }

  /** The agent restarted without its journal: it no longer knows any job of this host (they stop). */
  forgetJobs(hostId: string): void {
    for (const [id, j] of this.jobs) {
      if (j.hostId !== hostId) continue;
      clearTimeout(j.timer);
      for (const q of j.listeners) q.fail(new AgentGatewayError('unreachable', `host ${hostId}: agent restarted`));
      if (!isTerminal(j.status)) this.release(j);
      this.jobs.delete(id);
    }
  }

  /** A byte of this point's image of `disk` no longer matches its digest: verification says so. */
  corrupt(vmId: string, pointId: string, disk = 'vda'): void {
    if (!this.repos.size || ![...this.repos.values()].some((r) => r.get(vmId)?.some((p) => p.id === pointId))) throw new Error(`[agent-memory] no point ${pointId} of VM ${vmId}`);
    this.corrupted.add(`${pointId}/${disk}`);
  }

  /** The VM's bitmap is gone (a host crash): `auto` takes a full, `incremental` fails. */
  invalidateCheckpoint(vmId: string): void { this.invalid.add(vmId); }

  points(repository: string, vmId: string): PointManifest[] {
    return [...(this.repos.get(repository)?.get(vmId) ?? [])];
  }

  maxConcurrent(hostId: string): number { return this.peak.get(hostId) ?? 0; }

  /** jobs not finished yet, on all hosts */
  activeJobs(): number { return [...this.jobs.values()].filter((j) => !isTerminal(j.status)).length; }

  // ---- the simulated agent ----

  private check(hostId: string, opts: GatewayCallOptions): void {
    if (opts.signal?.aborted) throw new AgentGatewayError('aborted', 'aborted by the caller', { cause: opts.signal.reason });
    if (this.unreachable.has(hostId)) throw new AgentGatewayError('unreachable', `host ${hostId}: no link to the agent`);
  }

  private job(hostId: string, agentJobId: string, opts: GatewayCallOptions): Job {
    this.check(hostId, opts);
    const job = this.jobs.get(agentJobId);
    if (!job || job.hostId !== hostId) throw new AgentGatewayError('unknown_job', `host ${hostId}: the agent knows no job ${agentJobId}`);
    return job;
  }

  private startOther(hostId: string, kind: AgentJobKind, req: MemoryJobRequest, subject: string, bytes: number, run: Job['run']): { agentJobId: string } {
    const agentJobId = `mem-${hostId.slice(0, 8)}-${++this.seq}`;
    const script = this.opts.script?.(hostId, req, kind);
    const job: Job = {
      hostId, kind, request: req, req: undefined as unknown as AgentBackupRequest, run, disks: [{ target: subject, size: bytes }],
      tick: 0, ticks: Math.max(1, script?.ticks ?? this.ticks), script, listeners: new Set(),
      status: { agentJobId, kind, state: 'queued', startedAt: new Date(this.clock()).toISOString() },
    };
    this.jobs.set(agentJobId, job);
    this.otherRequests.push({ hostId, kind, req: structuredClone(req), at: this.clock() });
    this.schedule(job);
    return { agentJobId };
  }

  private elapsed(hostId: string, requestId: string): number {
    const j = [...this.jobs.values()].find((x) => x.hostId === hostId && x.request.requestId === requestId && !isTerminal(x.status));
    return j?.status.startedAt ? Math.max(0, this.clock() - Date.parse(j.status.startedAt)) : 0;
  }

  private async completeOther(job: Job): Promise<void> {
    const out = await job.run!();
    if (isTerminal(job.status)) return; // cancelled meanwhile
    if ('error' in out && out.error) this.finish(job, { state: 'failed', error: (out as Refusal).error });
    else this.finish(job, { state: 'succeeded', ...(out as Partial<AgentJobStatus>) });
  }

  private schedule(job: Job): void {
    job.timer = setTimeout(() => { job.timer = undefined; this.step(job); }, this.tickMs);
  }

  private emit(job: Job, ev: AgentJobEvent): void {
    for (const q of job.listeners) {
      q.push(structuredClone(ev));
      if (ev.type === 'state' && isTerminal(ev.status)) q.end();
    }
    if (ev.type === 'state' && isTerminal(ev.status)) job.listeners.clear();
  }

  private step(job: Job): void {
    if (isTerminal(job.status) || this.paused) return;
    if (job.status.state === 'queued') {
      const plan = job.kind === 'backup' ? this.plan(job) : undefined;
      if (plan && 'error' in plan) { this.finish(job, { state: 'failed', error: plan.error }); return; }
      job.plan = plan;
      job.status.state = 'running';
      const n = (this.running.get(job.hostId) ?? 0) + 1;
      this.running.set(job.hostId, n);
      this.peak.set(job.hostId, Math.max(this.peak.get(job.hostId) ?? 0, n));
      job.status.progress = this.progress(job);
      this.emit(job, { type: 'state', status: structuredClone(job.status) });
    } else {
      const f = job.script?.fail;
      if (f && job.tick >= (f.atTick ?? 0)) { this.finish(job, { state: 'failed', error: { code: f.code, message: f.message } }); return; }
      job.tick++;
      job.status.progress = this.progress(job);
      this.emit(job, { type: 'progress', progress: structuredClone(job.status.progress) });
      if (job.tick >= job.ticks) {
        if (job.kind === 'backup') this.complete(job);
        else void this.completeOther(job).catch((e: unknown) => this.finish(job, { state: 'failed', error: { code: 'internal', message: `[agent] ${(e as Error).message}` } }));
        return;
      }
    }
    this.schedule(job);
  }

  private plan(job: Job): NonNullable<Job['plan']> | { error: { code: string; message: string } } {
    const { req } = job;
    const parent = this.points(req.repository, req.vmId).at(-1) ?? null;
    const invalid = this.invalid.has(req.vmId);
    const share = this.opts.incrementalShare ?? 0.1;
    if (req.mode === 'full') return { type: 'full', reason: 'full backup requested', parent: null, readShare: 1 };
    const why = !parent ? 'no earlier restore point of this VM in the repository'
      : invalid ? `bitmap ${checkpointName(parent.id)} is inconsistent (QEMU stopped uncleanly): changes since ${parent.id} are unknown` : undefined;
    if (why && req.mode === 'incremental') return { error: { code: 'incremental_impossible', message: `[backup] incremental backup impossible: ${why}` } };
    if (why) return { type: 'full', reason: `full: ${why}`, parent: null, readShare: 1 };
    return { type: 'incremental', reason: `incremental since ${parent!.id} (checkpoint ${checkpointName(parent!.id)})`, parent, readShare: share };
  }

  private progress(job: Job): AgentProgress {
    const disks = job.disks;
    const share = job.plan?.readShare ?? 1;
    const sizes = disks.map((d) => Math.round(d.size * share));
    const toRead = sizes.reduce((a, b) => a + b, 0);
    const read = Math.round((toRead * job.tick) / job.ticks);
    let idx = 0;
    for (let acc = sizes[0]; idx < disks.length - 1 && read >= acc; acc += sizes[++idx]);
    return { disk: disks[idx].target, diskIndex: idx, disks: disks.length, bytesRead: read, bytesToRead: toRead, bytesWritten: Math.round(read * 0.9) };
  }

  private complete(job: Job): void {
    const { req } = job;
    const plan = job.plan!;
    const now = this.clock();
    const taken = new Set(this.points(req.repository, req.vmId).map((p) => p.id));
    const id = nextFreePointId(new Date(now), taken);
    const started = job.status.startedAt ?? new Date(now).toISOString();
    const kind = plan.type === 'full' ? 'full' : 'incr';
    const disks: PointDisk[] = job.disks.map(({ target, size }, index) => {
      const parentDisk = plan.parent?.disks.find((d) => d.index === index);
      const readPerDisk = Math.round(size * plan.readShare);
      return {
        index, target, type: plan.type, reason: plan.reason,
        image: imageName(kind, id), backing: parentDisk ? parentDisk.image : null, checkpoint: checkpointName(id),
        virtual_size: size, file_size: Math.round(readPerDisk * 0.9) + 327_680,
        bytes_read: readPerDisk, bytes_written: Math.round(readPerDisk * 0.9), bytes_sent: Math.round(readPerDisk * 0.9) + 327_680,
        data_clusters: Math.round(readPerDisk / 65_536), zero_clusters: 0, sums: sumsName(kind, id), block_size: 1_048_576,
        content_sha256: sha(`${req.vmId}/${id}/${index}/content`),
        file_sha256: { header: sha(`${req.vmId}/${id}/${index}/header`), body: sha(`${req.vmId}/${id}/${index}/body`) },
      };
    });
    const manifest: PointManifest = {
      format: 'sendense-point', version: 1, id, vm_uuid: req.vmId, type: plan.type, reason: plan.reason,
      parent: plan.parent?.id ?? null, created_at: new Date(now).toISOString(), started_at: started,
      finished_at: new Date(now).toISOString(), duration_ms: Math.max(0, now - Date.parse(started)),
      consistency: req.quiesce ? 'filesystem' : 'crash', vm_state: 'running', disks,
      agent: { host: `kvm-${job.hostId.slice(0, 8)}`, version: this.opts.version ?? '0.1.0-memory' },
    };
    let vms = this.repos.get(req.repository);
    if (!vms) this.repos.set(req.repository, (vms = new Map()));
    vms.set(req.vmId, [...(vms.get(req.vmId) ?? []), manifest]);
    this.invalid.delete(req.vmId);
    const bytesRead = disks.reduce((a, d) => a + d.bytes_read, 0);
    this.finish(job, {
      state: 'succeeded',
      result: { manifest, bytesRead, bytesSent: disks.reduce((a, d) => a + d.bytes_sent, 0), durationMs: manifest.duration_ms },
    });
  }

  private release(job: Job): void {
    if (job.status.state === 'running') this.running.set(job.hostId, Math.max(0, (this.running.get(job.hostId) ?? 1) - 1));
  }

  private finish(job: Job, end: Partial<AgentJobStatus> & Pick<AgentJobStatus, 'state'>): void {
    clearTimeout(job.timer);
    job.timer = undefined;
    this.release(job);
    job.status = { ...job.status, ...end, finishedAt: new Date(this.clock()).toISOString() };
    this.emit(job, { type: 'state', status: structuredClone(job.status) });
  }
}
