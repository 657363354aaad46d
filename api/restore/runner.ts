/**
 * @layer usecase
 * RestoreRunner: restores of recorded points through the agents, with the database as the only
 * memory (api/restore/state.ts). A restore starts at once (no queue: an admin is waiting for it)
 * and works through its disks one after another; the first failure ends it.
 *
 * - in-place (restoreBackupToVM): the VM must be Stopped — refused with a conflict otherwise,
 *   unless `stopVm` (CloudStack stops it first). CloudStack says where the volumes are and which
 *   host reaches them (resolveVmForAgent: the VM's host, or for a stopped VM an Up host that
 *   reaches the root volume's pool — same cluster or zone for shared storage; a stopped VM on
 *   host-local storage cannot be placed and is refused). That host's agent writes each volume
 *   file, keeping its old content until the restored image is verified and putting it back on any
 *   failure or cancel. `startVm` starts the VM again once every disk is back.
 * - new-volume (restoreBackedUpVolume): per disk, CloudStack creates a volume for an upload
 *   (getUploadParamsForVolume, QCOW2, in the VM's zone and account); the agent POSTs the point's
 *   image there; the runner waits until CloudStack lists the volume as Uploaded, then attaches it
 *   to `attachToVmId` when asked. The new volume ids are in the record.
 * - Every agent request carries a request id made from the restore and the disk, and the agent
 *   job id is recorded as soon as the agent answers: `recover` (at start) follows the agent jobs a
 *   stopped control plane left, and re-submitting a step whose answer was lost returns the same job.
 * - `cancel` asks the running agent job to stop and starts no further disk.
 * - Several instances on one database: a restore is run by the instance holding its lease
 *   (`restore:<id>`, api/lib/job-leases.ts, as the job runner's); `recover` runs again with every
 *   renewal and takes over the restores of an instance that died, following their recorded agent
 *   jobs again (a step whose answer was lost is re-submitted with the same request id).
 */
import type { Restore, RestoreStatus } from '../../db/schema.ts';
import type { RestorePatch, Store } from '../../db/store.ts';
import { followAgentJob } from '../agents/follow.ts';
import type { ChangeFeed } from '../../db/changes.ts';
import { JobLeases } from '../lib/job-leases.ts';
import { retryChanged, Subscribers } from '../lib/subscribers.ts';
import { AgentGatewayError, type AgentGateway, type AgentJobStatus, type AgentRestoreDestination } from '../agents/port.ts';
import { CloudStackError } from '../cloudstack/errors.ts';
import type { CloudStackApi } from '../cloudstack/port.ts';
import { resolveVmForAgent } from '../cloudstack/resolve.ts';
import { sleep } from '../lib/sleep.ts';
import { RestoreError } from './errors.ts';
import { assertNoVmSnapshots, assertVmIdleForInPlace } from './exclusive.ts';
import { chooseDisks, inPlaceTargets, newVolumeName, pickRepositoryHost, restoreProgress, type PointDiskInfo } from './plan.ts';
import { diskRequestId, isRestoreFinished, type RestoreDisk, type RestoreResult, type RestoreTarget } from './state.ts';

export type RestoreCloudStack = Pick<CloudStackApi,
  'getVirtualMachine' | 'listVolumes' | 'getStoragePool' | 'getHost' | 'listKvmHosts' | 'stopVirtualMachine' | 'startVirtualMachine'
  | 'getUploadParamsForVolume' | 'getVolume' | 'attachVolume' | 'listVmSnapshots'>;

export interface RestoreRunnerDeps {
  store: Store;
  gateway: AgentGateway;
  /** root admin view (volume paths, hosts; uploads in the VM owner's account) */
  cs: RestoreCloudStack;
  clock?: () => Date;
  /** ms between polls: agent status while its stream is down, volume state after an upload (default 1000) */
  pollMs?: number;
  /** how long CloudStack may take to list an uploaded volume as Uploaded (default 10 min) */
  uploadWaitMs?: number;
  /** progress is written to the database at most this often (default 1000 ms) */
  progressWriteMs?: number;
  log?: (msg: string) => void;
  /** tells the other instances of a restore's changes (their subscribers read it again); default: none */
  changes?: ChangeFeed;
  /**
   * this instance among several on one database: a restore is run by the instance holding its
   * lease `restore:<id>` (renewed every `leaseMs / 3`); one whose instance died is taken over —
   * its agent jobs followed again, not restarted — after the lease expired (default 30 s)
   */
  instanceId?: string;
  leaseMs?: number;
}

