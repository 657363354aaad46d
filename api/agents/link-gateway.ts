/**
 * @layer adapter
 * The AgentGateway over the real agent: one reconnecting SSH link per KVM host (agent/link:
 * host key pinned, HTTP to the daemon's unix socket through streamlocal forwarding — no port
 * opens on the host), the daemon's job records mapped onto the control plane's port. Every job
 * outcome is parsed with the daemon's zod schemas here, at the boundary. Prunes, scan and
 * exports go through the link's plain fetch (written before their routes landed; the answers are
 * zod-checked all the same, and an export's body is streamed, never buffered).
 */
import type { z } from 'zod';
import { agentJson, agentLink, AgentApiError, AGENT_ORIGIN, isUnreachable, jobEvents, LinkError, type AgentLinkOptions, type ReconnectingAgentLink } from '../../agent/link/index.ts';
import type { JobProgress, JobRecord } from '../../agent/link/index.ts';
import { describeIssues, PruneOutcome, RestoreOutcome, ScanOutcome, VerifyOutcome } from '../../agent/daemon/schemas.ts';
import type { Health } from '../../agent/daemon/service.ts';
import { VmwareImportOutcome } from '../../agent/vmware/requests.ts';
import {
  AgentGatewayError, type AgentBackupRequest, type AgentExport, type AgentGateway, type AgentHealth, type AgentJobEvent, type AgentJobKind,
  type AgentJobStatus, type AgentProgress, type AgentRestoreRequest, type GatewayCallOptions,
} from './port.ts';

/** How the control plane reaches one host's agent: the link's own options, plus the repository's
 * SSH key and known_hosts file ON THE AGENT HOST (passed with every backup). */
export type AgentHostAccess = Pick<AgentLinkOptions, 'host' | 'port' | 'username' | 'identityFile' | 'knownHostsFile' | 'socketPath'> & {
  repoIdentity?: string;
  repoKnownHosts?: string;
};

export interface LinkGatewayOptions {
  /** the access for a CloudStack host id; undefined when the host has no agent */
  access(hostId: string): AgentHostAccess | undefined | Promise<AgentHostAccess | undefined>;
}

function progressOf(p: JobProgress | undefined): AgentProgress | undefined {
  if (!p) return undefined;
  return { disk: p.disk ?? '', diskIndex: p.diskIndex ?? 0, disks: p.disks ?? 1, bytesRead: p.bytesDone, bytesToRead: p.bytesTotal, bytesWritten: p.bytesWritten ?? 0 };
}

function parsed<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const r = schema.safeParse(value);
  if (!r.success) throw new AgentGatewayError('protocol', `${what} is not what the agent daemon sends: ${describeIssues(r.error)}`);
  return r.data;
}

const OUTCOMES = { restore: RestoreOutcome, verify: VerifyOutcome, prune: PruneOutcome, import: VmwareImportOutcome } as const;

function statusOf(job: JobRecord): AgentJobStatus {
  const kind = (job as { kind: string }).kind as AgentJobKind;
  const s: AgentJobStatus = { agentJobId: job.id, kind, state: job.state, progress: progressOf(job.progress), startedAt: job.startedAt, finishedAt: job.finishedAt };
  if (job.error) s.error = job.error;
  // a verification that found problems fails its job and still carries the report: pass it on
  if (kind === 'verify' && job.state === 'failed' && (job as { result?: unknown }).result !== undefined) {
    s.verify = parsed(OUTCOMES.verify, (job as { result?: unknown }).result, `the report of failed verify job ${job.id}`);
  }
  if (job.state !== 'succeeded') return s;
  if (kind === 'backup' && job.kind === 'backup' && job.result) {
    if (!job.result.manifest) throw new AgentGatewayError('protocol', `job ${job.id} succeeded but its result carries no manifest (point ${job.result.pointId})`);
    s.result = { manifest: job.result.manifest, bytesRead: job.result.bytesRead, bytesSent: job.result.bytesSent, durationMs: job.result.durationMs };
  } else if (kind === 'restore' || kind === 'verify' || kind === 'prune' || kind === 'import') {
    const result = (job as { result?: unknown }).result;
    if (kind === 'restore') s.restore = parsed(OUTCOMES.restore, result, `the result of restore job ${job.id}`);
    if (kind === 'verify') s.verify = parsed(OUTCOMES.verify, result, `the result of verify job ${job.id}`);
    if (kind === 'prune') s.prune = parsed(OUTCOMES.prune, result, `the result of prune job ${job.id}`);
    if (kind === 'import') s.import = parsed(OUTCOMES.import, result, `the result of import job ${job.id}`);
  }
  return s;
}

