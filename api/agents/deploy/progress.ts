/**
 * @layer logic
 * The CLI's picture of a run: one line per host with a bar, its step and, once done, its outcome
 * (done / already current / removed / ok / FAILED code: why), folded from the run's events.
 */
import type { DeployEvent, DeployStep, HostRow } from './report.ts';

export interface HostLine {
  host: string;
  step: DeployStep;
  fraction: number;
  message?: string;
  row?: HostRow;
}

export function foldEvent(lines: Map<string, HostLine>, e: DeployEvent): void {
  if (e.type === 'host') {
    const prev = lines.get(e.host);
    if (prev?.row) return;
    lines.set(e.host, { host: e.host, step: e.step, fraction: e.fraction, message: e.message ?? (prev?.step === e.step ? prev.message : undefined) });
  } else if (e.type === 'row') {
    lines.set(e.row.name, { host: e.row.name, step: 'finished', fraction: 1, row: e.row });
  }
}

const OUTCOME: Record<HostRow['outcome'], string> = { done: 'done', current: 'already current', removed: 'removed', ok: 'ok', failed: 'FAILED' };

export function renderLine(l: HostLine, width = 24, nameWidth = 16): string {
  const n = Math.round(Math.max(0, Math.min(1, l.fraction)) * width);
  const bar = `[${'#'.repeat(n)}${'.'.repeat(width - n)}]`;
  const name = l.host.length > nameWidth ? `${l.host.slice(0, nameWidth - 1)}…` : l.host.padEnd(nameWidth);
  if (l.row) {
    const r = l.row;
    return `${name} ${bar} ${OUTCOME[r.outcome]}${r.code ? ` ${r.code}` : ''}: ${r.message.replace(/^\[deploy\] /, '')}`;
  }
  return `${name} ${bar} ${l.step}${l.message ? ` ${l.message}` : ''}`;
}