export interface RestoreRequest {
  /** the control plane's restore point id (db) */
  restorePointId: string;
  mode: 'in-place' | 'new-volume';
  /** libvirt targets of the point's disks; default: all of them (the whole VM) */
  disks?: string[];
  /** new-volume: attach each new volume to this VM */
  attachToVmId?: string;
  /** new-volume: the volume's name (suffixed with the disk when there are several) */
  name?: string;
  /** in-place: stop a running VM first (otherwise a running VM is refused) */
  stopVm?: boolean;
  /** in-place: start the VM when every disk is back */
  startVm?: boolean;
  /**
   * in-place: restore although CloudStack lists VM snapshots of the VM — they live inside its
   * qcow2 volumes and are lost (refused otherwise, naming them: api/restore/exclusive.ts)
   */
  force?: boolean;
  requestedBy?: string | null;
}

export type RestoreListener = (r: Restore) => void;

class Cancelled extends Error {}

class StepFailed extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
  }
}

/** The restore point a request names, its repository and its disks, or a RestoreError. */
export async function loadPoint(store: Store, restorePointId: string) {
  const point = await store.points.get(restorePointId);
  if (!point || point.deletedAt) throw new RestoreError('notfound', `no restore point ${restorePointId}`);
  const repository = await store.repositories.get(point.repositoryId);
  if (!repository) throw new RestoreError('notfound', `the repository of restore point ${restorePointId} is no longer configured`);
  const disks: PointDiskInfo[] = point.disks.map((d) => ({ index: d.diskIndex, target: d.target, volumeId: d.volumeId, virtualSize: d.virtualSizeBytes }));
  return { point, repository, disks };
}

export class RestoreRunner {
  private readonly clock: () => Date;
  private readonly subscribers: Subscribers<Restore>;
  private readonly runs = new Map<string, AbortController>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly stopped = new AbortController();
  private readonly startingInPlace = new Map<string, Promise<unknown>>();
  private readonly leases: JobLeases;

  constructor(private readonly deps: RestoreRunnerDeps) {
    this.clock = deps.clock ?? (() => new Date());
    this.leases = new JobLeases({
      leases: deps.store.leases, kind: 'restore', holder: deps.instanceId ?? `restores-${crypto.randomUUID()}`, ttlMs: deps.leaseMs ?? 30_000,
      clock: this.clock, log: (m) => this.log(m),
    });
    this.subscribers = new Subscribers<Restore>({
      kind: 'restore', feed: deps.changes, load: (id) => deps.store.restores.get(id), ended: (r) => isRestoreFinished(r.status),
      notFound: (id) => new RestoreError('notfound', `no restore ${id}`), log: (m) => this.log(m),
    });
  }

  // ---- requests ----

  /** In-place requests of one VM are taken one at a time (their exclusivity checks, then the record). */
  async start(req: RestoreRequest): Promise<Restore> {
    if (req.mode !== 'in-place') return this.startOnce(req);
    const { point } = await loadPoint(this.deps.store, req.restorePointId);
    const vmId = point.platformVmId;
    const before = this.startingInPlace.get(vmId) ?? Promise.resolve();
    const mine = before.catch(() => {}).then(() => this.startOnce(req));
    const tail = mine.catch(() => {});
    this.startingInPlace.set(vmId, tail);
    void tail.then(() => { if (this.startingInPlace.get(vmId) === tail) this.startingInPlace.delete(vmId); });
    return mine;
  }

