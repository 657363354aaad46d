/**
 * @layer usecase
 * startDownload: one disk of a point as a qcow2 or raw byte stream, read by an agent from the
 * repository (AgentGateway.exportImage) and handed to the caller as it comes — recorded as a
 * restore of kind `download` (running while it streams; succeeded when the last byte went out,
 * cancelled when the client went away, failed when the agent's stream broke). Cancelling the
 * returned stream, or the request's signal, stops the agent's read.
 */
import type { Restore } from '../../db/schema.ts';
import type { Store } from '../../db/store.ts';
import type { AgentGateway, AgentImageFormat } from '../agents/port.ts';
import { RestoreError } from './errors.ts';
import { chooseDisks, pickRepositoryHost, restoreProgress } from './plan.ts';
import { loadPoint, type RestoreRunner } from './runner.ts';
import type { RestoreResult, RestoreTarget } from './state.ts';

export interface DownloadRequest {
  restorePointId: string;
  disk: string;
  format: AgentImageFormat;
  requestedBy?: string | null;
  /** the client's request: aborting it stops the download */
  signal?: AbortSignal;
}

export interface Download {
  restore: Restore;
  stream: ReadableStream<Uint8Array>;
  size?: number;
  format: AgentImageFormat;
  /** <vm>-<disk>-<point>.<format> */
  filename: string;
}

export async function startDownload(deps: { store: Store; gateway: AgentGateway; runner: RestoreRunner; clock?: () => Date }, req: DownloadRequest): Promise<Download> {
  const { store, gateway, runner } = deps;
  const clock = deps.clock ?? (() => new Date());
  const { point, repository, disks } = await loadPoint(store, req.restorePointId);
  const [disk] = chooseDisks(disks, [req.disk]);
  const vm = await store.vms.get(point.platformVmId);
  const [agents, hosts] = await Promise.all([store.agents.list(), store.hosts.list()]);
  const hostId = pickRepositoryHost({ hostId: vm?.hostId ?? null, zoneId: vm?.zoneId ?? null },
    agents.map((a) => ({ hostId: a.hostId, status: a.status, zoneId: hosts.find((h) => h.id === a.hostId)?.zoneId ?? null })));
  if (!hostId) throw new RestoreError('conflict', 'no agent is known to read the repository: wait for discovery and the heartbeat');
  const target: RestoreTarget = { mode: 'download', pointId: point.pointId, disks: [disk.target], format: req.format };
  const result: RestoreResult = { disks: [{ target: disk.target, state: 'running' }], bytesSent: 0 };
  const now = clock();
  let restore = await store.restores.create({
    id: crypto.randomUUID(), restorePointId: point.id, platformVmId: point.platformVmId, kind: 'download', target: { ...target }, status: 'running',
    progress: 0, requestedBy: req.requestedBy ?? null, createdAt: now, startedAt: now, updatedAt: now, kvmHostId: hostId, result: { ...result },
  });
  await runner.hold(restore.id);
  const ac = new AbortController();
  const onAbort = () => ac.abort(req.signal!.reason);
  req.signal?.addEventListener('abort', onAbort, { once: true });
  let exp;
  try {
    exp = await gateway.exportImage(hostId, { repository: repository.url, vmId: point.platformVmId, disk: disk.target, point: point.pointId, format: req.format }, { signal: ac.signal });
  } catch (e) {
    req.signal?.removeEventListener('abort', onAbort);
    await runner.end(restore.id, 'failed', 'export_failed', (e as Error).message);
    throw e;
  }
  const size = exp.size;
  const reader = exp.stream.getReader();
  let sent = 0;
  let lastWrite = 0;
  const finish = async (status: 'succeeded' | 'failed' | 'cancelled', why?: string) => {
    req.signal?.removeEventListener('abort', onAbort);
    result.bytesSent = sent;
    result.disks[0].state = status;
    if (why) result.disks[0].error = why;
    await runner.end(restore.id, status, status === 'succeeded' ? undefined : status === 'cancelled' ? 'cancelled' : 'export_failed', why, { result: { ...result } })
      .catch(() => {});
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(ctl) {
      let chunk;
      try {
        chunk = await reader.read();
      } catch (e) {
        await finish(ac.signal.aborted ? 'cancelled' : 'failed', ac.signal.aborted ? 'the client went away' : `the agent's stream broke: ${(e as Error).message}`);
        ctl.error(e);
        return;
      }
      if (chunk.done) {
        if (size !== undefined && sent !== size) await finish('failed', `the agent announced ${size} bytes and sent ${sent}`);
        else await finish('succeeded');
        ctl.close();
        return;
      }
      sent += chunk.value.byteLength;
      ctl.enqueue(chunk.value);
      if (size && Date.now() - lastWrite > 1000) {
        lastWrite = Date.now();
        void runner.set(restore.id, { progress: restoreProgress(0, 1, sent / size) }).catch(() => {});
      }
    },
    async cancel(reason) {
      ac.abort(reason);
      await reader.cancel(reason).catch(() => {});
      await finish('cancelled', 'the client went away');
    },
  }, { highWaterMark: 0 });
  restore = (await store.restores.get(restore.id)) ?? restore;
  return { restore, stream, size, format: exp.format, filename: `${vm?.name ?? point.platformVmId}-${disk.target}-${point.pointId}.${exp.format}` };
}
