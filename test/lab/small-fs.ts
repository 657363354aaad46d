/**
 * A small file system to fill up: a tmpfs of a few MiB, mounted under the lab's `mounts/`
 * folder with a lab name (also its mount source), so a crashed run's mounts are found and
 * unmounted by the next mount (they live outside `runs/`, whose clean-up cannot remove a
 * mount point). `inRepoHost` links it into a repository host's root, owned by the repo user.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, rmdirSync, symlinkSync, unlinkSync } from 'node:fs';
import path from 'node:path';
import { run } from '../../agent/system/run.ts';
import { labDir, labName, ownerOf, runId } from './paths.ts';
import { isAlive } from './proc.ts';
import { REPO_USER, type RepoHost } from './sshd.ts';

export interface SmallFs {
  name: string;
  /** the mount point */
  dir: string;
  sizeBytes: number;
  unmount(): Promise<void>;
}

function mountsRoot(): string {
  return labDir('mounts');
}

/** Unmounts small file systems left by runs that are no longer alive. */
export async function cleanupStaleSmallFs(): Promise<number> {
  const root = mountsRoot();
  let n = 0;
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const mp = line.split(' ')[1];
    if (!mp || path.dirname(mp) !== root) continue;
    const owner = ownerOf(path.basename(mp));
    if (owner === undefined || owner === runId() || isAlive(Number(owner))) continue;
    await run('umount', ['-l', mp]).catch(() => {});
    try { rmdirSync(mp); } catch { /* busy or gone */ }
    n++;
  }
  return n;
}

export async function mountSmallFs(opts: { sizeMiB?: number; uid?: number; gid?: number; label?: string } = {}): Promise<SmallFs> {
  await cleanupStaleSmallFs();
  const name = labName(opts.label ?? 'smallfs');
  const dir = labDir('mounts', name);
  const sizeBytes = (opts.sizeMiB ?? 8) * 1024 * 1024;
  await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0755,uid=${opts.uid ?? 0},gid=${opts.gid ?? 0}`, name, dir]);
  return {
    name, dir, sizeBytes,
    unmount: async () => {
      await run('umount', [dir]).catch(() => run('umount', ['-l', dir]));
      try { rmdirSync(dir); } catch { /* already gone */ }
    },
  };
}

/** A small file system reachable as `<host.root>/<sub>` on a repository host, owned by the repo user. */
export async function smallFsInRepoHost(host: RepoHost, opts: { sizeMiB?: number; sub?: string } = {}): Promise<SmallFs & { sub: string }> {
  const id = (flag: string) => Number(spawnSync('id', [flag, REPO_USER], { encoding: 'utf8' }).stdout.trim());
  const fsys = await mountSmallFs({ sizeMiB: opts.sizeMiB, uid: id('-u'), gid: id('-g'), label: 'repofs' });
  const sub = opts.sub ?? 'small';
  const link = path.join(host.root, sub);
  symlinkSync(fsys.dir, link);
  return {
    ...fsys, sub,
    unmount: async () => {
      try { unlinkSync(link); } catch { /* gone */ }
      await fsys.unmount();
    },
  };
}
