/**
 * @layer adapter
 * Process liveness as this sandbox (and a host whose PID 1 reaps slowly) needs it: a killed
 * process can linger as a zombie for seconds. Alive means /proc/PID/stat exists and its state is
 * neither Z nor X.
 */
import { readFileSync } from 'node:fs';

export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
