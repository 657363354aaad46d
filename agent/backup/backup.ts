/**
 * @layer usecase
 * One backup of one VM, in phases: read the facts (facts.ts), decide everything (plan.ts: full
 * or incremental per disk and why, the point's id and checkpoint), repair checkpoints libvirt
 * forgot or QEMU spoiled (checkpoint.ts), take every disk from one point in time
 * (point-in-time.ts: a pull-mode backup job of a running VM, qemu-nbd of a stopped one), stream
 * each disk into a qcow2 image through the repository's PointWriter, end the job, publish and
 * commit the point in the order docs/FORMAT.md gives, drop the older checkpoints. Resolves with
 * the manifest it committed.
 *
 * The watchdog is the `finally`: whatever fails (an agent error, the SSH link, an abort from
 * SIGTERM, a full repository), the libvirt job is ended, frozen filesystems are thawed, a paused
 * VM is resumed, partial files are removed and the checkpoint the run created is deleted, so no
 * half-written point is recorded and the parent stays usable.
 */
import { randomBytes } from 'node:crypto';
import { BASE_ALLOCATION, type BlockSource } from '../blocksource/port.ts';
import type { DomainDisk, Hypervisor } from '../hypervisor/port.ts';
import type { PointDisk, PointManifest, VmMetadata } from '../repository/manifest.ts';
import { PointWriter } from '../repository/point-writer.ts';
import type { Lease } from '../repository/lease.ts';
import { nextPointId } from '../repository/layout.ts';
import { claimPointId, releaseClaim, type ClaimRecord } from '../repository/point-claim.ts';
import { underLease } from '../repository/vm-work.ts';
import { Repository } from '../repository/repository.ts';
import type { BackupTarget } from '../target/port.ts';
import { AGENT_VERSION } from '../version.ts';
import { BackupCheckpoints } from './checkpoint.ts';
import { copyDisk, type CopyProgress } from './copy-disk.ts';
import type { Mode } from './decide.ts';
import { BackupError } from './errors.ts';
import { readFacts } from './facts.ts';
import { HashingSink } from './hashing-sink.ts';
import { planBackup, type BackupFacts, type BackupPlan, type DiskPlan } from './plan.ts';
import { PointInTime } from './point-in-time.ts';
import { pointDisk, pointManifest, vmMetadata } from './record.ts';
import { SumsTable } from './sums.ts';

export { BackupError } from './errors.ts';

export interface BackupDeps {
  hypervisor: Hypervisor;
  target: BackupTarget;
  /** opens an NBD export (URI) as a BlockSource asking for these meta contexts */
  openSource(uri: string, contexts: string[], signal?: AbortSignal): Promise<BlockSource>;
  /** a disk's virtual size in bytes (libvirt's domblkinfo capacity), running or stopped */
  diskSize(domain: string, disk: DomainDisk, signal?: AbortSignal): Promise<number>;
  /** per-job sockets and scratch files go under here */
  workDir: string;
  now?: () => Date;
  host?: string;
  /** whether a process of this host lives (a lease held by a dead one is taken over at once) */
  processAlive?: (pid: number) => boolean;
  version?: string;
  log?: (msg: string) => void;
}

export interface BackupRequest {
  domain: string;
  vmId?: string;
  mode?: Mode;
  disks?: string[];
  quiesce?: boolean;
  quiesceTimeoutMs?: number;
  sourcePlatform?: VmMetadata['source_platform'];
  platformMetadata?: VmMetadata['platform_metadata'];
  inFlight?: number;
  signal?: AbortSignal;
  onProgress?: (p: BackupProgress) => void;
}

export interface BackupProgress {
  disk: string;
  diskIndex: number;
  disks: number;
  bytesRead: number;
  bytesToRead: number;
  bytesWritten: number;
}

export interface BackupResult {
  pointId: string;
  vmId: string;
  type: 'full' | 'incremental';
  reason: string;
  consistency: string;
  bytesRead: number;
  bytesSent: number;
  durationMs: number;
  disks: PointDisk[];
  /** the manifest as committed to the repository */
  manifest: PointManifest;
}

function jobId(): string {
  return randomBytes(4).toString('hex');
}

