/**
 * @layer usecase
 * Scratch files on the agent host (its work dir): the qcow2 built for a download or an upload
 * (`image-…`) and the raw file of a restore test (`restore-test-…`). Names are made here only:
 * every part is checked to be a plain name (no '/', no '..'), so a name taken from a request or a
 * repository can never put a root-written file outside the scratch dir. `removeScratchLeftovers`
 * is the daemon's start-up clean-up: what a crash left (no job runs before it) is deleted.
 */
import path from 'node:path';
import type { LocalFiles } from './port.ts';
import { DiskRestoreError } from './restore.ts';

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
