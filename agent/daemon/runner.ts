/**
 * @layer usecase
 * DaemonJobRunner: the daemon's jobs. Accepts backups, restores and verifications, runs them in the
 * background on the engine with a per-agent concurrency limit and a FIFO queue, journals every
 * state change before anyone hears of it, streams progress to subscribers, and cancels through
 * the engine's AbortSignal (so the backup's watchdog ends the libvirt job and resumes the VM).
 *
 * Rules:
 * - One job per domain at a time: a second backup of a domain while one is queued or running is
 *   REFUSED ('busy', naming the job to follow), not queued behind it — the control plane owns
 *   scheduling and retries, and two back-to-back backups of one VM are never what it wants.
 *   Likewise two restores writing the same file. Everything else queues for a free slot.
 * - The queue: backups (and restores, imports, downloads) go before maintenance work (verify,
 *   prune), first come first served within each; a maintenance job waits while anything else is
 *   queued. Downloads (`slot()`: the export streams) take a slot like a job and hold it until
 *   their stream ends, so they count against the same concurrency limit.
 * - A job is journaled as queued before submit() resolves: whoever got its id can find it again,
 *   across daemon and control-plane restarts.
 * - At start, jobs the journal still has as queued or running were cut off by a restart or crash:
 *   they are marked failed ('agent-restarted'); the engine's leftovers (libvirt job, partial
 *   files, checkpoint) are cleaned by the next backup of that VM.
 * - close() stops accepting jobs, aborts the running ones and waits for their cleanup; they and
 *   the queued ones end failed ('agent-stopped').
 * - Finished jobs beyond `retainFinished` are removed from the journal, oldest first.
 */
import type { Hypervisor } from '../hypervisor/port.ts';
import type { AgentEngine, ProgressSample } from '../engine/port.ts';
import { isFinished, type JobEvent, type JobKind, type JobRecord, type JobState } from './job.ts';
import type { JobJournal } from './journal.ts';
import type { BackupBody, PruneBody, RestoreBody, VerifyBody } from '../engine/requests.ts';
import type { VmwareImportBody } from '../vmware/requests.ts';
import { JobsError, type JobFilter, type Submitted } from './service.ts';

export interface DaemonJobRunnerDeps {
  engine: AgentEngine;
  journal: JobJournal;
  /** resolves a backup's domain (name or UUID) at submission */
  hypervisor: Pick<Hypervisor, 'getDomain'>;
  /** jobs running at once (default 2) */
  concurrency?: number;
  /** finished jobs kept in the journal (default 500) */
  retainFinished?: number;
  /** at most one progress event per this many ms per job (default 250) */
  progressIntervalMs?: number;
  /** progress reaches the journal at most this often (default 2000 ms) */
  journalProgressMs?: number;
  now?: () => Date;
  newId?: () => string;
  log?: (msg: string) => void;
}

type Listener = (e: JobEvent) => void;

/** kinds that wait while a backup, restore, import or download is queued */
const MAINTENANCE: ReadonlySet<JobKind> = new Set(['verify', 'prune']);

interface StreamWaiter {
  grant(): void;
  fail(e: Error): void;
}

interface Live {
  rec: JobRecord;
  key?: string;
  ac?: AbortController;
  /** why the abort: a user's cancel or the agent stopping */
  abortedBy?: 'cancel' | 'stop';
  listeners: Set<Listener>;
  lastEvent: number;
  lastJournal: number;
  trailing?: ReturnType<typeof setTimeout>;
  done?: Promise<void>;
}

