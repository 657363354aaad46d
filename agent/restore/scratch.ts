/**
 * @layer usecase
 * Scratch files on the agent host (its work dir): the qcow2 built for a download or an upload
 * (`image-…`) and the raw file of a restore test (`restore-test-…`). Names are made here only:
 * every part is checked to be a plain name (no '/', no '..'), so a name taken from a request or a
 * repository can never put a root-written file outside the scratch dir. `removeScratchLeftovers`
 * is the daemon's start-up clean-up: what a crash left (no job runs before it) is deleted.
 * `ensureScratchSpace` is checked before a scratch image is made: the file system of the scratch
 * dir must hold what the image can grow to (every layer's data, never more than the disk) plus a
 * reserve, else DiskRestoreError naming the dir, the bytes needed and the bytes free.
 */
import path from 'node:path';
import type { FreeSpace, LocalFiles } from './port.ts';

export type { FreeSpace } from './port.ts';
import { DiskRestoreError } from './restore.ts';

/** kept free beyond the image's own need (qcow2 metadata, the journal, other writers) */
export const SCRATCH_RESERVE = 64 * 1024 * 1024;

/** What a scratch image of one point's disk can take: the data of every layer of its chain, at most the disk's size. */
export function scratchNeed(links: readonly { disk: { file_size: number; virtual_size: number } }[]): number {
  const top = links[links.length - 1];
  const data = links.reduce((n, l) => n + l.disk.file_size, 0);
  return Math.min(data, top?.disk.virtual_size ?? data) + SCRATCH_RESERVE;
}

/** Too little space for a scratch image: the job fails with it (a host's problem, not the point's). */
export class ScratchSpaceError extends DiskRestoreError {
  override name = 'ScratchSpaceError';
}

/** Throws ScratchSpaceError when `dir` has less than `need` bytes free. */
export async function ensureScratchSpace(free: FreeSpace, dir: string, need: number, what: string): Promise<void> {
  const have = await free(dir);
  if (have < need) {
    const mib = (n: number) => `${(n / 1048576).toFixed(0)} MiB`;
    throw new ScratchSpaceError(`[restore] not enough free space for ${what} in ${dir}: it needs up to ${mib(need)} (the chain's data plus ${mib(SCRATCH_RESERVE)}), ${mib(have)} are free; free space there or point the agent's workDir elsewhere`);
  }
}

export const SCRATCH_PREFIXES = ['image-', 'restore-test-'] as const;
export type ScratchKind = 'image' | 'restore-test';

const PART = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** `<dir>/<kind>-<part>-…-<8 random hex>.<ext>`; throws DiskRestoreError for a part that is not a plain name. */
export function scratchPath(dir: string, kind: ScratchKind, parts: readonly string[], ext: 'qcow2' | 'raw'): string {
  for (const p of parts) {
    if (!PART.test(p) || p.includes('..')) {
      throw new DiskRestoreError(`[restore] ${JSON.stringify(p)} cannot be part of a scratch file name: letters, digits, '.', '_' and '-' only`);
    }
  }
  return path.join(dir, `${[kind, ...parts, crypto.randomUUID().slice(0, 8)].join('-')}.${ext}`);
}

export function isScratchName(name: string): boolean {
  return SCRATCH_PREFIXES.some((p) => name.startsWith(p)) && (/\.(qcow2|raw)(\.sendense-partial-[0-9a-f]+)?$/.test(name));
}

/** Removes every scratch file (and its partial) in `dir`; returns the names removed. Call it only when no job runs. */
export async function removeScratchLeftovers(files: LocalFiles, dir: string): Promise<string[]> {
  const names = await files.list(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return [];
    throw e;
  });
  const gone: string[] = [];
  for (const n of names.filter(isScratchName).sort()) {
    const st = await files.stat(path.join(dir, n));
    if (st?.kind !== 'file') continue;
    await files.remove(path.join(dir, n));
    gone.push(n);
  }
  if (gone.length) await files.syncDir(dir);
  return gone;
}
