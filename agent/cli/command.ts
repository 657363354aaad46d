/**
 * @layer entry
 * What every agent subcommand shares: SIGTERM/SIGINT turned into an AbortSignal (so the engine's
 * clean-up — the backup's watchdog ends the libvirt job, the VM is never left paused — runs
 * before exit), a failure as one line and an exit code, and the SENDENSE_DEBUG log.
 */
import { setMaxListeners } from 'node:events';
import { UsageError } from './args.ts';

/** SENDENSE_DEBUG=1: what the engine does, with milliseconds since the process started. */
export function debugLog(): (m: string) => void {
  if (!process.env.SENDENSE_DEBUG) return () => {};
  return (m) => process.stderr.write(`[agent +${Math.round(performance.now())}ms] ${m}\n`);
}

/** Runs a command with SIGTERM/SIGINT wired to an AbortSignal; failures become one line + exit 1 (2 for usage). */
export async function withSignals(body: (signal: AbortSignal) => Promise<number>, json = false): Promise<number> {
  const ac = new AbortController();
  // every in-flight read and remote call listens on it
  setMaxListeners(0, ac.signal);
  const onSig = (sig: NodeJS.Signals) => ac.abort(new Error(`interrupted by ${sig}`));
  process.once('SIGTERM', onSig);
  process.once('SIGINT', onSig);
  try {
    return await body(ac.signal);
  } catch (e) {
    const msg = oneLine(e);
    if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: msg })}\n`);
    process.stderr.write(`sendense-agent: ${msg}\n`);
    return e instanceof UsageError ? 2 : 1;
  } finally {
    process.off('SIGTERM', onSig);
    process.off('SIGINT', onSig);
  }
}

function oneLine(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.replace(/\s+/g, ' ').trim();
}
