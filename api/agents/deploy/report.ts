/**
 * @layer logic
 * What a deployment run reports: one row per host (done / already current / removed / failed and
 * why), and the events a run emits while it goes (a step and a fraction per host), which the CLI
 * draws as a bar per host and the API streams as SSE.
 */
import type { DeployErrorCode, DeployErrorDetails } from './errors.ts';
import type { AgentHealthReport } from './port.ts';

export type DeployOperation = 'deploy' | 'upgrade' | 'remove' | 'status';

export type HostOutcome = 'done' | 'current' | 'removed' | 'failed' | 'ok';

export type DeployStep =
  | 'queued' | 'waiting' | 'connect' | 'inspect' | 'upload' | 'install' | 'configure' | 'keys' | 'start' | 'health' | 'remove' | 'finished';

export interface HostRow {
  name: string;
  hostId?: string;
  address: string;
  clusterId?: string;
  outcome: HostOutcome;
  /** for failed rows */
  code?: DeployErrorCode;
  message: string;
  details?: DeployErrorDetails;
  os?: string;
  /** the version before and after (null: not installed) */
  fromVersion?: string | null;
  version?: string | null;
  /** what was changed on the host (empty on an idempotent re-run that found everything in place) */
  changed: string[];
  health?: AgentHealthReport & { clockOffsetMs: number };
  durationMs: number;
}

export type DeployEvent =
  | { type: 'host'; host: string; step: DeployStep; fraction: number; message?: string }
  | { type: 'row'; row: HostRow }
  | { type: 'done'; rows: HostRow[] };

/** Rows by outcome, for a one-line summary. */
export function summarize(rows: readonly HostRow[]): string {
  const n = (o: HostOutcome) => rows.filter((r) => r.outcome === o).length;
  const parts = [['done', n('done')], ['already current', n('current')], ['removed', n('removed')], ['ok', n('ok')], ['failed', n('failed')]] as const;
  return parts.filter(([, k]) => k > 0).map(([w, k]) => `${k} ${w}`).join(', ') || 'no hosts';
}
