/**
 * @layer usecase
 * The simulator's running world: the state, login sessions, async jobs, and the ports its jobs
 * act through (hypervisor, upload store, fetch for uploadVolume). Commands mutate the state in
 * place; jobs "take a moment" (asyncDelayMs) before their work runs, as CloudStack's job queue does.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { HttpFetch } from '../cloudstack/port.ts';
import { formatExpires } from '../cloudstack/signer.ts';
import { apiErrors, SimApiError } from './api-error.ts';
import type { Caller } from './access.ts';
import type { SimHypervisor } from './hypervisor.ts';
import type { Args } from './params.ts';
import type { SimState } from './state.ts';
import type { UploadStore } from './upload-store.ts';

export interface SimSession {
  /** the JSESSIONID cookie */
  id: string;
  sessionkey: string;
  userId: string;
  lastAccess: number;
  /** false until validateUserTwoFactorAuthenticationCode succeeds for a 2FA user */
  twoFactorVerified: boolean;
}

/** listEvents: what happened, by whom (login, logout, VM start/stop) */
export interface SimEvent {
  id: string;
  userId: string;
  accountId: string;
  type: string;
  description: string;
  created: number;
}

export interface SimJob {
  id: string;
  userId: string;
  accountId: string;
  /** the Java command class, as queryAsyncJobResult's `cmd` */
  cmd: string;
  instanceType?: string;
  instanceId?: string;
  created: number;
  completed?: number;
  /** 0 pending, 1 succeeded, 2 failed */
  status: 0 | 1 | 2;
  resultCode: number;
  result?: Record<string, unknown>;
}

export interface PendingUpload {
  volumeId: string;
  postUrl: string;
  expiresAt: number;
  format: string;
}

export interface SimRuntimeOptions {
  state: SimState;
  now: () => number;
  asyncDelayMs: number;
  hypervisor: SimHypervisor;
  uploads: UploadStore;
  fetch: HttpFetch;
  /** the pre-shared key of upload signatures (CloudStack's SSVM PSK); random by default */
  uploadPsk?: string;
}

export class SimRuntime {
  readonly state: SimState;
  readonly now: () => number;
  readonly asyncDelayMs: number;
  readonly hypervisor: SimHypervisor;
  readonly uploads: UploadStore;
  readonly fetch: HttpFetch;
  readonly uploadPsk: string;
  readonly sessions = new Map<string, SimSession>();
  readonly jobs = new Map<string, SimJob>();
  readonly pendingUploads = new Map<string, PendingUpload>();
  readonly events: SimEvent[] = [];
  /** the last TOTP step each user's code matched (a code is never accepted twice) */
  readonly lastTotpStep = new Map<string, number>();
  private readonly running = new Set<Promise<void>>();

  constructor(opts: SimRuntimeOptions) {
    this.state = opts.state;
    this.now = opts.now;
    this.asyncDelayMs = opts.asyncDelayMs;
    this.hypervisor = opts.hypervisor;
    this.uploads = opts.uploads;
    this.fetch = opts.fetch;
    this.uploadPsk = opts.uploadPsk ?? randomBytes(32).toString('base64url');
  }

  date(ms = this.now()): string {
    return formatExpires(ms);
  }

  newId(): string {
    return randomUUID();
  }

  /** The moment a job takes (asyncDelayMs): jobs call it between their transitional and final state. */
  takeAMoment(): Promise<void> {
    return new Promise((r) => setTimeout(r, this.asyncDelayMs));
  }

  /**
   * Starts a job: `work` runs at once (it calls takeAMoment where CloudStack would take time); its
   * result becomes `jobresult`; a failure makes the job fail with jobresultcode 530 and
   * `{errorcode, cserrorcode, errortext}` (a SimApiError keeps its codes, anything else is a 530).
   */
  startJob(caller: Caller, meta: { cmd: string; instanceType?: string; instanceId?: string }, work: () => Promise<Record<string, unknown>>): SimJob {
    const job: SimJob = {
      id: randomUUID(), userId: caller.user.id, accountId: caller.account.id, cmd: meta.cmd,
      instanceType: meta.instanceType, instanceId: meta.instanceId, created: this.now(), status: 0, resultCode: 0,
    };
    this.jobs.set(job.id, job);
    const p = (async () => {
      try {
        job.result = await work();
        job.status = 1;
      } catch (e) {
        const err = e instanceof SimApiError ? e : apiErrors.internal(e instanceof Error ? e.message : String(e));
        job.status = 2;
        job.resultCode = 530;
        job.result = { errorcode: err.errorcode, ...(err.cserrorcode !== undefined ? { cserrorcode: err.cserrorcode } : {}), errortext: err.errortext };
      }
      job.completed = this.now();
    })();
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
    return job;
  }

  event(userId: string, accountId: string, type: string, description: string): void {
    this.events.push({ id: randomUUID(), userId, accountId, type, description, created: this.now() });
    if (this.events.length > 1000) this.events.shift();
  }

  /** Tracks background work (an upload that continues after its job) so idle() waits for it. */
  track(p: Promise<unknown>): void {
    const q = p.then(() => undefined, () => undefined);
    this.running.add(q);
    void q.finally(() => this.running.delete(q));
  }

  /** Resolves when no job is running (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running]);
  }

  /** Finds an entity by id for a parameter, or throws CloudStack's 431 for that parameter. */
  find<T extends { id: string }>(list: T[], id: unknown, command: string, param: string): T {
    const x = typeof id === 'string' ? list.find((e) => e.id === id) : undefined;
    if (!x) throw apiErrors.invalidId(command, param, String(id));
    return x;
  }
}

export type { Args };