  private async startOnce(req: RestoreRequest): Promise<Restore> {
    const { store, cs } = this.deps;
    const { point, disks } = await loadPoint(store, req.restorePointId);
    const chosen = chooseDisks(disks, req.disks);
    const vmId = point.platformVmId;
    if (req.mode === 'in-place') {
      const live = await cs.getVirtualMachine(vmId);
      if (live.state !== 'Stopped' && !req.stopVm) {
        throw new RestoreError('conflict', `VM ${live.name} is ${live.state}: an in-place restore needs it Stopped — stop it first, or ask with stopVm: true`);
      }
      // exclusive per VM, and never silently dropping the VM's snapshots (api/restore/exclusive.ts)
      await assertVmIdleForInPlace(store, vmId);
      await assertNoVmSnapshots(cs, vmId, live.name, req.force);
    }
    if (req.mode === 'new-volume' && (req.startVm || req.stopVm)) throw new RestoreError('invalid', 'stopVm and startVm are for in-place restores');
    if (req.mode === 'in-place' && (req.attachToVmId || req.name)) throw new RestoreError('invalid', 'attachToVmId and name are for new-volume restores');
    const target: RestoreTarget = {
      mode: req.mode, pointId: point.pointId, disks: chosen.map((d) => d.target),
      ...(req.mode === 'new-volume' ? { attachToVmId: req.attachToVmId ?? null, name: req.name ?? null } : { stopVm: req.stopVm ?? false, startVm: req.startVm ?? false }),
    };
    const now = this.clock();
    const result: RestoreResult = { disks: chosen.map((d) => ({ target: d.target, state: 'pending' })) };
    const row = await store.restores.create({
      id: crypto.randomUUID(), restorePointId: point.id, platformVmId: vmId, kind: req.mode, target: { ...target },
      status: 'queued', progress: 0, requestedBy: req.requestedBy ?? null, createdAt: now, updatedAt: now, result: { ...result },
    });
    await this.leases.claim(row.id);
    this.launch(row);
    return row;
  }

  async cancel(id: string): Promise<Restore> {
    return retryChanged(() => this.cancelOnce(id), () => new RestoreError('conflict', `restore ${id} changed state too often to cancel it; try again`));
  }

  private async cancelOnce(id: string): Promise<Restore | undefined> {
    const r = await this.deps.store.restores.get(id);
    if (!r) throw new RestoreError('notfound', `no restore ${id}`);
    if (isRestoreFinished(r.status)) throw new RestoreError('conflict', `restore ${id} has already ${r.status === 'cancelled' ? 'been cancelled' : r.status}`);
    if (r.status === 'cancelling') return r;
    if (r.kind === 'download') throw new RestoreError('conflict', 'a download ends when its client closes the connection');
    const next = await this.set(id, r.status === 'queued' && !this.runs.has(id)
      ? { status: 'cancelled', finishedAt: this.clock(), errorCode: 'cancelled', error: 'cancelled before it started' }
      : { status: 'cancelling' }, [r.status]);
    const current = next && resultOf(next).disks.find((d) => d.state === 'running' && d.agentJobId);
    if (next?.status === 'cancelling' && current && next.kvmHostId) {
      await this.deps.gateway.cancel(next.kvmHostId, current.agentJobId!).catch((e: unknown) => this.log(`restore ${id}: cancel not delivered: ${(e as Error).message}`));
    }
    return next;
  }

  /** Calls `fn` with the restore at every change (another instance's too); returns the unsubscribe. */
  subscribe(id: string, fn: RestoreListener): () => void {
    return this.subscribers.subscribe(id, fn);
  }

  /** Resolves with the restore once it has ended (whichever instance runs it). */
  settled(id: string, signal?: AbortSignal): Promise<Restore> {
    return this.subscribers.settled(id, signal);
  }

  // ---- life cycle ----

  /**
   * Continues the restores a previous process — or another instance that died — left unfinished
   * and that nobody holds (their lease free or expired): their agent jobs are followed again
   * (a download's client is gone: failed). Called at start and then every `leaseMs / 3`.
   */
  async recover(): Promise<{ resumed: number; failed: number }> {
    const out = { resumed: 0, failed: 0 };
    this.leases.start(() => this.recover());
    for (const r of await this.deps.store.restores.unfinished()) {
      if (this.runs.has(r.id) || this.leases.isHeld(r.id) || this.stopped.signal.aborted) continue;
      if (!(await this.leases.claim(r.id))) continue; // a live instance has it
      if (r.kind === 'download') {
        if (await this.end(r.id, 'failed', 'interrupted', 'the control plane stopped while the download was streaming')) out.failed++;
        continue;
      }
      this.launch(r);
      out.resumed++;
    }
    return out;
  }

  /** a download streamed by this instance: its lease is held until it ends */
  async hold(id: string): Promise<void> {
    await this.leases.claim(id);
    this.leases.hold(id, new AbortController());
  }

