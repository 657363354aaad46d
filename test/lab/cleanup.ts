/**
 * Clean-up that survives a crashed run: removes lab VMs, sshd processes, network namespaces and
 * run directories whose owning run (the pid in the name) is no longer alive. A live run's
 * resources are never touched, so two runs on one machine do not hurt each other.
 */
import { readdirSync, rmSync, existsSync } from 'node:fs';
import path from 'node:path';
import { run } from '../../agent/system/run.ts';
import { LAB_ROOT, ownerOf } from './paths.ts';
import { isAlive, killAndWait, readPidFile } from './proc.ts';
import { log } from './log.ts';
import { removeStaleNsHostCgroups } from './nshost.ts';

let finishing: string | undefined;

function deadRun(owner: string, keepRun?: string): boolean {
  if (owner === keepRun) return false;
  return owner === finishing || !isAlive(Number(owner));
}

function stale(name: string, keepRun?: string): boolean {
  const owner = ownerOf(name);
  return owner !== undefined && deadRun(owner, keepRun);
}

/** Removes everything of run `id` (at the end of that run) and of dead runs. */
export async function cleanupRun(id: string): Promise<number> {
  finishing = id;
  try { return await cleanupStale(undefined); } finally { finishing = undefined; }
}

export async function cleanupStale(keepRun?: string): Promise<number> {
  let n = 0;
  // VMs
  const names = (await run('virsh', ['-q', '-c', 'qemu:///system', 'list', '--all', '--name']).catch(() => ({ stdout: '' }))).stdout
    .split('\n').map((s) => s.trim()).filter(Boolean);
  for (const d of names.filter((x) => stale(x, keepRun))) {
    await run('virsh', ['-c', 'qemu:///system', 'domjobabort', d]).catch(() => {});
    await run('virsh', ['-c', 'qemu:///system', 'destroy', d]).catch(() => {});
    await run('virsh', ['-c', 'qemu:///system', 'undefine', d, '--checkpoints-metadata']).catch(() => {});
    n++;
  }
  // processes with pid files in stale run dirs (sshd, qemu-nbd, agents), then the dirs
  const runs = path.join(LAB_ROOT, 'runs');
  if (existsSync(runs)) {
    for (const r of readdirSync(runs)) {
      if (!deadRun(r, keepRun)) continue;
      const stack = [path.join(runs, r)];
      while (stack.length) {
        const dir = stack.pop()!;
        for (const e of readdirSync(dir, { withFileTypes: true })) {
          const p = path.join(dir, e.name);
          if (e.isDirectory()) stack.push(p);
          else if (e.name.endsWith('.pid')) {
            const pid = readPidFile(p);
            if (pid && isAlive(pid)) { await killAndWait(pid); n++; }
          }
        }
      }
      rmSync(path.join(runs, r), { recursive: true, force: true });
      n++;
    }
  }
  // network namespaces
  const ns = (await run('ip', ['netns', 'list']).catch(() => ({ stdout: '' }))).stdout
    .split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
  for (const x of ns.filter((y) => stale(y, keepRun))) {
    await run('ip', ['netns', 'pids', x]).then(async (r) => {
      for (const pid of r.stdout.split('\n').filter(Boolean)) await killAndWait(Number(pid));
    }).catch(() => {});
    await run('ip', ['netns', 'delete', x]).catch(() => {});
    n++;
  }
  // cgroups of namespace KVM hosts (their processes died with the PID namespace above)
  n += removeStaleNsHostCgroups((name) => stale(name, keepRun));
  if (n) log(`removed ${n} stale lab resources of crashed runs`);
  return n;
}
