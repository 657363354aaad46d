/**
 * @layer port
 * What the in-memory agent (memory.ts) answers for a repository it keeps as point manifests:
 * restore, verify, prune and scan outcomes and export bytes, fake but consistent with the points —
 * a restore's content digest is the point disk's, a prune merges survivors forward exactly as the
 * real agent plans it (agent/retention/plan.ts), an export's length is what it announces. Plain
 * functions of plain data; a refusal is `{ error }` with the code the real agent uses.
 */
import { prunePlan, PrunePlanError } from '../../agent/retention/plan.ts';
import type { PointDisk, PointManifest } from '../../agent/repository/manifest.ts';
import type {
  AgentExportRequest, AgentImageFormat, AgentPruneRequest, AgentRestoreRequest, AgentScanRequest, AgentVerifyRequest,
  PruneOutcome, RestoreOutcome, ScanOutcome, VerifyOutcome,
} from './port.ts';

export type Refusal = { error: { code: string; message: string } };

/** a refusal (PointDisk's index signature keeps `'error' in x` from narrowing) */
export function isRefusal(x: object): x is Refusal {
  return 'error' in x && typeof (x as Refusal).error?.code === 'string' && !('target' in x);
}

const refuse = (code: string, message: string): Refusal => ({ error: { code, message } });

/** The point asked for (the newest when none) and its chain, full first. */
export function chainOf(points: readonly PointManifest[], vmId: string, pointId?: string): { point: PointManifest; chain: PointManifest[] } | Refusal {
  const point = pointId ? points.find((p) => p.id === pointId) : points.at(-1);
  if (!point) return refuse('not-found', pointId ? `[restore] VM ${vmId} has no point ${pointId} in this repository` : `[restore] VM ${vmId} has no point in this repository`);
  const chain: PointManifest[] = [point];
  for (let p = point; p.parent;) {
    const parent = points.find((x) => x.id === p.parent);
    if (!parent) return refuse('broken-chain', `[restore] point ${p.id} names parent ${p.parent}, which is not in the repository`);
    chain.unshift(parent);
    p = parent;
  }
  return { point, chain };
}

function diskOf(point: PointManifest, target: string): PointDisk | Refusal {
  return point.disks.find((d) => d.target === target)
    ?? refuse('not-found', `[restore] point ${point.id} has no disk ${target} (it has ${point.disks.map((d) => d.target).join(', ')})`);
}

/** bytes a restore of `target` reads from the repository: every image of the chain */
export function chainBytes(chain: readonly PointManifest[], target: string): number {
  return chain.reduce((a, p) => a + (p.disks.find((d) => d.target === target)?.file_size ?? 0), 0);
}

export function restoreOutcome(points: readonly PointManifest[], req: AgentRestoreRequest, durationMs: number): RestoreOutcome | Refusal {
  const c = chainOf(points, req.vmId, req.point);
  if ('error' in c) return c;
  const disk = diskOf(c.point, req.disk);
  if (isRefusal(disk)) return disk;
  const d = req.destination;
  const format: AgentImageFormat = d.format ?? 'qcow2';
  const written = format === 'raw' ? disk.virtual_size : disk.bytes_written + 327_680;
  return {
    pointId: c.point.id, disk: req.disk,
    destination: d.kind === 'file' ? 'file' : d.kind === 'volume' ? 'volume' : 'upload',
    to: d.kind === 'upload' ? d.url.split('?')[0] : d.path,
    format, virtualSize: disk.virtual_size, bytesRead: chainBytes(c.chain, req.disk), bytesWritten: written,
    chain: c.chain.map((p) => p.disks.find((x) => x.target === req.disk)?.image ?? p.id),
    contentSha256: disk.content_sha256, durationMs,
  };
}