/**
 * A backup holds the VM's repository lease (repository/vm-work.ts) from before it
 * reads anything until it has committed or cleaned up: another job on the VM — on this host or
 * another sharing the repository — fails 'busy' naming the holder and touches nothing. A lease
 * lost mid-run (renewals failed) aborts the backup, and the lease is checked once more right
 * before the commit. The point's id is claimed in the repository (repository/point-claim.ts)
 * before any of its files is made, so no other run ever writes under the same names.
 */
export async function runBackup(deps: BackupDeps, req: BackupRequest): Promise<BackupResult> {
  const vm = (req.vmId ?? (await deps.hypervisor.getDomain(req.domain, req.signal)).uuid).toLowerCase();
  const job = jobId();
  return underLease(deps.target, vm, { owner: `backup-${job}`, host: deps.host, processAlive: deps.processAlive, work: 'backup', signal: req.signal, log: deps.log },
    (signal, lease) => backupUnderLease(deps, { ...req, signal }, job, lease));
}

async function backupUnderLease(deps: BackupDeps, req: BackupRequest, job: string, lease: Lease): Promise<BackupResult> {
  const log = deps.log ?? (() => {});
  const now = deps.now ?? (() => new Date());
  const started = now();
  const repo = new Repository(deps.target);
  // only a dead owner's leftovers are removed: when this run took over an expired lease, its
  // holder may still be running (stopped for a while, or on a host that lost the repository) and
  // its files are left to it (it notices the lost lease and rolls back); the next run removes them
  const took = lease.replaced;
  const ownerAlive = took ? (c: ClaimRecord) => c.lease === took.owner && (took.host !== deps.host || deps.processAlive?.(took.pid) !== false) : undefined;
  const facts = await readFacts({ hypervisor: deps.hypervisor, repo, diskSize: deps.diskSize, ownerAlive, log }, req, started, req.signal);
  const pointId = await claimPointId(deps.target, facts.vmId, nextPointId(started, facts.pointIds), { job, lease: lease.holder.owner, host: deps.host ?? 'unknown' }, { now, signal: req.signal });
  try {
    return await backupPoint(deps, req, { job, lease, repo, facts, pointId });
  } finally {
    // after the commit, or with the run's files rolled back: the id is taken or free again
    await releaseClaim(deps.target, facts.vmId, pointId).catch((e: unknown) => log(`removing the claim of point ${pointId}: ${(e as Error).message} (the next run removes it)`));
  }
}

async function backupPoint(deps: BackupDeps, req: BackupRequest, c: { job: string; lease: Lease; repo: Repository; facts: BackupFacts; pointId: string }): Promise<BackupResult> {
  const log = deps.log ?? (() => {});
  const now = deps.now ?? (() => new Date());
  const hv = deps.hypervisor;
  const signal = req.signal;
  const { job, lease, repo, facts } = c;
  const started = facts.started;
  const plan = planBackup(facts, req.mode ?? 'auto', c.pointId);
  log(`point ${plan.pointId}: ${plan.type} (${plan.reason})`);
  const checkpoints = new BackupCheckpoints(hv, plan, log);
  await checkpoints.repair(signal);

  const writer = new PointWriter(repo, { vmId: plan.vmId, pointId: plan.pointId, job });
  const pit = new PointInTime(hv, plan, { jobDir: `${deps.workDir}/job-${job}`, checkpoints, log });
  try {
    // the repository's directories are made while the hypervisor works (awaited before the copy)
    const dirsMade = writer.prepare(plan.disks.map((d) => d.index), signal);
    dirsMade.catch(() => {}); // awaited below; a failure surfaces there
    await pit.begin({ quiesce: req.quiesce, quiesceTimeoutMs: req.quiesceTimeoutMs }, signal);

    const disks: PointDisk[] = [];
    for (const [i, d] of plan.disks.entries()) {
      const onProgress = (p: CopyProgress) => req.onProgress?.({ disk: d.disk.target, diskIndex: i, disks: plan.disks.length, ...p });
      disks.push(await backupDisk({ deps, repo, plan, pit, writer, dirsMade, inFlight: req.inFlight, signal, onProgress, log }, d));
    }

    // end the job (the point in time is safely copied) while the files get their final names;
    // both are done before the manifest, the commit: a failure of either records nothing
    const ended = await Promise.allSettled([
      (async () => {
        await pit.end(signal);
        if (!plan.running) await checkpoints.markStoppedImages(signal);
        log('backup job ended');
      })(),
      writer.publish(signal),
    ]);
    for (const o of ended) if (o.status === 'rejected') throw o.reason;

    // commit: the manifest, then metadata
    const finished = now();
    const manifest = pointManifest(plan, {
      disks, consistency: pit.consistency, vmState: facts.domain.state, started, finished,
      agent: { host: deps.host ?? 'unknown', version: deps.version ?? AGENT_VERSION },
    });
    const metadata = vmMetadata(plan, facts.metadata, { vmName: facts.domain.name, sourcePlatform: req.sourcePlatform, platformMetadata: req.platformMetadata, finished });
    // still ours? (a lease taken over meanwhile means another run may be cleaning up: commit nothing)
    await lease.renew(signal);
    await writer.commit(manifest, metadata, signal);
    log(`point ${plan.pointId} committed`);

    // the older sendense- checkpoints are no longer needed: only the newest is a parent
    await checkpoints.dropOld();
    log('older checkpoints dropped');
    return {
      pointId: plan.pointId, vmId: plan.vmId, type: plan.type, reason: plan.reason, consistency: pit.consistency,
      bytesRead: disks.reduce((n, d) => n + d.bytes_read, 0), bytesSent: disks.reduce((n, d) => n + d.bytes_sent, 0),
      durationMs: manifest.duration_ms, disks, manifest,
    };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new BackupError(`[backup] backup of ${plan.domain} failed, no restore point recorded: ${why}`, { cause: e });
  } finally {
    // the watchdog: never leave a job running, a VM frozen or paused, or a partial file
    const committed = writer.isCommitted;
    await pit.cleanup(committed);
    if (!committed) {
      await writer.rollback();
      await checkpoints.discard();
    }
  }
}

