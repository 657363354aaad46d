/**
 * Reading SENDENSE_TRACE_RUN lines (`[run +Tms Dms] program args…`, agent/system/run.ts) back:
 * how many programs a run started and commands it sent to virsh sessions, per program and virsh
 * subcommand.
 */

export interface TraceCounts {
  /** lines: programs started plus session commands */
  total: number;
  /** programs started (session commands and session starts excluded) */
  processes: number;
  /** 'virsh dominfo' → 3, 'qemu-img' → 1 … */
  by: Map<string, number>;
  /** 'virsh dominfo ×3, …' (most frequent first) */
  summary: string;
}

export function traceCounts(stderr: string): TraceCounts {
  const by = new Map<string, number>();
  let total = 0;
  let processes = 0;
  for (const m of stderr.matchAll(/^\[run \+\d+ms \d+ms\] (\S+)(.*)$/gm)) {
    total++;
    let key = m[1];
    if (key === 'virsh') {
      // virsh -q -c URI SUBCOMMAND … (a process), virsh (session) SUBCOMMAND … (a session's command)
      const words = m[2].trim().split(/\s+/).filter((w, i, a) => !w.startsWith('-') && a[i - 1] !== '-c');
      key = words[0] === '(session)' ? `virsh (session) ${words[1] ?? '?'}` : m[2].includes('(session start)') ? 'virsh (session start)' : `virsh ${words[0] ?? '?'}`;
    }
    by.set(key, (by.get(key) ?? 0) + 1);
    if (!key.startsWith('virsh (session)') && !m[2].includes('(session start)')) processes++;
  }
  const summary = [...by].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ×${n}`).join(', ');
  return { total, processes, by, summary };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
