/**
 * @layer usecase
 * One backup of one VM (issue 3 §5): decides full or incremental per disk, re-registers
 * checkpoints libvirt forgot, takes every disk from one point in time (pull-mode backup of a
 * running VM, qemu-nbd of a stopped one), streams each disk into a qcow2 image on the target,
 * and commits the point in the order docs/FORMAT.md gives.
 *
 * The watchdog is the `finally`: whatever fails (an agent error, the SSH link, an abort from
 * SIGTERM, a full repository), the libvirt job is ended, frozen filesystems are thawed, a paused
 * VM is resumed, partial files are removed and the checkpoint the run created is deleted, so no
 * half-written point is recorded and the parent stays usable.
 */
import { randomBytes } from 'node:crypto';
import type { BlockSource } from '../blocksource/port.ts';
import type { BackupTarget, StreamFile } from '../target/port.ts';
import type { BackupExport, DomainDisk, Hypervisor, StoppedExport } from '../hypervisor/port.ts';
import { SENDENSE_PREFIX } from '../hypervisor/port.ts';
import { Repository } from '../repository/repository.ts';
import {
  checkpointName, diskDir, imageName, nextFreePointId, partialName, pointIdTime, sumsName, vmDir,
} from '../repository/layout.ts';
import type { PointDisk, PointManifest, VmMetadata } from '../repository/manifest.ts';
import { decideDisk, summarize, type DiskDecision, type DiskFacts, type Mode } from './decide.ts';
import { copyDisk, type CopyProgress } from './copy-disk.ts';
import { HashingSink } from './hashing-sink.ts';
import { SUMS_BLOCK_SIZE, SumsTable } from './sums.ts';
import { BASE_ALLOCATION } from '../blocksource/port.ts';
import { AGENT_VERSION } from '../version.ts';

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