interface DiskRun {
  deps: BackupDeps;
  repo: Repository;
  plan: BackupPlan;
  pit: PointInTime;
  writer: PointWriter;
  dirsMade: Promise<void>;
  inFlight?: number;
  signal?: AbortSignal;
  onProgress: (p: CopyProgress) => void;
  log: (m: string) => void;
}

/** One disk: its export opened, its files created, copied into a qcow2 image with block digests. */
async function backupDisk(r: DiskRun, d: DiskPlan): Promise<PointDisk> {
  const { deps, plan, writer, signal } = r;
  const { uri, dirtyContext } = await r.pit.source(d, signal);
  await r.dirsMade;
  // independent round trips at once: the NBD export, both files on the target, the parent's sums
  let source: BlockSource | undefined;
  const opened = await Promise.allSettled([
    deps.openSource(uri, [BASE_ALLOCATION, ...(dirtyContext ? [dirtyContext] : [])], signal).then((s) => { source = s; }),
    writer.createDisk(d.index, d.decision.type, signal),
    d.parent ? r.repo.readSums(plan.vmId, d.parent, signal) : Promise.resolve(undefined),
  ]);
  try {
    for (const o of opened) if (o.status === 'rejected') throw o.reason;
    const files = (opened[1] as PromiseFulfilledResult<Awaited<ReturnType<PointWriter['createDisk']>>>).value;
    const parentSumsBuf = (opened[2] as PromiseFulfilledResult<Buffer | undefined>).value;
    const sink = new HashingSink(files.image);
    const parentSums = d.parent && parentSumsBuf ? new SumsTable(d.parent.virtual_size, d.parent.block_size, parentSumsBuf) : undefined;
    const copy = await copyDisk({
      source: source!, sink, virtualSize: d.virtualSize, dirtyContext, parentSums, signal, onProgress: r.onProgress, inFlight: r.inFlight,
      backingFile: d.parent ? PointWriter.backingName(d.parent) : undefined,
    });
    const sumsBuf = copy.sums.toBuffer();
    const names = await writer.finishDisk(d.index, sumsBuf, signal);
    r.log(`${d.disk.target}: ${d.decision.type}, read ${copy.bytesRead} bytes, image ${copy.fileSize} bytes`);
    return pointDisk(plan, d, names, copy, { bytesSent: sink.bytes + sumsBuf.length, fileSha256: sink.digests() });
  } finally {
    await source?.close().catch(() => {});
  }
}