/** `corrupt`: "pointId/target" of images whose bytes no longer match their digests */
export function verifyOutcome(points: readonly PointManifest[], req: AgentVerifyRequest, corrupt: ReadonlySet<string>, durationMs: number): VerifyOutcome | Refusal {
  const chosen = req.point ? points.filter((p) => p.id === req.point) : points;
  if (req.point && !chosen.length) return refuse('not-found', `[verify] VM ${req.vmId} has no point ${req.point} in this repository`);
  const out = chosen.map((p) => {
    const c = chainOf(points, req.vmId, p.id);
    const chain = 'error' in c ? [p] : c.chain;
    const disks = p.disks.map((d) => {
      const problems = chain.filter((x) => corrupt.has(`${x.id}/${d.target}`)).map((x) => `[verify] ${x.id} ${d.target}: a block does not match its digest`);
      if ('error' in c) problems.push(c.error.message);
      return { target: d.target, ok: problems.length === 0, problems, bytesRead: chainBytes(chain, d.target), chain: chain.map((x) => x.id) };
    });
    return { pointId: p.id, ok: disks.every((d) => d.ok), disks };
  });
  return { vmId: req.vmId, ok: out.every((p) => p.ok), points: out, durationMs };
}

/** The points after the prune, and what the agent reports. */
export function pruneResult(points: readonly PointManifest[], req: AgentPruneRequest, durationMs: number): { points: PointManifest[]; outcome: PruneOutcome } | Refusal {
  let plan;
  try {
    plan = prunePlan(points.map((p) => ({ id: p.id, parent: p.parent })), req.remove);
  } catch (e) {
    if (e instanceof PrunePlanError) return refuse('not-found', e.message);
    throw e;
  }
  const gone = new Set(plan.remove);
  const merged = plan.merges.map((m) => {
    const p = points.find((x) => x.id === m.pointId)!;
    return { pointId: m.pointId, from: m.from, bytesWritten: p.disks.reduce((a, d) => a + d.virtual_size, 0) };
  });
  const after = points.filter((p) => !gone.has(p.id)).map((p): PointManifest => {
    if (!plan.merges.some((m) => m.pointId === p.id)) return p;
    return { ...p, type: 'full', parent: null, disks: p.disks.map((d) => ({ ...d, type: 'full', backing: null, file_size: d.virtual_size })) };
  });
  const freed = points.filter((p) => gone.has(p.id)).reduce((a, p) => a + p.disks.reduce((b, d) => b + d.file_size, 0), 0)
    - merged.reduce((a, m) => a + m.bytesWritten, 0);
  return { points: after, outcome: { vmId: req.vmId, removed: plan.remove, merged, bytesFreed: freed, durationMs } };
}

export function scanOutcome(vms: ReadonlyMap<string, readonly PointManifest[]>, req: AgentScanRequest): ScanOutcome {
  const ids = req.vmId ? [req.vmId].filter((v) => vms.has(v)) : [...vms.keys()].sort();
  return {
    vms: ids.map((vmId) => {
      const points = [...(vms.get(vmId) ?? [])];
      return { vmId, metadata: null, points, bytesUsed: points.reduce((a, p) => a + p.disks.reduce((b, d) => b + d.file_size, 0), 0), problems: [] };
    }),
  };
}

/** a qcow2 header's first fields (magic, version 3, virtual size at 24), then the digest: enough for whoever checks the format */
function qcow2Header(virtualSize: number, digest: string): Uint8Array {
  const b = new Uint8Array(104 + 64);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x514649fb);
  v.setUint32(4, 3);
  v.setBigUint64(24, BigInt(virtualSize));
  b.set(new TextEncoder().encode(digest), 104);
  return b;
}

/** An export's bytes: raw is the disk's virtual size; qcow2 a stand-in of the chain's size. Made lazily. */
export function exportStream(points: readonly PointManifest[], req: AgentExportRequest): { size: number; pointId: string; stream: ReadableStream<Uint8Array> } | Refusal {
  const c = chainOf(points, req.vmId, req.point);
  if ('error' in c) return c;
  const disk = diskOf(c.point, req.disk);
  if (isRefusal(disk)) return disk;
  const size = req.format === 'raw' ? disk.virtual_size : chainBytes(c.chain, req.disk);
  const seed = req.format === 'qcow2' ? qcow2Header(disk.virtual_size, disk.content_sha256) : new TextEncoder().encode(`${disk.content_sha256}:raw:`);
  const chunk = 1 << 20;
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(ctl) {
      if (sent >= size) { ctl.close(); return; }
      const n = Math.min(chunk, size - sent);
      const b = new Uint8Array(n);
      if (sent === 0) b.set(seed.subarray(0, Math.min(seed.length, n)));
      sent += n;
      ctl.enqueue(b);
    },
  }, { highWaterMark: 0 });
  return { size, pointId: c.point.id, stream };
}