const C = '[daemon] [jobs]';

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export class DaemonJobRunner {
  private readonly live = new Map<string, Live>();
  /** finished jobs (they never change), oldest first: the journal is written through, read at start */
  private readonly finished = new Map<string, JobRecord>();
  /** the caller's requestId → job id, for retried submissions */
  private readonly byRequest = new Map<string, string>();
  /** job ids and stream waiters' ids (`stream:…`), in the order they came */
  private readonly queue: string[] = [];
  private readonly streams = new Map<string, StreamWaiter>();
  private running = 0;
  private stopping = false;
  private started: Promise<void> | undefined;
  private readonly concurrency: number;
  private readonly now: () => Date;
  private readonly log: (msg: string) => void;

  constructor(private readonly deps: DaemonJobRunnerDeps) {
    this.concurrency = Math.max(1, deps.concurrency ?? 2);
    this.now = deps.now ?? (() => new Date());
    this.log = deps.log ?? (() => {});
  }

  /** Reads the journal and fails what a restart cut off; every other method waits for it. */
  start(): Promise<void> {
    this.started ??= this.recover();
    return this.started;
  }

  private async recover(): Promise<void> {
    const all = await this.deps.journal.list();
    for (const rec of all) {
      if (rec.request.requestId) this.byRequest.set(rec.request.requestId, rec.id);
      if (isFinished(rec.state)) {
        this.finished.set(rec.id, rec);
        continue;
      }
      const during = rec.state === 'running';
      const msg = during
        ? `${C} agent restarted during the job (it was running since ${rec.startedAt ?? rec.createdAt}); no result was recorded${rec.kind === 'backup' ? ' and the next backup of this VM cleans up what it left' : ''}`
        : `${C} agent restarted before the job started`;
      const t = this.now().toISOString();
      const failed: JobRecord = { ...rec, state: 'failed', error: { code: 'agent-restarted', message: msg }, finishedAt: t, updatedAt: t, seq: rec.seq + 1 };
      await this.deps.journal.put(failed);
      this.finished.set(rec.id, failed);
      this.log(`job ${rec.id} (${rec.kind}) was ${rec.state} when the agent stopped: marked failed`);
    }
    await this.prune();
  }

  get stats(): { running: number; queued: number; concurrency: number } {
    return { running: this.running, queued: this.queue.length, concurrency: this.concurrency };
  }

  // ---- submission

  async submitBackup(body: BackupBody): Promise<Submitted> {
    await this.ready();
    const earlier = this.resubmitted('backup', body);
    if (earlier) return earlier;
    let dom;
    try {
      dom = await this.deps.hypervisor.getDomain(body.domain);
    } catch (e) {
      if ((e as { code?: string }).code === 'not-found') throw new JobsError('domain-not-found', `${C} no domain '${body.domain}' on this host: ${message(e)}`, undefined, { cause: e });
      throw new JobsError('hypervisor', `${C} cannot look up domain '${body.domain}': ${message(e)}`, undefined, { cause: e });
    }
    const vmId = (body.vmId ?? dom.uuid).toLowerCase();
    return this.submit({ kind: 'backup', request: body, domain: dom.name, domainUuid: dom.uuid, vmId }, `domain:${dom.uuid}`, `backing up ${dom.name}`);
  }

  async submitRestore(body: RestoreBody): Promise<Submitted> {
    await this.ready();
    // one restore per destination: a file, a volume (in place), an upload URL
    const dest = body.inPlace?.path ?? body.to ?? body.upload?.url.split('?')[0];
    return this.resubmitted('restore', body) ?? this.submit({ kind: 'restore', request: body, vmId: body.vmId }, `${body.upload ? 'url' : 'file'}:${dest}`, `restoring to ${dest}`);
  }

  async submitVerify(body: VerifyBody): Promise<Submitted> {
    await this.ready();
    return this.resubmitted('verify', body) ?? this.submit({ kind: 'verify', request: body, vmId: body.vmId });
  }

  /** One prune per VM, and never while a backup of that VM is queued or running (nor a backup during a prune). */
  async submitPrune(body: PruneBody): Promise<Submitted> {
    await this.ready();
    const vmId = body.vmId.toLowerCase();
    return this.resubmitted('prune', body) ?? this.submit({ kind: 'prune', request: body, vmId }, `vm:${vmId}`, `pruning ${vmId}`);
  }

  /** One import per export file at a time (the VM it lands in is known only once the export is read). */
  async submitImport(body: VmwareImportBody): Promise<Submitted> {
    await this.ready();
    if (!this.deps.engine.importVmware) throw new JobsError('unsupported', `${C} this agent's engine does not import VMware exports`);
    return this.resubmitted('import', body) ?? this.submit({ kind: 'import', request: body, vmId: body.vmId?.toLowerCase() }, `import:${body.path}`, `importing ${body.path}`);
  }

  private async ready(): Promise<void> {
    await this.start();
    if (this.stopping) throw new JobsError('stopping', `${C} the agent is stopping: no new jobs`);
  }

  /** The job an earlier submission with this body's requestId created (a retry), if any. */
  private resubmitted(kind: JobKind, body: BackupBody | RestoreBody | VerifyBody | PruneBody | VmwareImportBody): Submitted | undefined {
    if (!body.requestId) return undefined;
    const id = this.byRequest.get(body.requestId);
    const rec = id && (this.live.get(id)?.rec ?? this.finished.get(id));
    if (!rec) return undefined;
    if (rec.kind !== kind || JSON.stringify(rec.request) !== JSON.stringify(body)) {
      throw new JobsError('request-conflict', `${C} requestId ${body.requestId} was used for job ${rec.id} (a ${rec.kind}) with another request`, rec.id);
    }
    return { job: structuredClone(rec), created: false };
  }

  private async submit(what: Pick<JobRecord, 'kind' | 'request' | 'domain' | 'domainUuid' | 'vmId'>, key?: string, doing?: string): Promise<Submitted> {
    // again, now that nothing awaits before the job is registered: two retries at once get one job
    const again = this.resubmitted(what.kind, what.request);
    if (again) return again;
    if (key) {
      const other = [...this.live.values()].find((l) => l.key === key);
      if (other) throw new JobsError('busy', `${C} job ${other.rec.id} is already ${doing} (${other.rec.state}): follow it or cancel it first`, other.rec.id);
    }
    // a prune and a backup of one VM never run at once (both change its repository folder)
    const against = what.kind === 'prune' ? 'backup' : what.kind === 'backup' ? 'prune' : undefined;
    const clash = against && [...this.live.values()].find((l) => l.rec.kind === against && l.rec.vmId === what.vmId);
    if (clash) throw new JobsError('busy', `${C} job ${clash.rec.id} (a ${against} of VM ${what.vmId}) is ${clash.rec.state}: a ${what.kind} waits until it has finished`, clash.rec.id);
    const t = this.now().toISOString();
    const rec = { id: this.deps.newId?.() ?? crypto.randomUUID(), state: 'queued', createdAt: t, updatedAt: t, seq: 1, ...what } as JobRecord;
    const live: Live = { rec, key, listeners: new Set(), lastEvent: 0, lastJournal: 0 };
    // reserve the key before the first await, so two submissions at once cannot both pass
    this.live.set(rec.id, live);
    const requestId = rec.request.requestId;
    if (requestId) this.byRequest.set(requestId, rec.id);
    try {
      await this.deps.journal.put(rec);
    } catch (e) {
      this.live.delete(rec.id);
      if (requestId) this.byRequest.delete(requestId);
      throw new JobsError('journal', `${C} cannot journal the new job, so it was not accepted: ${message(e)}`, undefined, { cause: e });
    }
    this.queue.push(rec.id);
    this.log(`job ${rec.id}: ${rec.kind}${rec.domain ? ` of ${rec.domain}` : ''} queued`);
    const accepted = structuredClone(rec);
    this.pump();
    return { job: accepted, created: true };
  }

  // ---- reading

  async get(id: string): Promise<JobRecord> {
    await this.start();
    const l = this.live.get(id);
    if (l) return structuredClone(l.rec);
    const rec = this.finished.get(id);
    if (!rec) throw new JobsError('not-found', `${C} no job ${id} on this agent`);
    return structuredClone(rec);
  }

  async list(f: JobFilter = {}): Promise<JobRecord[]> {
    await this.start();
    return [...this.finished.values(), ...[...this.live.values()].map((l) => l.rec)]
      .filter((r) => (!f.state || r.state === f.state) && (!f.kind || r.kind === f.kind) && (!f.vmId || r.vmId === f.vmId.toLowerCase() || r.vmId === f.vmId)
        && (!f.domain || r.domain === f.domain || r.domainUuid === f.domain.toLowerCase()))
      .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id < b.id ? 1 : -1))
      .slice(0, f.limit ?? 100)
      .map((r) => structuredClone(r));
  }

  /**
   * Events of one job: first its state as it is now (and its latest progress), then every change;
   * a finished job gives just its 'done' event. Returns the unsubscribe function.
   */
  async subscribe(id: string, listener: Listener): Promise<() => void> {
    await this.start();
    const l = this.live.get(id);
    if (!l) {
      listener({ type: 'done', job: await this.get(id) });
      return () => {};
    }
    listener({ type: 'state', job: structuredClone(l.rec) });
    if (l.rec.progress) listener({ type: 'progress', jobId: id, progress: { ...l.rec.progress } });
    l.listeners.add(listener);
    return () => { l.listeners.delete(listener); };
  }

  // ---- cancel and stop

  async cancel(id: string): Promise<JobRecord> {
    await this.start();
    const l = this.live.get(id);
    if (!l) {
      const rec = await this.get(id);
      throw new JobsError('finished', `${C} job ${id} has already ${rec.state === 'cancelled' ? 'been cancelled' : rec.state}`, id);
    }
    if (l.rec.state === 'queued') {
      this.queue.splice(this.queue.indexOf(id), 1);
      await this.finish(l, 'cancelled', { error: { code: 'cancelled', message: `${C} cancelled before it started` } });
      return structuredClone(l.rec);
    }
    if (!l.rec.cancelRequested) {
      l.rec.cancelRequested = true;
      await this.change(l);
      l.abortedBy ??= 'cancel';
      l.ac?.abort(new Error('cancelled by request'));
      this.log(`job ${id}: cancel requested`);
    }
    return structuredClone(l.rec);
  }

  /** Stops accepting jobs, aborts running ones and waits until they have cleaned up. */
  async close(): Promise<void> {
    await this.start().catch(() => {});
    this.stopping = true;
    for (const id of this.queue.splice(0)) {
      this.streams.get(id)?.fail(new JobsError('stopping', `${C} the agent is stopping: the download did not start`));
      this.streams.delete(id);
      const l = this.live.get(id);
      if (l) await this.finish(l, 'failed', { error: { code: 'agent-stopped', message: `${C} the agent stopped before the job started` } });
    }
    const waits: Promise<void>[] = [];
    for (const l of this.live.values()) {
      l.abortedBy ??= 'stop';
      l.ac?.abort(new Error('the agent is stopping'));
      if (l.done) waits.push(l.done);
    }
    await Promise.all(waits);
  }

  // ---- running

  /**
   * A slot for a download (an export stream): it waits in the queue as a job would (before
   * maintenance, after what came first) and holds the slot until the returned release is called.
   * Rejects when `signal` aborts while waiting (the client went away) or the agent stops.
   */
  async slot(signal?: AbortSignal): Promise<() => void> {
    await this.ready();
    signal?.throwIfAborted();
    const id = `stream:${crypto.randomUUID()}`;
    return new Promise<() => void>((resolve, reject) => {
      const onAbort = () => {
        const i = this.queue.indexOf(id);
        if (i < 0) return;
        this.queue.splice(i, 1);
        this.streams.delete(id);
        reject(signal!.reason instanceof Error ? signal!.reason : new Error('aborted while waiting for a free slot'));
      };
      this.streams.set(id, {
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          let released = false;
          resolve(() => {
            if (released) return;
            released = true;
            this.running -= 1;
            this.pump();
          });
        },
        fail: (e) => { signal?.removeEventListener('abort', onAbort); reject(e); },
      });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(id);
      this.log(`a download waits for a slot (${this.queue.length} queued)`);
      this.pump();
    });
  }

  /** The queue entry to run next: the first that is not maintenance, else the first. */
  private takeNext(): string | undefined {
    const urgent = this.queue.findIndex((id) => this.streams.has(id) || !MAINTENANCE.has(this.live.get(id)?.rec.kind ?? 'backup'));
    return this.queue.splice(urgent >= 0 ? urgent : 0, 1)[0];
  }

  private pump(): void {
    while (!this.stopping && this.running < this.concurrency && this.queue.length) {
      const id = this.takeNext()!;
      const waiter = this.streams.get(id);
      if (waiter) {
        this.streams.delete(id);
        this.running += 1;
        waiter.grant();
        continue;
      }
      const l = this.live.get(id);
      if (!l) continue;
      this.running += 1;
      l.done = this.runJob(l).finally(() => {
        this.running -= 1;
        this.pump();
      });
    }
  }

  private async runJob(l: Live): Promise<void> {
    const rec = l.rec;
    l.ac = new AbortController();
    rec.state = 'running';
    rec.startedAt = this.now().toISOString();
    await this.change(l);
    const run = { signal: l.ac.signal, onProgress: (p: ProgressSample) => this.progress(l, p), log: (m: string) => this.log(`job ${rec.id}: ${m}`) };
    try {
      if (rec.kind === 'backup') {
        const result = await this.deps.engine.backup({ ...rec.request, vmId: rec.vmId! }, run);
        await this.finish(l, 'succeeded', { result });
      } else if (rec.kind === 'restore') {
        const result = await this.deps.engine.restore(rec.request, run);
        await this.finish(l, 'succeeded', { result });
      } else if (rec.kind === 'prune') {
        const result = await this.deps.engine.prune(rec.request, run);
        await this.finish(l, 'succeeded', { result });
      } else if (rec.kind === 'import') {
        if (!this.deps.engine.importVmware) throw new Error(`${C} this agent's engine does not import VMware exports`);
        const result = await this.deps.engine.importVmware(rec.request, run);
        await this.finish(l, 'succeeded', { result });
      } else {
        const result = await this.deps.engine.verify(rec.request, run);
        const first = result.points.flatMap((p) => p.disks.flatMap((d) => d.problems.map((x) => `${p.pointId} ${d.target}: ${x}`)))[0];
        if (result.ok) await this.finish(l, 'succeeded', { result });
        else await this.finish(l, 'failed', { result, error: { code: 'verification-failed', message: `[verify] verification of ${rec.vmId} failed: ${first ?? 'see the report'}` } });
      }
    } catch (e) {
      if (l.abortedBy === 'cancel') await this.finish(l, 'cancelled', { error: { code: 'cancelled', message: message(e) } });
      else if (l.abortedBy === 'stop') await this.finish(l, 'failed', { error: { code: 'agent-stopped', message: `${C} the agent stopped during the job: ${message(e)}` } });
      else await this.finish(l, 'failed', { error: { code: `${rec.kind}-failed`, message: message(e) } });
    }
  }

  private progress(l: Live, p: ProgressSample): void {
    if (isFinished(l.rec.state)) return;
    l.rec.progress = { ...p, at: this.now().toISOString() };
    const t = Date.now();
    if (t - l.lastJournal >= (this.deps.journalProgressMs ?? 2000)) {
      l.lastJournal = t;
      void this.change(l, false);
    }
    const every = this.deps.progressIntervalMs ?? 250;
    if (t - l.lastEvent >= every) {
      this.emitProgress(l);
    } else {
      l.trailing ??= setTimeout(() => this.emitProgress(l), every - (t - l.lastEvent));
    }
  }

  private emitProgress(l: Live): void {
    if (l.trailing) clearTimeout(l.trailing);
    l.trailing = undefined;
    l.lastEvent = Date.now();
    if (l.rec.progress) this.emit(l, { type: 'progress', jobId: l.rec.id, progress: { ...l.rec.progress } });
  }

  /** Journals the record (seq + 1) and, for a state change, tells the subscribers. */
  private async change(l: Live, announce = true): Promise<void> {
    l.rec.seq += 1;
    l.rec.updatedAt = this.now().toISOString();
    const copy = structuredClone(l.rec);
    try {
      await this.deps.journal.put(copy);
    } catch (e) {
      this.log(`job ${l.rec.id}: ${message(e)}`);
    }
    if (announce && !isFinished(copy.state)) this.emit(l, { type: 'state', job: copy });
  }

  private async finish(l: Live, state: JobState, o: { result?: unknown; error?: { code: string; message: string } }): Promise<void> {
    if (l.trailing) this.emitProgress(l);
    Object.assign(l.rec, { state, finishedAt: this.now().toISOString() }, o.result === undefined ? {} : { result: o.result }, o.error ? { error: o.error } : {});
    await this.change(l);
    this.log(`job ${l.rec.id}: ${state}${o.error ? ` (${o.error.message})` : ''}`);
    this.finished.set(l.rec.id, l.rec);
    this.live.delete(l.rec.id);
    this.emit(l, { type: 'done', job: structuredClone(l.rec) });
    l.listeners.clear();
    await this.prune().catch((e) => this.log(`pruning the journal: ${message(e)}`));
  }

  private emit(l: Live, e: JobEvent): void {
    for (const fn of [...l.listeners]) {
      try {
        fn(e);
      } catch (err) {
        this.log(`job ${l.rec.id}: a subscriber failed: ${message(err)}`);
      }
    }
  }

  private async prune(): Promise<void> {
    const extra = this.finished.size - (this.deps.retainFinished ?? 500);
    if (extra <= 0) return;
    const old = [...this.finished.values()].sort((a, b) => (a.finishedAt! < b.finishedAt! ? -1 : 1)).slice(0, extra);
    for (const r of old) {
      this.finished.delete(r.id);
      if (r.request.requestId && this.byRequest.get(r.request.requestId) === r.id) this.byRequest.delete(r.request.requestId);
      await this.deps.journal.remove(r.id);
    }
  }
}
