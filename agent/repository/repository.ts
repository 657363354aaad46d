/**
 * @layer usecase
 * A Sendense repository on any BackupTarget (docs/FORMAT.md): reading VMs, points and chains,
 * committing a point in the documented write order, and removing leftovers of interrupted runs.
 */
import type { BackupTarget } from '../target/port.ts';
import { TargetError } from '../target/port.ts';
import {
  claimPath, diskDir, isPointId, metadataPath, parseClaimName, parseDiskDir, parseImageName, pointPath, pointsDir, vmDir,
} from './layout.ts';
import { readClaim, type ClaimRecord } from './point-claim.ts';
import { parseManifest, parseMetadata, type PointDisk, type PointManifest, type VmMetadata } from './manifest.ts';
import { recoverRetention } from './retention-recover.ts';

export class RepositoryError extends Error {
  override name = 'RepositoryError';
  constructor(readonly code: 'not-found' | 'damaged' | 'invalid', message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

async function readOptional(target: BackupTarget, path: string, signal?: AbortSignal): Promise<string | undefined> {
  try {
    return (await target.readFile(path, signal)).toString('utf8');
  } catch (e) {
    if (e instanceof TargetError && e.code === 'not-found') return undefined;
    throw e;
  }
}

export class Repository {
  constructor(readonly target: BackupTarget) {}

  async listVms(signal?: AbortSignal): Promise<string[]> {
    const entries = await this.target.list('', signal);
    const out: string[] = [];
    for (const e of entries) {
      if (!e.isDirectory || e.name.startsWith('.')) continue;
      if (await this.target.stat(metadataPath(e.name), signal)) out.push(e.name);
    }
    return out.sort();
  }

  async readMetadata(vm: string, signal?: AbortSignal): Promise<VmMetadata | undefined> {
    const text = await readOptional(this.target, metadataPath(vm), signal);
    return text === undefined ? undefined : parseMetadata(text, `${this.target.url}/${metadataPath(vm)}`);
  }

  async writeMetadata(meta: VmMetadata, signal?: AbortSignal): Promise<void> {
    await this.target.writeFileAtomic(metadataPath(meta.vm_uuid), `${JSON.stringify(meta, null, 2)}\n`, signal);
  }

  async pointIds(vm: string, signal?: AbortSignal): Promise<string[]> {
    const entries = await this.target.list(pointsDir(vm), signal);
    return entries.map((e) => e.name).filter((n) => n.endsWith('.json') && isPointId(n.slice(0, -5))).map((n) => n.slice(0, -5)).sort();
  }

  async readPoint(vm: string, id: string, signal?: AbortSignal): Promise<PointManifest> {
    if (!isPointId(id)) throw new RepositoryError('invalid', `[repository] '${id}' is not a point id (YYYYMMDD-HHMMSS)`);
    const text = await readOptional(this.target, pointPath(vm, id), signal);
    if (text === undefined) throw new RepositoryError('not-found', `[repository] no restore point ${id} of VM ${vm} in ${this.target.url}; 'sendense-agent list' shows the points`);
    return parseManifest(text, `${this.target.url}/${pointPath(vm, id)}`);
  }

  async points(vm: string, signal?: AbortSignal): Promise<PointManifest[]> {
    const ids = await this.pointIds(vm, signal);
    return Promise.all(ids.map((id) => this.readPoint(vm, id, signal)));
  }

  /** The newest point, the parent of the next incremental. */
  async head(vm: string, signal?: AbortSignal): Promise<PointManifest | undefined> {
    const ids = await this.pointIds(vm, signal);
    return ids.length ? this.readPoint(vm, ids[ids.length - 1], signal) : undefined;
  }

  /**
   * The chain of images for one disk of a point, base first: follows `parent` while the disk is
   * incremental. Throws 'damaged' when a parent manifest or the disk in it is missing.
   */
  async chain(vm: string, pointId: string, target: string, signal?: AbortSignal): Promise<{ point: PointManifest; disk: PointDisk }[]> {
    const out: { point: PointManifest; disk: PointDisk }[] = [];
    let id: string | null = pointId;
    const seen = new Set<string>();
    while (id) {
      if (seen.has(id)) throw new RepositoryError('damaged', `[repository] VM ${vm}: point ${id} is its own ancestor`);
      seen.add(id);
      let p: PointManifest;
      try {
        p = await this.readPoint(vm, id, signal);
      } catch (e) {
        if (e instanceof RepositoryError && e.code === 'not-found' && out.length) {
          throw new RepositoryError('damaged', `[repository] VM ${vm}: point ${out[0].point.id} needs parent ${id}, whose manifest is missing: the chain is broken`, { cause: e });
        }
        throw e;
      }
      const d = p.disks.find((x) => x.target === target || String(x.index) === target);
      if (!d) {
        if (!out.length) throw new RepositoryError('not-found', `[repository] point ${id} of VM ${vm} has no disk '${target}' (it has ${p.disks.map((x) => x.target).join(', ')})`);
        throw new RepositoryError('damaged', `[repository] VM ${vm}: point ${out[0].point.id} disk ${target} needs point ${id}, which lacks that disk`);
      }
      out.unshift({ point: p, disk: d });
      if (d.type === 'full') break;
      if (!d.backing) throw new RepositoryError('damaged', `[repository] point ${id} disk ${target} is incremental but names no backing image`);
      id = p.parent;
      if (!id) throw new RepositoryError('damaged', `[repository] point ${p.id} disk ${target} is incremental but the point has no parent`);
    }
    return out;
  }

  /** Sums of a point's disk (1 MiB block digests of the disk's content at that point). */
  async readSums(vm: string, disk: PointDisk, signal?: AbortSignal): Promise<Buffer> {
    return this.target.readFile(`${vmDir(vm)}/${disk.sums}`, signal);
  }

  /**
   * Commits a point whose images and sums are already under their final names (write order
   * steps 4 and 5): the manifest, then metadata.json.
   */
  async commitPoint(manifest: PointManifest, meta: VmMetadata, signal?: AbortSignal): Promise<void> {
    await this.target.mkdirp(pointsDir(manifest.vm_uuid), signal);
    await this.target.writeFileAtomic(pointPath(manifest.vm_uuid, manifest.id), `${JSON.stringify(manifest, null, 2)}\n`, signal);
    await this.writeMetadata(meta, signal);
  }

  /**
   * Removes what an interrupted run left (write order step 1): `.partial-*` files, images or
   * sums that no manifest names, and point id claims (`points/.claim-<id>`, point-claim.ts) of
   * runs that are gone or whose point is committed. Only a dead owner's leftovers go: the files of
   * a run whose claim `ownerAlive` says lives (a process of this host still running: its lease
   * may have been taken over while it was stopped) are kept — its partials, its claim and the
   * images of its point —, and so are `.partial-<job>-` files of the `keepJobs`.
   * First of all, a prune a crash cut short is finished or undone (docs/FORMAT.md, "Retention"):
   * its partial files are not leftovers until then.
   */
  async cleanupLeftovers(vm: string, opts: { keepJobs?: readonly string[]; pointIds?: readonly string[]; ownerAlive?: (c: ClaimRecord) => boolean; signal?: AbortSignal } = {}): Promise<string[]> {
    const root = vmDir(vm);
    const entries = await this.target.list(root, opts.signal);
    const removed = entries.some((e) => e.isDirectory && e.name === 'retention') ? await recoverRetention(this.target, vm, { signal: opts.signal }) : [];
    if (!entries.length) return removed;
    // an image or sums file belongs to the point its name carries; without that manifest it is an orphan
    // (a recovered prune may have removed points since the caller listed them)
    const ids = new Set(opts.pointIds && !removed.length ? opts.pointIds : await this.pointIds(vm, opts.signal));
    const lists = await Promise.all(entries.map(async (e) => {
      const n = e.isDirectory ? parseDiskDir(e.name) : undefined;
      if (n !== undefined) return { dir: diskDir(vm, n), files: await this.target.list(diskDir(vm, n), opts.signal) };
      if (e.isDirectory && e.name === 'points') return { dir: pointsDir(vm), files: await this.target.list(pointsDir(vm), opts.signal) };
      return undefined;
    }));
    // the claims first: whose files are a live run's
    const keepJobs = new Set(opts.keepJobs ?? []);
    const livePoints = new Set<string>();
    const claims = lists.find((l) => l?.dir === pointsDir(vm))?.files.map((f) => parseClaimName(f.name)).filter((id): id is string => id !== undefined) ?? [];
    for (const id of claims) {
      const c = await readClaim(this.target, vm, id, opts.signal);
      if (c === undefined) continue;
      if (c !== 'garbled' && !ids.has(id) && opts.ownerAlive?.(c)) {
        keepJobs.add(c.job);
        livePoints.add(id);
        continue;
      }
      await this.target.remove(claimPath(vm, id), opts.signal);
      removed.push(claimPath(vm, id));
    }
    for (const l of lists) {
      if (!l) continue;
      for (const f of l.files) {
        if (parseClaimName(f.name) !== undefined) continue;
        const keep = [...keepJobs].some((j) => f.name.startsWith(`.partial-${j}-`));
        const img = parseImageName(f.name);
        const orphan = img !== undefined && !ids.has(img.id) && !livePoints.has(img.id);
        const temp = f.name.startsWith('.') && !keep;
        if (temp || orphan) {
          await this.target.remove(`${l.dir}/${f.name}`, opts.signal);
          removed.push(`${l.dir}/${f.name}`);
        }
      }
    }
    return removed;
  }
}