  /** Stops watching, writing nothing more (as a kill would): agent jobs keep running; the leases are given up. */
  async stop(): Promise<void> {
    this.stopped.abort(new Error('[restore] runner stopped'));
    for (const ac of this.runs.values()) ac.abort(this.stopped.signal.reason);
    await Promise.allSettled([...this.inFlight]);
    await this.leases.stop();
  }

  async idle(): Promise<void> {
    while (this.inFlight.size) await Promise.allSettled([...this.inFlight]);
  }

  /** compare-and-set of the record (every change goes to the subscribers) */
  async set(id: string, patch: RestorePatch, expect?: RestoreStatus[]): Promise<Restore | undefined> {
    const r = await this.deps.store.restores.update(id, { ...patch, updatedAt: this.clock() }, expect);
    if (r) this.notify(r);
    return r;
  }

  /** ends a restore (once) and audits how */
  async end(id: string, status: 'succeeded' | 'failed' | 'cancelled', code?: string, error?: string, patch: RestorePatch = {}): Promise<Restore | undefined> {
    const r = await this.set(id, {
      ...patch, status, finishedAt: this.clock(), ...(status === 'succeeded' ? { progress: 1, errorCode: null, error: null } : { errorCode: code ?? status, error: error ?? status }),
    }, ['queued', 'running', 'cancelling']);
    if (r) {
      await this.leases.drop(id);
      await this.deps.store.audit.append({
        at: this.clock(), actor: 'system:restore', via: 'system', action: `restore.${status}`, targetType: 'restore', targetId: r.id,
        outcome: status === 'failed' ? 'error' : 'ok',
        details: { vmId: r.platformVmId, kind: r.kind, ...(r.errorCode && status !== 'succeeded' ? { errorCode: r.errorCode, error: r.error } : {}), volumes: resultOf(r).disks.map((d) => d.volumeId ?? null) },
      });
    }
    return r;
  }

  notify(r: Restore): void {
    this.subscribers.notify(r);
  }

  // ---- the work ----

  private launch(r: Restore): void {
    if (this.runs.has(r.id) || this.stopped.signal.aborted) return;
    const ac = new AbortController();
    this.runs.set(r.id, ac);
    this.leases.hold(r.id, ac);
    const p = this.run(r, ac.signal)
      .catch((e: unknown) => this.log(`restore ${r.id}: unexpected: ${(e as Error).stack ?? e}`))
      .finally(() => { this.runs.delete(r.id); this.inFlight.delete(p); if (!this.stopped.signal.aborted) void this.leases.drop(r.id, false, ac); });
    this.inFlight.add(p);
  }

  private async run(initial: Restore, signal: AbortSignal): Promise<void> {
    let r = initial;
    if (r.status === 'queued') r = (await this.set(r.id, { status: 'running', startedAt: this.clock() }, ['queued'])) ?? r;
    if (isRestoreFinished(r.status)) return;
    try {
      if (r.kind === 'in-place') await this.inPlace(r, signal);
      else if (r.kind === 'new-volume') await this.newVolume(r, signal);
      else throw new StepFailed('invalid', `a ${r.kind} restore cannot be run here`);
      await this.end(r.id, 'succeeded');
    } catch (e) {
      if (signal.aborted) return; // stopped: recover() continues
      if (e instanceof Cancelled) { await this.end(r.id, 'cancelled', 'cancelled', e.message); return; }
      const code = e instanceof StepFailed ? e.code : e instanceof RestoreError ? e.code
        : e instanceof AgentGatewayError ? `agent_${e.code}` : e instanceof CloudStackError ? 'cloudstack_error' : 'internal';
      await this.end(r.id, 'failed', code, (e as Error).message);
    }
  }

