/**
 * @layer testing
 * FakeEngine: an AgentEngine in memory that behaves like the real one where the daemon can tell:
 * work takes time and reports progress step by step, an abort is honoured only after a cleanup
 * delay (the real watchdog takes a moment too) and rejects with a backup-style message, the first
 * backup of a VM is full and the next ones incremental, restore and verify need a point, and
 * failures can be scripted. It counts how many calls run at once (for the concurrency limit) and
 * can hold every new call at its start until released (for deterministic queue tests).
 */
import type { AgentEngine, EngineBackup, EngineRun } from '../engine/port.ts';
import type { BackupOutcome, ExportBody, PruneBody, PruneOutcome, RestoreBody, RestoreOutcome, ScanBody, ScanOutcome, VerifyBody, VerifyOutcome } from '../engine/requests.ts';
import type { ImageStream } from '../restore/port.ts';

export interface FakeEngineOptions {
  /** bytes each call moves (default 64 MiB) */
  bytes?: number;
  /** progress steps per call (default 10) */
  steps?: number;
  /** ms per step (default 20) */
  stepMs?: number;
  /** ms the cleanup after an abort takes (default 20) */
  cleanupMs?: number;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(signal.reason); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

export class FakeEngine implements AgentEngine {
  readonly calls: { kind: 'backup' | 'restore' | 'verify' | 'export' | 'prune'; request: unknown }[] = [];
  /** points per VM id, oldest first */
  readonly points = new Map<string, string[]>();
  /** a call whose domain (backup) or vmId (restore, verify) is a key here fails with the message */
  readonly failures = new Map<string, string>();
  running = 0;
  maxRunning = 0;
  private held: Promise<void> | undefined;
  private release: (() => void) | undefined;
  private seq = 0;

  constructor(private readonly o: FakeEngineOptions = {}) {}

  /** Holds every call that starts from now on at its start, until the returned function is called. */
  hold(): () => void {
    if (!this.held) this.held = new Promise<void>((r) => { this.release = r; });
    return () => { this.release?.(); this.held = undefined; this.release = undefined; };
  }

  private async work(kind: 'backup' | 'restore' | 'verify' | 'prune', request: unknown, key: string, run: EngineRun, disk?: string): Promise<number> {
    this.calls.push({ kind, request });
    this.running += 1;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    const bytes = this.o.bytes ?? 64 << 20;
    const steps = this.o.steps ?? 10;
    try {
      while (this.held) await Promise.race([this.held, sleep(3_600_000, run.signal)]);
      for (let i = 1; i <= steps; i++) {
        await sleep(this.o.stepMs ?? 20, run.signal);
        run.onProgress({ bytesDone: Math.round((bytes * i) / steps), bytesTotal: bytes, ...(disk ? { disk, diskIndex: 0, disks: 1, bytesWritten: Math.round((bytes * i) / steps / 2) } : {}) });
      }
      const failure = this.failures.get(key);
      if (failure) throw new Error(failure);
      return bytes;
    } catch (e) {
      if (run.signal.aborted) {
        // the watchdog: cleanup takes a moment, and it runs even though the signal fired
        await new Promise((r) => setTimeout(r, this.o.cleanupMs ?? 20));
        const why = run.signal.reason instanceof Error ? run.signal.reason.message : String(run.signal.reason);
        throw new Error(`[${kind}] ${kind} of ${key} failed, ${kind === 'backup' ? 'no restore point recorded' : 'nothing was written'}: ${why}`, { cause: e });
      }
      throw e;
    } finally {
      this.running -= 1;
    }
  }

  async backup(req: EngineBackup, run: EngineRun): Promise<BackupOutcome> {
    const t0 = Date.now();
    const disk = req.disks?.[0] ?? 'vda';
    const bytes = await this.work('backup', req, req.domain, run, disk);
    const pts = this.points.get(req.vmId) ?? [];
    const type = req.mode === 'full' || pts.length === 0 ? 'full' : 'incremental';
    if (req.mode === 'incremental' && pts.length === 0) throw new Error(`[backup] backup of ${req.domain} failed, no restore point recorded: no parent point for an incremental`);
    this.seq += 1;
    const pointId = `20250101-${String(120000 + this.seq).padStart(6, '0')}`;
    pts.push(pointId);
    this.points.set(req.vmId, pts);
    const reason = type === 'full' ? (pts.length === 1 ? 'no previous point' : 'full backup requested') : `changes since ${pts[pts.length - 2]}`;
    const parent = pts.length > 1 ? pts[pts.length - 2] : null;
    const image = (id: string, t: string) => `disk-0/${t === 'full' ? 'full' : 'incr'}-${id}`;
    const now = new Date().toISOString();
    const consistency = 'crash-consistent: fake engine';
    const sha = 'f'.repeat(64);
    return {
      pointId, vmId: req.vmId, type, reason, consistency, bytesRead: bytes, bytesSent: bytes / 2, durationMs: Date.now() - t0,
      manifest: {
        format: 'sendense-point', version: 1, id: pointId, vm_uuid: req.vmId, type, reason, parent,
        created_at: now, started_at: new Date(t0).toISOString(), finished_at: now, duration_ms: Date.now() - t0, consistency, vm_state: 'running',
        disks: [{
          index: 0, target: disk, type, reason, image: `${image(pointId, type)}.qcow2`, backing: type === 'incremental' && parent ? `disk-0/${parent}.qcow2` : null,
          checkpoint: `sendense-${pointId}`, virtual_size: bytes, file_size: bytes / 2, bytes_read: bytes, bytes_written: bytes / 2, bytes_sent: bytes / 2,
          data_clusters: 1, zero_clusters: 0, sums: `${image(pointId, type)}.sums`, block_size: 1 << 20, content_sha256: sha, file_sha256: { header: sha, body: sha },
        }],
        agent: { host: 'fake', version: '0' },
      },
    };
  }

