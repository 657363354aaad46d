/**
 * CPU time that does not depend on the machine's load: user+sys seconds of a process tree, read
 * from /proc (utime, stime of each live process, plus cutime, cstime of what it has reaped), and
 * of a shell pipeline through bash's `time` (its children's user+sys). Wall-clock figures on a
 * shared machine are noise; CPU-s per GiB is not.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';

const HZ = 100; // USER_HZ on Linux

function statOf(pid: number): number[] | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ').map(Number);
  } catch {
    return undefined;
  }
}

/** pid → parent pid of every process */
function parents(): Map<number, number> {
  const m = new Map<number, number>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const st = statOf(Number(e));
    if (st) m.set(Number(e), st[1]);
  }
  return m;
}

/** user+sys seconds of `root` and all its live descendants, plus what they reaped. */
export function treeCpuSeconds(root = process.pid): number {
  const pp = parents();
  const tree = [root];
  for (let i = 0; i < tree.length; i++) for (const [p, parent] of pp) if (parent === tree[i]) tree.push(p);
  let ticks = 0;
  for (const p of tree) {
    const st = statOf(p);
    // fields after the command: state(0) ppid(1) … utime(11) stime(12) cutime(13) cstime(14)
    if (st) ticks += st[11] + st[12] + st[13] + st[14];
  }
  return ticks / HZ;
}

/** Runs `script` in bash; resolves with wall ms and its children's user+sys seconds. */
export function timedShell(script: string): Promise<{ ms: number; cpu: number }> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const p = spawn('bash', ['-c', `TIMEFORMAT='%U %S'; time ( ${script} )`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    p.on('close', (code) => {
      const m = /([\d.]+) ([\d.]+)\s*$/.exec(err);
      if (code !== 0 || !m) return reject(new Error(`[bench] ${script} failed (exit ${code}): ${err.trim()}`));
      resolve({ ms: Date.now() - t0, cpu: Number(m[1]) + Number(m[2]) });
    });
  });
}

/** Runs fn; its wall ms and this process tree's CPU seconds meanwhile. */
export async function measured<T>(fn: () => Promise<T>): Promise<{ ms: number; cpu: number; value: T }> {
  const c0 = treeCpuSeconds();
  const t0 = Date.now();
  const value = await fn();
  return { ms: Date.now() - t0, cpu: treeCpuSeconds() - c0, value };
}

/** user+sys seconds of one thread (the main thread: tid = pid) */
export function threadCpuSeconds(pid = process.pid, tid = pid): number {
  try {
    const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ').map(Number);
    return (f[11] + f[12]) / HZ;
  } catch {
    return 0;
  }
}
