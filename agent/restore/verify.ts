/**
 * @layer usecase
 * Verifies restore points: for every disk, the chain's manifests and files exist and
 * link up, every image's file digests match, its qcow2 structure is sound (refcounts, tables; our
 * own checker, so the repository host needs nothing but sshd), and the guest view of the chain
 * matches the point's block digests. Problems are collected, not thrown: the report says them all.
 */
import { createHash } from 'node:crypto';
import type { BackupTarget } from '../target/port.ts';
import { Repository } from '../repository/repository.ts';
import { vmDir } from '../repository/layout.ts';
import type { PointDisk } from '../repository/manifest.ts';
import { targetAccess } from '../repository/target-access.ts';
import { openPointChain, readVerified } from './chain-read.ts';
import type { RandomAccess } from '../qcow2/port.ts';

export interface VerifyDeps {
  target: BackupTarget;
  /** structural check of one qcow2 image: the problems found (none = sound) */
  checkImage?: (ra: RandomAccess, signal?: AbortSignal) => Promise<string[]>;
}

export interface DiskReport {
  target: string; ok: boolean; problems: string[]; bytesRead: number; chain: string[];
  /** when asked for (restore-test.ts): the disk restored to a scratch file and compared end to end */
  restoreTest?: { ok: boolean; problems: string[]; bytesChecked: number; durationMs: number };
}
export interface PointReport { pointId: string; ok: boolean; disks: DiskReport[] }
export interface VerifyReport { vm: string; ok: boolean; points: PointReport[]; durationMs: number }

const READ_CHUNK = 8 << 20;

/** sha256 of an image's first cluster and of the rest, read sequentially in big chunks. */
export async function fileDigests(target: BackupTarget, path: string, headerSize = 65536, signal?: AbortSignal): Promise<{ header: string; body: string; size: number }> {
  const ra = await targetAccess(target, path, signal);
  const header = createHash('sha256');
  const body = createHash('sha256');
  header.update(await ra.read(0, Math.min(headerSize, ra.size), signal));
  for (let off = headerSize; off < ra.size; off += READ_CHUNK) {
    body.update(await ra.read(off, Math.min(READ_CHUNK, ra.size - off), signal));
  }
  return { header: header.digest('hex'), body: body.digest('hex'), size: ra.size };
}

async function verifyImage(deps: VerifyDeps, vm: string, d: PointDisk, checked: Map<string, string[]>, signal?: AbortSignal): Promise<string[]> {
  const cached = checked.get(d.image);
  if (cached) return cached;
  const problems: string[] = [];
  const path = `${vmDir(vm)}/${d.image}`;
  try {
    const fd = await fileDigests(deps.target, path, 65536, signal);
    if (fd.size !== d.file_size) problems.push(`${d.image}: ${fd.size} bytes, the manifest says ${d.file_size}`);
    if (fd.header !== d.file_sha256.header) problems.push(`${d.image}: header digest differs from the manifest (the qcow2 header was changed or damaged)`);
    if (fd.body !== d.file_sha256.body) problems.push(`${d.image}: file digest differs from the manifest (the image was changed or damaged)`);
    if (deps.checkImage) {
      for (const p of await deps.checkImage(await targetAccess(deps.target, path, signal), signal)) problems.push(`${d.image}: ${p}`);
    }
  } catch (e) {
    problems.push(`${d.image}: ${(e as Error).message}`);
  }
  checked.set(d.image, problems);
  return problems;
}

export async function verifyPoints(deps: VerifyDeps, vm: string, opts: { point?: string; signal?: AbortSignal } = {}): Promise<VerifyReport> {
  const t0 = Date.now();
  const repo = new Repository(deps.target);
  const ids = opts.point ? [opts.point] : await repo.pointIds(vm, opts.signal);
  if (!ids.length) throw new Error(`[verify] VM ${vm} has no restore point in ${deps.target.url}`);
  const checked = new Map<string, string[]>();
  const points: PointReport[] = [];
  for (const id of ids) {
    const p = await repo.readPoint(vm, id, opts.signal);
    const disks: DiskReport[] = [];
    for (const d of p.disks) {
      const problems: string[] = [];
      let bytesRead = 0;
      let chain: string[] = [];
      try {
        const links = await repo.chain(vm, id, d.target, opts.signal);
        chain = links.map((l) => l.disk.image);
        for (const l of links) problems.push(...(await verifyImage(deps, vm, l.disk, checked, opts.signal)));
        if (!problems.length) {
          const c = await openPointChain(repo, vm, id, d.target, opts.signal);
          bytesRead = await readVerified(c, undefined, { signal: opts.signal });
        }
      } catch (e) {
        problems.push((e as Error).message);
      }
      disks.push({ target: d.target, ok: problems.length === 0, problems, bytesRead, chain });
    }
    points.push({ pointId: id, ok: disks.every((x) => x.ok), disks });
  }
  return { vm, ok: points.every((x) => x.ok), points, durationMs: Date.now() - t0 };
}