  private async inPlace(r: Restore, signal: AbortSignal): Promise<void> {
    const { cs, store } = this.deps;
    const t = r.target as unknown as RestoreTarget;
    const result = resultOf(r);
    const { repository, disks } = await loadPoint(store, r.restorePointId);
    let live = await cs.getVirtualMachine(r.platformVmId, { signal });
    if (live.state !== 'Stopped' && t.stopVm && !result.vmStopped) {
      live = await cs.stopVirtualMachine(r.platformVmId, { signal });
      result.vmStopped = true;
      await this.save(r.id, result);
    }
    if (live.state !== 'Stopped') throw new RestoreError('conflict', `VM ${live.name} is ${live.state}: an in-place restore needs it Stopped`);
    const vm = await resolveVmForAgent(cs, r.platformVmId, { signal });
    const pairs = inPlaceTargets(chooseDisks(disks, t.disks), vm.disks.map((d) => ({ volumeId: d.volumeId, deviceId: d.deviceId, name: d.name, kind: d.kind, path: d.path, format: d.format })));
    await this.set(r.id, { kvmHostId: vm.host.id });
    for (const [i, { disk, volume }] of pairs.entries()) {
      const d = result.disks[i];
      if (d.state === 'succeeded') continue;
      Object.assign(d, { volumeId: volume.volumeId, path: volume.path, format: volume.format });
      const format = volume.format === 'qcow2' || volume.format === 'raw' ? volume.format : undefined;
      const end = await this.agentStep(r, result, i, vm.host.id, { kind: 'volume', path: volume.path, ...(format ? { format } : {}) }, repository.url, t.pointId, signal);
      this.settle(d, end, i, result, `the agent put volume ${volume.name} back as it was`);
      d.state = 'succeeded';
      await this.save(r.id, result, restoreProgress(i + 1, pairs.length));
    }
    if (t.startVm && !result.vmStarted) {
      await cs.startVirtualMachine(r.platformVmId, { signal });
      result.vmStarted = true;
      await this.save(r.id, result);
    }
  }

  private async newVolume(r: Restore, signal: AbortSignal): Promise<void> {
    const { cs, store } = this.deps;
    const t = r.target as unknown as RestoreTarget;
    const result = resultOf(r);
    const { repository } = await loadPoint(store, r.restorePointId);
    const vm = await store.vms.get(r.platformVmId);
    const live = vm ? undefined : await cs.getVirtualMachine(r.platformVmId, { signal });
    const owner = { name: vm?.name ?? live!.name, zoneId: vm?.zoneId ?? live!.zoneid ?? null, account: vm?.account ?? live!.account ?? null, domainId: vm?.domainId ?? live!.domainid ?? null };
    if (!owner.zoneId) throw new RestoreError('invalid', `VM ${r.platformVmId} has no zone known: cannot create a volume for it`);
    let hostId = r.kvmHostId;
    if (!hostId) {
      const [agents, hosts] = await Promise.all([store.agents.list(), store.hosts.list()]);
      hostId = pickRepositoryHost({ hostId: vm?.hostId ?? live?.hostid ?? null, zoneId: owner.zoneId },
        agents.map((a) => ({ hostId: a.hostId, status: a.status, zoneId: hosts.find((h) => h.id === a.hostId)?.zoneId ?? null }))) ?? null;
      if (!hostId) throw new RestoreError('conflict', 'no agent is known to read the repository: wait for discovery and the heartbeat');
      await this.set(r.id, { kvmHostId: hostId });
    }
    for (const [i, d] of result.disks.entries()) {
      if (d.state === 'succeeded') continue;
      if (!d.upload) {
        const up = await cs.getUploadParamsForVolume({
          name: newVolumeName(owner.name, d.target, t.pointId, t.name ?? undefined, result.disks.length > 1), zoneid: owner.zoneId, format: 'QCOW2',
          ...(owner.account && owner.domainId ? { account: owner.account, domainid: owner.domainId } : {}),
        }, { signal });
        d.volumeId = up.id;
        d.upload = { url: up.postURL, headers: { 'X-signature': up.signature, 'X-metadata': up.metadata, 'X-expires': up.expires } };
        await this.save(r.id, result);
      }
      if (d.state !== 'uploaded') {
        const end = await this.agentStep(r, result, i, hostId, { kind: 'upload', url: d.upload.url, headers: d.upload.headers, format: 'qcow2' }, repository.url, t.pointId, signal);
        this.settle(d, end, i, result, `volume ${d.volumeId} stays as CloudStack has it (delete it or restore again)`);
        d.state = 'uploaded';
        await this.save(r.id, result);
      }
      await this.waitUploaded(d.volumeId!, signal);
      if (t.attachToVmId && !d.attachedTo) {
        await cs.attachVolume({ id: d.volumeId!, virtualmachineid: t.attachToVmId }, { signal });
        d.attachedTo = t.attachToVmId;
      }
      d.state = 'succeeded';
      await this.save(r.id, result, restoreProgress(i + 1, result.disks.length));
    }
  }