export class BackupError extends Error {
  override name = 'BackupError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

interface DiskWork {
  disk: DomainDisk;
  index: number;
  decision: DiskDecision;
  parent?: PointDisk;
  virtualSize: number;
  /** sendense- bitmaps on the disk before this run: dropped once the new point is committed */
  oldBitmaps: string[];
  partialImage?: string;
  partialSums?: string;
  file?: StreamFile;
  sumsFile?: StreamFile;
  result?: PointDisk;
}

function jobId(): string {
  return randomBytes(4).toString('hex');
}

export async function runBackup(deps: BackupDeps, req: BackupRequest): Promise<BackupResult> {
  const log = deps.log ?? (() => {});
  const now = deps.now ?? (() => new Date());
  const hv = deps.hypervisor;
  const signal = req.signal;
  const started = now();
  const job = jobId();
  const repo = new Repository(deps.target);

  const dom = await hv.getDomain(req.domain, signal);
  log(`domain ${dom.name} is ${dom.state}`);
  const vmId = (req.vmId ?? dom.uuid).toLowerCase();
  const running = dom.state === 'running' || dom.state === 'paused';
  if (dom.state === 'other') throw new BackupError(`[backup] domain ${dom.name} is in a state Sendense cannot back up (neither running, paused nor shut off)`);

  // independent reads at once: every libvirt or SSH round trip costs tens of milliseconds
  const [stale, domainDisks, checkpoints, meta, ids] = await Promise.all([
    running ? hv.jobActive(dom.name, signal) : Promise.resolve(false),
    hv.disks(dom.name, signal),
    running ? hv.listCheckpoints(dom.name, signal).catch(() => []) : Promise.resolve([]),
    repo.readMetadata(vmId, signal),
    repo.pointIds(vmId, signal),
  ]);
  // a job left by a killed agent would block this one: end it (the caller serializes per domain)
  const staleJob = stale ? hv.abortJob(dom.name, signal).then(() => log(`a backup job left on ${dom.name} by an earlier run was ended`)) : undefined;
  const [removed, head] = await Promise.all([
    repo.cleanupLeftovers(vmId, { pointIds: ids, signal }),
    ids.length ? repo.readPoint(vmId, ids[ids.length - 1], signal) : Promise.resolve(undefined),
  ]);
  if (removed.length) log(`removed leftovers of an interrupted run: ${removed.join(', ')}`);
  else log('no leftovers in the repository');

  let allDisks = domainDisks.filter((d) => d.device === 'disk');
  if (req.disks?.length) {
    for (const t of req.disks) if (!allDisks.some((d) => d.target === t)) throw new BackupError(`[backup] domain ${dom.name} has no disk '${t}' (it has ${allDisks.map((d) => d.target).join(', ')})`);
    allDisks = allDisks.filter((d) => req.disks!.includes(d.target));
  }
  if (!allDisks.length) throw new BackupError(`[backup] domain ${dom.name} has no disk to back up`);

  const known = new Set(checkpoints.map((c) => c.name));
  const taken = new Set(ids);
  const pointId = nextFreePointId(started, taken);
  const ckpt = checkpointName(pointId);

  // disk indexes: stable per target
  const metaDisks = [...(meta?.disks ?? [])];
  const facts = await Promise.all(allDisks.map(async (disk) => {
    const parent = head?.disks.find((d) => d.target === disk.target);
    const trackable = disk.kind === 'file' && disk.format === 'qcow2';
    const [virtualSize, bitmaps] = await Promise.all([
      deps.diskSize(dom.name, disk, signal),
      trackable ? hv.bitmaps(dom.name, disk.target, signal).catch((e: Error) => { log(`could not read the bitmaps of ${disk.target}: ${e.message}`); return undefined; }) : Promise.resolve([]),
    ]);
    return { disk, parent, virtualSize, bitmaps };
  }));
  const work: DiskWork[] = [];
  for (const { disk, parent, virtualSize, bitmaps } of facts) {
    let md = metaDisks.find((m) => m.target === disk.target);
    if (!md) {
      md = { index: metaDisks.reduce((n, m) => Math.max(n, m.index + 1), 0), target: disk.target, virtual_size: virtualSize, source_format: disk.format };
      metaDisks.push(md);
    }
    md.virtual_size = virtualSize;
    md.source_format = disk.format;
    let bitmap: DiskFacts['bitmap'] = 'missing';
    if (parent?.checkpoint && disk.kind === 'file' && disk.format === 'qcow2') {
      const bm = bitmaps?.find((b) => b.name === parent.checkpoint);
      bitmap = !bitmaps ? 'unknown' : !bm ? 'missing' : bm.inconsistent ? 'inconsistent' : 'present';
    }
    const decision = decideDisk(req.mode ?? 'auto', {
      target: disk.target, kind: disk.kind, format: disk.format, virtualSize,
      parent: parent && head ? { pointId: head.id, checkpoint: parent.checkpoint, virtualSize: parent.virtual_size } : undefined,
      bitmap, libvirtKnowsCheckpoint: Boolean(parent?.checkpoint && known.has(parent.checkpoint)),
    });
    const oldBitmaps = (bitmaps ?? []).map((b) => b.name).filter((n) => n.startsWith(SENDENSE_PREFIX) && n !== ckpt);
    work.push({ disk, index: md.index, decision, parent: decision.type === 'incremental' ? parent : undefined, virtualSize, oldBitmaps });
  }
  await staleJob;
  const summary = summarize(work.map((w) => w.decision));
  log(`point ${pointId}: ${summary.type} (${summary.reason})`);

  // repair the checkpoint records before the job
  if (head) {
    for (const w of work) {
      const parent = head.disks.find((d) => d.target === w.disk.target);
      if (w.decision.dropInconsistent && parent?.checkpoint) {
        log(`removing inconsistent bitmap ${parent.checkpoint} of ${w.disk.target}`);
        await hv.deleteCheckpointMetadata(dom.name, parent.checkpoint, signal).catch(() => {});
        await hv.removeBitmap(dom.name, w.disk.target, parent.checkpoint, signal).catch((e) => log(`could not remove bitmap: ${(e as Error).message}`));
      }
    }
    const redefine = work.filter((w) => w.decision.redefine);
    if (redefine.length && running) {
      const name = redefine[0].parent!.checkpoint!;
      const disks = head.disks.filter((d) => d.checkpoint === name && work.some((w) => w.disk.target === d.target && w.decision.type === 'incremental'))
        .map((d) => ({ target: d.target, bitmap: name }));
      log(`redefining checkpoint ${name} in libvirt from the repository record`);
      await hv.redefineCheckpoint(dom.name, { name, creationTime: Math.floor(pointIdTime(head.id).getTime() / 1000), disks }, signal);
    }
  }

  const jobDir = `${deps.workDir}/job-${job}`;
  const tracked = work.filter((w) => w.decision.track).map((w) => w.disk.target);
  let exported: BackupExport | undefined;
  const stopped: StoppedExport[] = [];
  const sources: BlockSource[] = [];
  let consistency = running ? 'crash-consistent: no guest agent freeze requested' : 'VM shut off: consistent';
  let frozen = false;
  let checkpointCreated = false;
  const offlineBitmaps: { image: string; name: string }[] = [];
  let committed = false;
  try {
    // the repository's directories are made while the hypervisor works (awaited before the copy)
    const dirsMade = Promise.all(work.map((w) => deps.target.mkdirp(diskDir(vmId, w.index), signal)));
    dirsMade.catch(() => {}); // awaited below; a failure surfaces there
    // ---- the point in time
    if (running) {
      if (req.quiesce) {
        const fr = await hv.guestAgentFreeze(dom.name, req.quiesceTimeoutMs ?? 10_000);
        if (fr.ok) { frozen = true; consistency = `application-consistent: guest agent froze ${fr.frozen} filesystem(s)`; }
        else consistency = `crash-consistent: guest agent ${fr.reason} (${fr.message})`;
      }
      try {
        exported = await hv.beginBackup(dom.name, {
          disks: work.map((w) => ({ target: w.disk.target, incrementalFrom: w.decision.type === 'incremental' ? w.parent!.checkpoint! : undefined })),
          checkpoint: tracked.length ? { name: ckpt, disks: tracked } : undefined,
          socketPath: `${jobDir}/nbd.sock`,
          scratchDir: `${jobDir}/scratch`,
        }, signal);
        checkpointCreated = tracked.length > 0;
        log(`backup job begun: ${exported.exports.map((x) => x.uri).join(' ')}`);
      } finally {
        if (frozen) {
          const th = await hv.guestAgentThaw(dom.name, 10_000);
          frozen = false;
          if (!th.ok) log(`guest agent thaw: ${th.message}`);
        }
      }
    }

    // ---- copy every disk
    let bytesRead = 0;
    for (const [i, w] of work.entries()) {
      let uri: string;
      let dirtyContext: string | undefined;
      if (exported) {
        const ex = exported.exports.find((e) => e.disk === w.disk.target);
        if (!ex) throw new BackupError(`[backup] the backup job exported no '${w.disk.target}'`);
        uri = ex.uri;
        dirtyContext = w.decision.type === 'incremental' ? ex.bitmapContext : undefined;
        if (w.decision.type === 'incremental' && !dirtyContext) throw new BackupError(`[backup] the incremental export of ${w.disk.target} offers no dirty bitmap`);
      } else {
        const se = await hv.exportStopped(w.disk.source, {
          socketPath: `${jobDir}/${w.disk.target}.sock`,
          bitmap: w.decision.type === 'incremental' ? w.parent!.checkpoint! : undefined,
          format: w.disk.format || undefined,
        }, signal);
        stopped.push(se);
        uri = se.uri;
        dirtyContext = se.bitmapContext;
      }
      const type = w.decision.type === 'full' ? 'full' : 'incr';
      const finalImage = imageName(type, pointId);
      w.partialImage = `${diskDir(vmId, w.index)}/${partialName(job, finalImage)}`;
      w.partialSums = `${diskDir(vmId, w.index)}/${partialName(job, sumsName(type, pointId))}`;
      await dirsMade;
      // independent round trips at once: the NBD export, both files on the target, the parent's sums
      const opened = await Promise.allSettled([
        deps.openSource(uri, [BASE_ALLOCATION, ...(dirtyContext ? [dirtyContext] : [])], signal).then((src) => { sources.push(src); return src; }),
        deps.target.create(w.partialImage, signal).then((f) => { w.file = f; }),
        deps.target.create(w.partialSums, signal).then((f) => { w.sumsFile = f; }),
        w.parent ? repo.readSums(vmId, w.parent, signal) : Promise.resolve(undefined),
      ]);
      for (const o of opened) if (o.status === 'rejected') throw o.reason;
      const source = (opened[0] as PromiseFulfilledResult<BlockSource>).value;
      const parentSumsBuf = (opened[3] as PromiseFulfilledResult<Buffer | undefined>).value;
      const sink = new HashingSink(w.file!);
      const parentSums = w.parent && parentSumsBuf ? new SumsTable(w.parent.virtual_size, w.parent.block_size, parentSumsBuf) : undefined;
      const onProgress = (p: CopyProgress) => req.onProgress?.({ disk: w.disk.target, diskIndex: i, disks: work.length, ...p });
      const r = await copyDisk({
        source, sink, virtualSize: w.virtualSize, dirtyContext, parentSums, signal, onProgress, inFlight: req.inFlight,
        backingFile: w.parent ? w.parent.image.slice(w.parent.image.lastIndexOf('/') + 1) : undefined,
      });
      const sumsBuf = r.sums.toBuffer();
      const [image, sums] = [w.file!, w.sumsFile!];
      await Promise.all([image.commit(signal), sums.append(sumsBuf, signal).then(() => sums.commit(signal))]);
      w.file = undefined;
      w.sumsFile = undefined;
      bytesRead += r.bytesRead;
      const diskRel = `disk-${w.index}`;
      w.result = {
        index: w.index, target: w.disk.target, type: w.decision.type, reason: w.decision.reason,
        image: `${diskRel}/${finalImage}`, backing: w.parent ? w.parent.image : null,
        checkpoint: w.decision.track ? ckpt : null, virtual_size: w.virtualSize, file_size: r.fileSize,
        bytes_read: r.bytesRead, bytes_written: r.fileSize, bytes_sent: sink.bytes + sumsBuf.length,
        data_clusters: r.dataClusters, zero_clusters: r.zeroClusters,
        sums: `${diskRel}/${sumsName(type, pointId)}`, block_size: SUMS_BLOCK_SIZE,
        content_sha256: r.sums.contentSha256(), file_sha256: sink.digests(),
      };
      await source.close();
      log(`${w.disk.target}: ${w.decision.type}, read ${r.bytesRead} bytes, image ${r.fileSize} bytes`);
    }

    // ---- end the job (the point in time is safely copied) while the partials get their names;
    // both are done before the manifest, the commit: a failure of either records nothing
    const endJob = async () => {
      if (exported) await hv.abortJob(dom.name, signal);
      exported = undefined;
      for (const s of stopped.splice(0)) await s.stop();
      if (!running) {
        // the new bitmap of a stopped VM: nothing has changed since the copy
        for (const w of work.filter((x) => x.decision.track)) {
          await hv.addBitmapOffline(w.disk.source, ckpt, signal);
          offlineBitmaps.push({ image: w.disk.source, name: ckpt });
        }
      }
      log('backup job ended');
    };
    const renamed = work.flatMap((w) => [
      deps.target.rename(w.partialImage!, `${vmDir(vmId)}/${w.result!.image}`, signal),
      deps.target.rename(w.partialSums!, `${vmDir(vmId)}/${w.result!.sums}`, signal),
    ]);
    const ended = await Promise.allSettled([endJob(), ...renamed]);
    for (const o of ended) if (o.status === 'rejected') throw o.reason;

    // ---- commit: the manifest (the commit), then metadata
    const finished = now();
    const disks = work.map((w) => w.result!);
    const manifest: PointManifest = {
      format: 'sendense-point', version: 1, id: pointId, vm_uuid: vmId, type: summary.type, reason: summary.reason,
      parent: summary.type === 'incremental' ? head!.id : (head?.id ?? null),
      created_at: pointIdTime(pointId).toISOString(), started_at: started.toISOString(), finished_at: finished.toISOString(),
      duration_ms: finished.getTime() - started.getTime(), consistency, vm_state: dom.state, disks,
      agent: { host: deps.host ?? 'unknown', version: deps.version ?? AGENT_VERSION },
    };
    const newMeta: VmMetadata = {
      format: 'sendense-repository-vm', version: 1, vm_uuid: vmId, vm_name: dom.name,
      source_platform: req.sourcePlatform ?? meta?.source_platform ?? 'kvm',
      platform_metadata: { ...(meta?.platform_metadata ?? {}), ...(req.platformMetadata ?? {}) },
      disks: metaDisks.sort((a, b) => a.index - b.index), updated_at: finished.toISOString(),
    };
    await repo.commitPoint(manifest, newMeta, signal);
    committed = true;
    log(`point ${pointId} committed`);

    // ---- the older sendense- checkpoints are no longer needed: only the newest is a parent
    await dropOldCheckpoints(deps, dom.name, running, work, known, ckpt, log);
    log('older checkpoints dropped');
    const bytesSent = disks.reduce((n, d) => n + d.bytes_sent, 0);
    return {
      pointId, vmId, type: summary.type, reason: summary.reason, consistency, bytesRead, bytesSent,
      durationMs: manifest.duration_ms, disks, manifest,
    };
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new BackupError(`[backup] backup of ${dom.name} failed, no restore point recorded: ${why}`, { cause: e });
  } finally {
    // the watchdog: never leave a job running, a VM frozen or paused, or a partial file
    for (const s of sources) await s.close().catch(() => {});
    if (frozen) await hv.guestAgentThaw(dom.name, 10_000).catch(() => {});
    // on success the job was ended before the commit; on any failure end it now, whatever state it is in
    if (running && !committed) {
      await hv.abortJob(dom.name).catch((e) => log(`ending the backup job failed: ${(e as Error).message}`));
      if (dom.state === 'running' && (await hv.isPaused(dom.name).catch(() => false))) {
        log(`${dom.name} was left paused: resuming it`);
        await hv.resume(dom.name).catch(() => {});
      }
    }
    for (const s of stopped) await s.stop().catch(() => {});
    if (!committed) {
      for (const w of work) {
        for (const f of [w.file, w.sumsFile]) if (f) await f.abort().catch(() => {});
        // a failure after the renames: the new point's files under their final names (its id is new)
        const finals = w.result ? [`${vmDir(vmId)}/${w.result.image}`, `${vmDir(vmId)}/${w.result.sums}`] : [];
        for (const p of [w.partialImage, w.partialSums, ...finals]) if (p) await deps.target.remove(p).catch(() => {});
      }
      if (checkpointCreated) {
        await hv.deleteCheckpointMetadata(dom.name, ckpt).catch(() => {});
        for (const t of tracked) await hv.removeBitmap(dom.name, t, ckpt).catch(() => {});
      }
      for (const b of offlineBitmaps) await hv.removeBitmapOffline(b.image, b.name).catch(() => {});
    }
  }
}

async function dropOldCheckpoints(deps: BackupDeps, domain: string, running: boolean, work: DiskWork[], known: ReadonlySet<string>, keep: string, log: (m: string) => void): Promise<void> {
  const hv = deps.hypervisor;
  // metadata first (a bitmap a checkpoint still names cannot be removed), then the bitmaps, disks in parallel
  await Promise.all([...known].filter((n) => n.startsWith(SENDENSE_PREFIX) && n !== keep)
    .map((n) => hv.deleteCheckpointMetadata(domain, n).catch((e) => log(`could not forget checkpoint ${n}: ${(e as Error).message}`))));
  await Promise.all(work.filter((x) => x.decision.track).map(async (w) => {
    for (const name of w.oldBitmaps) {
      if (name === keep) continue;
      await (running ? hv.removeBitmap(domain, w.disk.target, name) : hv.removeBitmapOffline(w.disk.source, name))
        .catch((e) => log(`could not remove old bitmap ${name}: ${(e as Error).message}`));
    }
  }));
}
