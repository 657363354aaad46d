/**
 * Process liveness as this sandbox needs it: PID 1 reaps slowly, so a killed process can linger
 * as a zombie for seconds. Alive means /proc/PID/stat exists and its state is not Z.
 */
import { readFileSync } from 'node:fs';
import { isAlive } from '../../agent/system/proc.ts';

export { isAlive };

export function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

export function readPidFile(file: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000, stepMs = 50): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`[lab] timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export async function killAndWait(pid: number, timeoutMs = 5000): Promise<void> {
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  try {
    await waitFor(`pid ${pid} to exit`, () => !isAlive(pid), timeoutMs);
  } catch {
    try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    await waitFor(`pid ${pid} to die`, () => !isAlive(pid), 3000).catch(() => {});
  }
}