  /** One disk through the agent: submit (or find again) its job, follow it to its end. */
  private async agentStep(r: Restore, result: RestoreResult, i: number, hostId: string, destination: AgentRestoreDestination, repository: string, pointId: string, signal: AbortSignal): Promise<AgentJobStatus> {
    const { gateway } = this.deps;
    const d = result.disks[i];
    if (await this.cancelRequested(r.id) && !d.agentJobId) throw new Cancelled(`cancelled before disk ${d.target} started`);
    if (!d.agentJobId) {
      d.state = 'running';
      const { agentJobId } = await gateway.startRestore(hostId, {
        requestId: diskRequestId(r.id, d.target), repository, vmId: r.platformVmId, disk: d.target, point: pointId, destination,
      }, { signal });
      d.agentJobId = agentJobId;
      await this.save(r.id, result, restoreProgress(i, result.disks.length), { agentJobId });
    }
    if (await this.cancelRequested(r.id)) {
      await gateway.cancel(hostId, d.agentJobId, { signal }).catch((e: unknown) => this.log(`restore ${r.id}: cancel not delivered: ${(e as Error).message}`));
    }
    let lastWrite = 0;
    return followAgentJob(gateway, hostId, d.agentJobId, {
      signal, pollMs: this.deps.pollMs ?? 1000, log: (m) => this.log(`restore ${r.id}: ${m}`),
      onProgress: (p) => {
        const progress = restoreProgress(i, result.disks.length, p.bytesToRead > 0 ? p.bytesRead / p.bytesToRead : 0);
        const now = Date.now();
        if (now - lastWrite < (this.deps.progressWriteMs ?? 1000)) return;
        lastWrite = now;
        void this.set(r.id, { progress }).catch(() => {});
      },
    });
  }

  /** the disk's agent outcome into the record; a failed or cancelled job ends the restore */
  private settle(d: RestoreDisk, end: AgentJobStatus, i: number, result: RestoreResult, rollback: string): void {
    d.outcome = end.restore;
    if (end.state === 'succeeded') return;
    const before = result.disks.slice(0, i).filter((x) => x.state === 'succeeded').map((x) => x.target);
    const done = before.length ? `; already restored: ${before.join(', ')}` : '';
    d.state = end.state === 'cancelled' ? 'cancelled' : 'failed';
    d.error = end.error?.message;
    if (end.state === 'cancelled') throw new Cancelled(`cancelled during disk ${d.target} (${rollback})${done}`);
    throw new StepFailed(end.error?.code ?? 'agent_failed', `disk ${d.target}: ${end.error?.message ?? 'the agent reported a failure without a reason'} (${rollback})${done}`);
  }

  private async waitUploaded(volumeId: string, signal: AbortSignal): Promise<void> {
    const deadline = Date.now() + (this.deps.uploadWaitMs ?? 10 * 60_000);
    for (;;) {
      const v = await this.deps.cs.getVolume(volumeId, { signal });
      if (v.state === 'Uploaded' || v.state === 'Ready') return;
      if (v.state === 'UploadError' || v.state === 'UploadAbandoned') throw new StepFailed('upload_failed', `CloudStack did not take the image of volume ${volumeId}: ${v.state} ${String((v as { status?: unknown }).status ?? '')}`.trim());
      if (Date.now() > deadline) throw new StepFailed('upload_timeout', `CloudStack still lists volume ${volumeId} as ${v.state ?? 'unknown'} after the upload`);
      await sleep(this.deps.pollMs ?? 1000, signal);
    }
  }

  private async cancelRequested(id: string): Promise<boolean> {
    return (await this.deps.store.restores.get(id))?.status === 'cancelling';
  }

  private async save(id: string, result: RestoreResult, progress?: number, extra: RestorePatch = {}): Promise<void> {
    await this.set(id, { result: { ...result }, ...(progress !== undefined ? { progress } : {}), ...extra });
  }

  private log(msg: string): void {
    this.deps.log?.(`[restore] ${msg}`);
  }
}

export function resultOf(r: Restore): RestoreResult {
  const res = r.result as unknown as RestoreResult | null;
  return { ...(res ?? {}), disks: structuredClone(res?.disks ?? []) };
}