  private pointOf(vmId: string, point: string | undefined, what: string): string {
    const pts = this.points.get(vmId) ?? [];
    const id = point ?? pts[pts.length - 1];
    if (!id || !pts.includes(id)) throw new Error(`[${what}] VM ${vmId} has no restore point${point ? ` ${point}` : ''}`);
    return id;
  }

  async restore(req: RestoreBody, run: EngineRun): Promise<RestoreOutcome> {
    const t0 = Date.now();
    const pointId = this.pointOf(req.vmId, req.point, 'restore');
    const bytes = await this.work('restore', req, req.vmId, run);
    const pts = this.points.get(req.vmId)!;
    return {
      pointId, disk: req.disk, ...destinationOf(req), format: req.format, virtualSize: bytes, bytesRead: bytes,
      chain: pts.slice(0, pts.indexOf(pointId) + 1).map((p) => `disk-0/${p}.qcow2`), contentSha256: '0'.repeat(64), durationMs: Date.now() - t0,
    };
  }

  /** A download of `bytes` bytes: block i (1 MiB) filled with i & 0xff; a failure for the VM cuts it at half. */
  async exportDisk(req: ExportBody, signal: AbortSignal): Promise<ImageStream> {
    const pointId = this.pointOf(req.vmId, req.point, 'export');
    this.calls.push({ kind: 'export', request: req });
    const bytes = this.o.bytes ?? 64 << 20;
    const failure = this.failures.get(req.vmId);
    let read = 0;
    const body = async function* () {
      for (let off = 0, i = 0; off < bytes; off += 1 << 20, i++) {
        signal.throwIfAborted();
        if (failure && off >= bytes / 2) throw new Error(failure);
        const n = Math.min(1 << 20, bytes - off);
        read += n;
        yield Buffer.alloc(n, i & 0xff);
      }
    };
    return {
      pointId, disk: req.disk, format: req.format, virtualSize: bytes, contentSha256: '0'.repeat(64), chain: [], length: bytes,
      body: body(), bytesRead: () => read, close: async () => {},
    };
  }

  async verify(req: VerifyBody, run: EngineRun): Promise<VerifyOutcome> {
    const t0 = Date.now();
    const ids = req.point ? [this.pointOf(req.vmId, req.point, 'verify')] : (this.points.get(req.vmId) ?? []);
    if (!ids.length) throw new Error(`[verify] VM ${req.vmId} has no restore point`);
    await this.work('verify', req, req.vmId, run);
    return { vmId: req.vmId, ok: true, points: ids.map((pointId) => ({ pointId, ok: true, disks: [{ target: 'vda', ok: true, problems: [], bytesRead: 1, chain: [] }] })), durationMs: Date.now() - t0 };
  }

  /** Removes the points (each must exist); the oldest remaining point whose parent went is "merged". */
  async prune(req: PruneBody, run: EngineRun): Promise<PruneOutcome> {
    const t0 = Date.now();
    const pts = this.points.get(req.vmId) ?? [];
    const unknown = req.remove.filter((id) => !pts.includes(id));
    if (unknown.length) throw new Error(`[retention] no point ${unknown.join(', ')} of VM ${req.vmId}`);
    const bytes = await this.work('prune', req, req.vmId, run);
    const keep = pts.filter((id) => !req.remove.includes(id));
    const merged = keep.filter((id) => req.remove.includes(pts[pts.indexOf(id) - 1])).map((pointId) => ({ pointId, from: [pts[pts.indexOf(pointId) - 1]], bytesWritten: bytes / 4 }));
    this.points.set(req.vmId, keep);
    return { vmId: req.vmId, removed: [...req.remove].sort(), merged, bytesFreed: bytes / 2, durationMs: Date.now() - t0 };
  }

  async scan(req: ScanBody): Promise<ScanOutcome> {
    const ids = req.vmId ? [req.vmId] : [...this.points.keys()];
    return { vms: ids.map((vmId) => ({ vmId, metadata: null, points: [], bytesUsed: (this.points.get(vmId)?.length ?? 0) * (this.o.bytes ?? 64 << 20) / 2, problems: [] })) };
  }
}

/** where a restore request writes, as the outcome names it */
function destinationOf(req: RestoreBody): { destination: 'file' | 'volume' | 'upload'; to: string } {
  if (req.inPlace) return { destination: 'volume', to: req.inPlace.path };
  if (req.upload) return { destination: 'upload', to: req.upload.url.split('?')[0] };
  return { destination: 'file', to: req.to! };
}