/** The daemon's restore destination fields for the port's destination. */
function destinationOf(d: AgentRestoreRequest['destination']) {
  if (d.kind === 'file') return { to: d.path, ...(d.format ? { format: d.format } : {}), overwrite: d.overwrite ?? false };
  if (d.kind === 'volume') return { inPlace: { path: d.path, ...(d.format ? { format: d.format } : {}) } };
  return { upload: { url: d.url, headers: d.headers ?? {}, format: d.format ?? 'qcow2' } };
}

/** POST a JSON body to a daemon route through the link's plain fetch. */
async function postJson(l: ReconnectingAgentLink, route: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  return l.fetch(`${AGENT_ORIGIN}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal });
}

function mapError(e: unknown, what: string, signal?: AbortSignal): AgentGatewayError {
  if (e instanceof AgentGatewayError) return e;
  if (signal?.aborted) return new AgentGatewayError('aborted', `${what}: aborted`, { cause: e });
  // every link failure means the agent cannot be used now; the message says which (down, host key, auth, config)
  if (e instanceof LinkError) return new AgentGatewayError('unreachable', `${what}: ${isUnreachable(e.code) ? '' : `${e.code}: `}${e.message}`, { cause: e });
  if (e instanceof AgentApiError) {
    if (e.status === 404) return new AgentGatewayError('unknown_job', `${what}: ${e.message}`, { cause: e });
    if (e.status === 409 || e.status === 400) return new AgentGatewayError('rejected', `${what}: ${e.message}`, { cause: e });
    if (e.status >= 500) return new AgentGatewayError('unreachable', `${what}: the agent answered ${e.status}: ${e.message}`, { cause: e });
    return new AgentGatewayError('protocol', `${what}: ${e.message}`, { cause: e });
  }
  const name = (e as Error)?.name;
  if (name === 'AbortError') return new AgentGatewayError('aborted', `${what}: aborted`, { cause: e });
  return new AgentGatewayError('unreachable', `${what}: ${(e as Error)?.message ?? String(e)}`, { cause: e });
}

export function createLinkGateway(o: LinkGatewayOptions): AgentGateway & { close(): Promise<void>; link(hostId: string): Promise<ReconnectingAgentLink> } {
  const links = new Map<string, { key: string; link: ReconnectingAgentLink }>();

  async function accessOf(hostId: string): Promise<AgentHostAccess> {
    const a = await o.access(hostId);
    if (!a) throw new AgentGatewayError('unreachable', `host ${hostId} has no agent configured (no SSH access known for it)`);
    return a;
  }

  async function link(hostId: string): Promise<ReconnectingAgentLink> {
    const a = await accessOf(hostId);
    const key = JSON.stringify([a.host, a.port, a.username, a.identityFile, a.knownHostsFile, a.socketPath]);
    const have = links.get(hostId);
    if (have && have.key === key) return have.link;
    if (have) await have.link.close().catch(() => {});
    const l = agentLink({ host: a.host, port: a.port, username: a.username, identityFile: a.identityFile, knownHostsFile: a.knownHostsFile, ...(a.socketPath ? { socketPath: a.socketPath } : {}) });
    links.set(hostId, { key, link: l });
    return l;
  }

  async function call<T>(hostId: string, what: string, opts: GatewayCallOptions | undefined, fn: (l: ReconnectingAgentLink) => Promise<T>): Promise<T> {
    if (opts?.signal?.aborted) throw new AgentGatewayError('aborted', `${what}: aborted`, { cause: opts.signal.reason });
    try {
      return await fn(await link(hostId));
    } catch (e) {
      throw mapError(e, `[agent-gateway] host ${hostId}: ${what}`, opts?.signal);
    }
  }

  /** the repository fields of a daemon body: where it is, and the agent host's key for it */
  async function repoOf(hostId: string, repository: string, requestId?: string) {
    const a = await accessOf(hostId).catch((e) => { throw mapError(e, `host ${hostId}`); });
    return {
      repo: repository, ...(requestId ? { requestId } : {}),
      ...(a.repoIdentity ? { identity: a.repoIdentity } : {}), ...(a.repoKnownHosts ? { knownHosts: a.repoKnownHosts } : {}),
    };
  }

  /** a job submission: the agent's job id from its {job} answer */
  const jobIdOf = async (res: Response | { ok: boolean; status: number; json(): Promise<unknown>; text(): Promise<string> }) => {
    const { job } = await agentJson(res) as { job?: { id?: unknown } };
    if (typeof job?.id !== 'string') throw new AgentGatewayError('protocol', 'the agent accepted the job but its answer carries no job id');
    return { agentJobId: job.id };
  };

  return {
    link,
    async startRestore(hostId, req, opts) {
      const repo = await repoOf(hostId, req.repository, req.requestId);
      return call(hostId, `restore of ${req.vmId} ${req.disk}`, opts, async (l) => jobIdOf(await l.client.v1.restores.$post({
        json: { ...repo, vmId: req.vmId, disk: req.disk, ...(req.point ? { point: req.point } : {}), ...destinationOf(req.destination) },
      }, { init: { signal: opts?.signal } })));
    },
    async startVerify(hostId, req, opts) {
      const repo = await repoOf(hostId, req.repository, req.requestId);
      return call(hostId, `verification of ${req.vmId}`, opts, async (l) => jobIdOf(await l.client.v1.verify.$post({
        json: { ...repo, vmId: req.vmId, ...(req.point ? { point: req.point } : {}), restoreTest: req.restoreTest ?? false },
      }, { init: { signal: opts?.signal } })));
    },
    async startPrune(hostId, req, opts) {
      const repo = await repoOf(hostId, req.repository, req.requestId);
      return call(hostId, `prune of ${req.vmId}`, opts, async (l) => jobIdOf(await postJson(l, '/v1/prunes', { ...repo, vmId: req.vmId, remove: req.remove }, opts?.signal)));
    },
    async startImport(hostId, req, opts) {
      const repo = await repoOf(hostId, req.repository, req.requestId);
      return call(hostId, `import of ${req.path}`, opts, async (l) => jobIdOf(await postJson(l, '/v1/imports', {
        ...repo, path: req.path, ...(req.vmId ? { vmId: req.vmId } : {}), mode: req.mode ?? 'auto',
      }, opts?.signal)));
    },
    async scan(hostId, req, opts) {
      const repo = await repoOf(hostId, req.repository);
      return call(hostId, `scan of ${req.repository}`, opts, async (l) => {
        const body = await agentJson(await postJson(l, '/v1/scan', { ...repo, ...(req.vmId ? { vmId: req.vmId } : {}) }, opts?.signal)) as Record<string, unknown>;
        return parsed(ScanOutcome, 'vms' in body ? body : body.scan ?? body.result, `the scan of ${req.repository}`);
      });
    },
    async exportImage(hostId, req, opts): Promise<AgentExport> {
      const repo = await repoOf(hostId, req.repository);
      return call(hostId, `export of ${req.vmId} ${req.disk}`, opts, async (l) => {
        const res = await postJson(l, '/v1/exports', { ...repo, vmId: req.vmId, disk: req.disk, format: req.format, ...(req.point ? { point: req.point } : {}) }, opts?.signal);
        if (!res.ok) {
          try {
            await agentJson(res);
          } catch (e) {
            // a missing point or disk (404) is a refusal here, not an unknown job
            if (e instanceof AgentApiError && e.status === 404) throw new AgentGatewayError('rejected', `[agent-gateway] host ${hostId}: export of ${req.vmId} ${req.disk}: ${e.message}`, { cause: e });
            throw e;
          }
        }
        if (!res.body) throw new AgentGatewayError('protocol', `export of ${req.vmId} ${req.disk}: the agent answered without a body`);
        const length = Number(res.headers.get('content-length') ?? NaN);
        const format = res.headers.get('x-sendense-format');
        return {
          stream: res.body, ...(Number.isFinite(length) ? { size: length } : {}),
          format: format === 'raw' || format === 'qcow2' ? format : req.format, disk: req.disk,
          ...(res.headers.get('x-sendense-point') ? { pointId: res.headers.get('x-sendense-point')! } : {}),
        };
      });
    },
    async startBackup(hostId, req: AgentBackupRequest, opts) {
      const a = await accessOf(hostId).catch((e) => { throw mapError(e, `host ${hostId}`); });
      return call(hostId, `backup of ${req.domain}`, opts, async (l) => {
        const res = await l.client.v1.backups.$post({
          json: {
            domain: req.domain, vmId: req.vmId, mode: req.mode, disks: req.disks, quiesce: req.quiesce ?? false,
            repo: req.repository, requestId: req.requestId, sourcePlatform: 'cloudstack',
            ...(a.repoIdentity ? { identity: a.repoIdentity } : {}), ...(a.repoKnownHosts ? { knownHosts: a.repoKnownHosts } : {}),
            ...(req.platformMetadata ? { platformMetadata: req.platformMetadata } : {}),
          },
        }, { init: { signal: opts?.signal } });
        const { job } = await agentJson(res) as { job: JobRecord };
        return { agentJobId: job.id };
      });
    },
    async jobStatus(hostId, agentJobId, opts) {
      return call(hostId, `job ${agentJobId}`, opts, async (l) => {
        const res = await l.client.v1.jobs[':id'].$get({ param: { id: agentJobId } }, { init: { signal: opts?.signal } });
        const { job } = await agentJson(res) as { job: JobRecord };
        return statusOf(job);
      });
    },
    events(hostId, agentJobId, opts): AsyncIterable<AgentJobEvent> {
      return {
        [Symbol.asyncIterator]: async function* () {
          const res = await call(hostId, `events of job ${agentJobId}`, opts, async (l) => {
            const r = await l.client.v1.jobs[':id'].events.$get({ param: { id: agentJobId } }, { init: { signal: opts?.signal } });
            if (!r.ok) await agentJson(r);
            return r;
          });
          try {
            for await (const e of jobEvents(res)) {
              opts?.signal?.throwIfAborted();
              if (e.type === 'progress') {
                const p = progressOf(e.progress);
                if (p) yield { type: 'progress', progress: p };
              } else {
                yield { type: 'state', status: statusOf(e.job) };
                if (e.type === 'done') return;
              }
            }
          } catch (e) {
            throw mapError(e, `[agent-gateway] host ${hostId}: events of job ${agentJobId}`, opts?.signal);
          }
          if (!opts?.signal?.aborted) throw new AgentGatewayError('unreachable', `host ${hostId}: the event stream of job ${agentJobId} ended before the job did`);
        },
      };
    },
    async cancel(hostId, agentJobId, opts) {
      await call(hostId, `cancel of job ${agentJobId}`, opts, async (l) => {
        const res = await l.client.v1.jobs[':id'].cancel.$post({ param: { id: agentJobId } }, { init: { signal: opts?.signal } });
        try {
          await agentJson(res);
        } catch (e) {
          // cancelling a job that already finished is a no-op (the port's contract)
          if (e instanceof AgentApiError && e.status === 409 && e.code === 'finished') return;
          throw e;
        }
      });
    },
    async health(hostId, opts): Promise<AgentHealth> {
      return call(hostId, 'health', opts, async (l) => {
        const res = await l.client.v1.health.$get({}, { init: { signal: opts?.signal } });
        const h = await agentJson(res) as Health;
        return { hostname: h.hostname, version: h.version, capabilities: { ...h.capabilities, ok: h.ok, problems: h.problems, jobs: h.jobs, ...(h.workDir ? { workDir: h.workDir } : {}) }, sshKeyFingerprint: l.hostKeyFingerprint };
      });
    },
    async close() {
      for (const { link: l } of links.values()) await l.close().catch(() => {});
      links.clear();
    },
  };
}
