/**
 * CPU profiles of one stretch of the benchmark (node:inspector, V8's sampling profiler): `profiled`
 * runs fn with the profiler on and writes DIR/NAME.cpuprofile (open it in Chrome DevTools), and
 * `topEntries` lists the functions with the most self time — the "top entries" of a profile.
 */
import { Session } from 'node:inspector/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }
interface Profile { nodes: ProfileNode[]; startTime: number; endTime: number; samples?: number[] }

export async function profiled<T>(dir: string | undefined, name: string, fn: () => Promise<T>): Promise<{ value: T; top?: string[] }> {
  if (!dir) return { value: await fn() };
  const s = new Session();
  s.connect();
  await s.post('Profiler.enable');
  await s.post('Profiler.setSamplingInterval', { interval: 500 });
  await s.post('Profiler.start');
  let value: T;
  try {
    value = await fn();
  } finally {
    const { profile } = (await s.post('Profiler.stop')) as unknown as { profile: Profile };
    s.disconnect();
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
    profiledTop = topEntries(profile);
  }
  return { value, top: profiledTop };
}
let profiledTop: string[] = [];

/** The `n` functions with the most self time, as `12.3 %  name (file:line)`. */
export function topEntries(p: Profile, n = 15): string[] {
  const self = new Map<string, number>();
  let total = 0;
  for (const node of p.nodes) {
    const hits = node.hitCount ?? 0;
    total += hits;
    const f = node.callFrame;
    const file = f.url ? `${f.url.replace(/^file:\/\//, '').replace(/^.*\/main\//, '')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName || '(anonymous)'}${file ? ` (${file})` : ''}`;
    self.set(key, (self.get(key) ?? 0) + hits);
  }
  return [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([k, v]) => `${((100 * v) / Math.max(1, total)).toFixed(1).padStart(5)} %  ${k}`);
}
